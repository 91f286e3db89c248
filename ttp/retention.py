"""Retention: delete the batches, link jobs and release files that are past the periods of the policies in
force, audited with counts, in an order a crash cannot leave inconsistent.

The rows go (or a release row is marked removed) in one audited transaction; only after it commits are the
folders renamed to `.trash-<pid>-<id>` and removed. A process killed between the two leaves folders whose
rows are gone or marked: the next `ttp retention apply` (and any ingest or link run, for batches and jobs)
removes them. Deleting a batch's row destroys its wrapped data keys, so a copy of its sealed files (a
filesystem snapshot, a copied folder) opens with nothing the installation holds (crypto-shredding).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, select, text, update

from policies.policy import load_policy
from policies.retention import describe, expires

from . import auditlog, db, exporting
from .app import Acting, App
from .staging import clean

TRASH = ".trash-"


@dataclass
class Periods:
    """The periods in force, each with the policy (name and version) that sets it."""

    sources: dict[str, tuple[str, str]] = field(default_factory=dict)
    jobs: tuple[str, str] | None = None
    releases: dict[str, tuple[str, str]] = field(default_factory=dict)  # per policy name

    def as_json(self) -> dict:
        return {"sources": {s: {"period": p, "policy": w} for s, (p, w) in sorted(self.sources.items())},
                "jobs": None if self.jobs is None else {"period": self.jobs[0], "policy": self.jobs[1]},
                "releases": {n: {"period": p, "policy": w} for n, (p, w) in sorted(self.releases.items())}}


@dataclass
class Plan:
    """What is past its period on a date: the batches, the jobs (past their own period or made from a batch
    that goes), and the releases whose files go."""

    as_of: dt.datetime
    periods: Periods
    batches: list[db.Batch] = field(default_factory=list)
    jobs: list[tuple[db.Job, str]] = field(default_factory=list)
    releases: list[db.Release] = field(default_factory=list)
    recipient_releases: list[db.RecipientRelease] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"batches": len(self.batches), "records": sum(b.accepted for b in self.batches),
                "quarantined_rows": sum(b.quarantined for b in self.batches), "jobs": len(self.jobs),
                "release_files": len(self.releases) + len(self.recipient_releases)}


def periods(session) -> Periods:
    """The `[retention]` periods of the newest version in force of every policy. A source named by several
    policies keeps its batches for the longest of their periods (each project may use them that long), as do
    link jobs; release files follow their own policy. What no policy names is kept."""
    found = Periods()
    reference = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

    def longer(old: tuple[str, str] | None, new: tuple[str, str]) -> tuple[str, str]:
        return new if old is None or expires(reference, new[0]) > expires(reference, old[0]) else old

    names = session.scalars(select(db.Policy.name).where(db.Policy.status == "active").distinct()).all()
    for name in sorted(names):
        row = exporting.get_policy(session, name)
        retention = load_policy(row.text, row.name).retention
        if retention is None:
            continue
        which = f"{row.name} v{row.version}"
        for source, period in retention.sources.items():
            found.sources[source] = longer(found.sources.get(source), (period, which))
        if retention.jobs is not None:
            found.jobs = longer(found.jobs, (retention.jobs, which))
        if retention.releases is not None:
            found.releases[row.name] = (retention.releases, which)
    return found


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite gives back naive UTC


def plan(session, as_of: dt.datetime) -> Plan:
    """What `apply` deletes on `as_of` (nothing is changed)."""
    found = periods(session)
    result = Plan(as_of=as_of, periods=found)
    for batch in session.scalars(select(db.Batch).order_by(db.Batch.created_at, db.Batch.id)):
        period = found.sources.get(batch.source)
        if period is not None and expires(_utc(batch.created_at), period[0]) <= as_of:
            result.batches.append(batch)
    going = {b.id for b in result.batches}
    kept = set(session.scalars(select(db.Batch.id))) - going
    for job in session.scalars(select(db.Job).order_by(db.Job.created_at, db.Job.id)):
        if any(b not in kept for b in job.batch_ids):
            result.jobs.append((job, "batch"))
        elif found.jobs is not None and expires(_utc(job.created_at), found.jobs[0]) <= as_of:
            result.jobs.append((job, "period"))
    for release in session.scalars(select(db.Release).where(db.Release.removed_at.is_(None))
                                   .order_by(db.Release.created_at, db.Release.id)):
        period = found.releases.get(release.policy_name)
        if period is not None and expires(_utc(release.created_at), period[0]) <= as_of:
            result.releases.append(release)
    for routed in session.scalars(select(db.RecipientRelease).where(db.RecipientRelease.removed_at.is_(None))
                                  .order_by(db.RecipientRelease.created_at, db.RecipientRelease.id)):
        name = _policy_of(session, routed)
        period = found.releases.get(name) if name else None
        if period is not None and expires(_utc(routed.created_at), period[0]) <= as_of:
            result.recipient_releases.append(routed)
    return result


def _policy_of(session, routed: db.RecipientRelease) -> str | None:
    """The policy a recipient release follows: its request's (a delivery), or its delivery's (a table back)."""
    while routed.request_id is None and routed.derived_from is not None:
        parent = session.get(db.RecipientRelease, routed.derived_from)
        if parent is None:
            return None
        routed = parent
    request = session.get(db.Request, routed.request_id) if routed.request_id else None
    return request.policy_name if request is not None else None


def left_over(act: Acting) -> dict[str, int]:
    """Finish what a killed apply left: trash folders, folders of rows that are gone (batches, jobs) and the
    files of releases marked removed. The counts, for the event (none when nothing was left)."""
    settings = act.app.settings
    removed = 0
    for parent in ("batches", "jobs", "releases"):
        folder = settings.data_dir / parent
        if folder.is_dir():
            for trash in folder.glob(f"{TRASH}*"):
                shutil.rmtree(trash, ignore_errors=True)
                removed += 1
    for parent, column in (("batches", db.Batch.id), ("jobs", db.Job.id)):
        def known(column=column) -> list[str]:
            return list(act.session.scalars(select(column)))

        done = clean(settings.data_dir / parent, known)
        removed += done.removed_without_row + done.removed_temporary
    removed_ids = [*act.session.scalars(select(db.Release.id).where(db.Release.removed_at.is_not(None))),
                   *act.session.scalars(select(db.RecipientRelease.id)
                                        .where(db.RecipientRelease.removed_at.is_not(None)))]
    for release_id in removed_ids:
        if settings.release_dir(release_id).exists():
            _remove(settings.release_dir(release_id))
            removed += 1
    return {"left_over_removed": removed} if removed else {}


def apply(act: Acting, as_of: dt.datetime, dry_run: bool) -> tuple[Plan, list[Path]]:
    """Delete what is past its period in the acting transaction, one event per deleted object (counts, never
    values) beside the acting one; the folders to remove once it commits."""
    session, settings = act.session, act.app.settings
    if not dry_run:
        act.counts.update(left_over(act))
    found = plan(session, as_of)
    act.counts.update(found.counts())
    act.details.update({"as_of": as_of.isoformat(), "dry_run": dry_run, "periods": found.periods.as_json()})
    if dry_run:
        return found, []
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete=ON"))  # freed pages are zeroed: the wrapped keys go too
    folders: list[Path] = []
    job_ids = [job.id for job, _ in found.jobs]
    if job_ids:
        session.execute(update(db.RecipientRelease).where(db.RecipientRelease.job_id.in_(job_ids))
                        .values(job_id=None))
    for job, reason in found.jobs:
        _event(act, {"job": job.id}, {"records": job.records, "persons": job.persons, "links": job.links},
               {"deleted": "job", "reason": "made from a batch past its period" if reason == "batch"
                else f"past {describe(found.periods.jobs[0])} ({found.periods.jobs[1]})" if found.periods.jobs
                else "past its period"})
        session.delete(job)
        folders.append(settings.job_dir(job.id))
    for batch in found.batches:
        period, which = found.periods.sources[batch.source]
        files = session.scalars(select(db.BatchFile).where(db.BatchFile.batch_id == batch.id)).all()
        _event(act, {"batch": batch.id, "source": batch.source},
               {"records": batch.accepted, "quarantined_rows": batch.quarantined, "export_files": len(files)},
               {"deleted": "batch", "reason": f"past {describe(period)} ({which})",
                "wrapped_keys": [batch.payload_key_id, batch.quarantine_key_id]})
        session.execute(update(db.Delivery).where(db.Delivery.batch_id == batch.id).values(batch_id=None))
        session.execute(delete(db.BatchFile).where(db.BatchFile.batch_id == batch.id))
        session.flush()
        session.delete(batch)
        folders.append(settings.batch_dir(batch.id))
    for release in found.releases:
        period, which = found.periods.releases[release.policy_name]
        _event(act, {"release": release.id, "request": release.request_id}, {"files": len(release.files)},
               {"deleted": "release files", "reason": f"past {describe(period)} ({which})"})
        release.removed_at = as_of
        folders.append(settings.release_dir(release.id))
    for routed in found.recipient_releases:
        period, which = found.periods.releases[str(_policy_of(session, routed))]
        what = "delivery files" if routed.kind == "delivery" else "imported table files"
        _event(act, {"release": routed.id, "recipient": routed.recipient}, {"files": len(routed.files)},
               {"deleted": what, "reason": f"past {describe(period)} ({which})"})
        routed.removed_at = as_of
        folders.append(settings.release_dir(routed.id))
    session.flush()
    return found, folders


def _event(act: Acting, objects: dict, counts: dict, details: dict) -> None:
    auditlog.append(act.session, actor=act.user.name, role=act.user.role, action=act.action, objects=objects,
                    counts=counts, details=details)


def remove_folders(folders: list[Path]) -> None:
    """After the commit: each folder renamed aside, then removed (a crash leaves it for `left_over`)."""
    for folder in folders:
        _remove(folder)


def _remove(folder: Path) -> None:
    if not folder.exists():
        return
    trash = folder.with_name(f"{TRASH}{os.getpid()}-{folder.name}")
    os.replace(folder, trash)
    shutil.rmtree(trash)


def run(app: App, as_of: dt.datetime | None, dry_run: bool) -> dict:
    """The retention.apply action: audited, then the folders go; the document the CLI prints."""
    moment = as_of or dt.datetime.now(dt.UTC)
    with app.acting("retention.apply", {}) as act:
        found, folders = apply(act, moment, dry_run)
        doc = {"as_of": moment.isoformat(), "dry_run": dry_run, "counts": dict(act.counts),
               "periods": found.periods.as_json(),
               "batches": [{"batch_id": b.id, "source": b.source, "ingested": _utc(b.created_at).isoformat()}
                           for b in found.batches],
               "jobs": [{"job_id": j.id, "reason": r, "made": _utc(j.created_at).isoformat()} for j, r in found.jobs],
               "releases": [{"release_id": r.id, "policy": r.policy_name, "made": _utc(r.created_at).isoformat()}
                            for r in found.releases],
               "recipient_releases": [{"release_id": r.id, "kind": r.kind, "recipient": r.recipient,
                                       "made": _utc(r.created_at).isoformat()} for r in found.recipient_releases]}
    remove_folders(folders)
    return doc
