"""The documents of the workflows, for the CLI and the web alike: each takes an acting command and returns
plain, value-free data (no SQL in the adapters)."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from policies.policy import load_policy

from . import db, exporting, linkjob, review
from .app import Acting
from .auditing import show as audit_show
from .errors import NotFound, TTPError

# --- policies and the request form --------------------------------------------------------------------------


def policies(act: Acting) -> list[dict]:
    """The newest version of every policy, with what a request may choose from it."""
    names = act.session.scalars(select(db.Policy.name).distinct().order_by(db.Policy.name)).all()
    return [policy_doc(exporting.get_policy(act.session, n)) for n in names]


def policy_doc(row: db.Policy) -> dict:
    policy = load_policy(row.text, row.name)
    dims = []
    for name, d in policy.dimensions.items():
        choices = d.categories or d.band_labels or []
        dims.append({"name": name, "label": d.label or name, "filterable": bool(d.filter and choices),
                     "groupable": d.filter, "categories": list(choices), "column": d.column})
    return {"name": row.name, "version": row.version, "description": policy.description,
            "populations": [list(p) for p in policy.populations], "dimensions": dims,
            "measures": [{"name": n, "label": m.label or n, "kind": m.kind} for n, m in policy.measures.items()],
            "max_dimensions": policy.disclosure.max_dimensions, "min_cell_count": policy.disclosure.min_cell_count}


def get_policy(act: Acting, name: str) -> dict:
    try:
        return policy_doc(exporting.get_policy(act.session, name))
    except TTPError as exc:
        raise NotFound(str(exc)) from None


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=True)  # a JSON string with \u escapes is a TOML basic string


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(_toml_string(v) for v in values) + "]"


def request_text(policy: str, purpose: str, population: list[str], dimensions: list[str],
                 measures: list[str], filters: dict[str, list[str]],
                 groups: dict[str, dict[str, list[str]]] | None = None, pool: dict[str, int] | None = None) -> str:
    """The TOML text of a request built from the form's (or the API's) choices: what a request file says,
    filters, comparison groups and pooled school years included."""
    lines = [f"policy = {_toml_string(policy)}", f"purpose = {_toml_string(purpose)}",
             f"population = {_toml_list(population)}", f"dimensions = {_toml_list(dimensions)}",
             f"measures = {_toml_list(measures)}"]
    chosen = {k: v for k, v in filters.items() if v}
    if chosen:
        lines += ["", "[filters]"]
        lines.extend(f"{_toml_string(k)} = {_toml_list(v)}" for k, v in chosen.items())
    for name, group in (groups or {}).items():
        lines += ["", f"[groups.{_toml_string(name)}]"]  # an empty group is the whole population
        lines.extend(f"{_toml_string(k)} = {_toml_list(v)}" for k, v in group.items() if v)
    if pool:
        lines += ["", "[pool]"]
        lines.extend(f"{_toml_string(k)} = {int(v)}" for k, v in pool.items())
    return "\n".join(lines) + "\n"


# --- requests ----------------------------------------------------------------------------------------------


def preview(act: Acting, text: str) -> dict:
    try:
        return exporting.preview_check(act, text)
    except TTPError as exc:
        return {"ok": False, "problems": [str(exc)]}


def submit(act: Acting, text: str) -> dict:
    row = exporting.submit_text(act, text)
    return exporting.show_request(act, row.id)


def show_request(act: Acting, request_id: str) -> dict:
    if act.session.get(db.Request, request_id) is None:
        raise NotFound(f"unknown request {request_id!r}")
    try:
        return exporting.show_request(act, request_id)
    except TTPError as exc:  # another researcher's request: as if it did not exist
        raise NotFound(str(exc)) from None


def queue(act: Acting) -> list[dict]:
    """Requests waiting for a decision, each with its policy and differencing check."""
    rows = act.session.scalars(select(db.Request).where(db.Request.status.in_(("submitted", "checked")))
                               .order_by(db.Request.created_at)).all()
    out = []
    for row in rows:
        doc = exporting.show_request(act, row.id)
        doc["own"] = row.requester == act.user.name
        out.append(doc)
    return out


def suppression_preview(act: Acting, request_id: str) -> dict:
    """Which cells disclosure control would suppress if the request were released now, and why."""
    row = act.session.get(db.Request, request_id)
    if row is None:
        raise NotFound(f"unknown request {request_id!r}")
    if row.job_id is None:
        return {"available": False, "reason": "no link job covers the request's population yet"}
    try:
        # the export layer's own computation (the same as a release makes), without writing anything
        _, _, _, protected = exporting.protected_table(act, row)
    except TTPError as exc:
        return {"available": False, "reason": str(exc)}
    return {"available": True, "cells": int(protected.suppressed.size),
            "suppressed": int(protected.suppressed.sum()), "suppressions": protected.suppressions(),
            "refusal": protected.refusal, "constrained_by": protected.constrained_by}


def decide(act: Acting, request_id: str, decision: str, reason: str) -> dict:
    if act.session.get(db.Request, request_id) is None:
        raise NotFound(f"unknown request {request_id!r}")
    if decision not in ("approve", "deny"):
        raise TTPError("a decision is approve or deny")
    if decision == "deny" and not reason.strip():
        raise TTPError("a denial needs a reason")
    row = exporting.decide_request(act, request_id, decision, reason)
    return {"request_id": row.id, "status": row.status, "decided_by": row.decided_by}


def approved(act: Acting) -> list[dict]:
    rows = act.session.scalars(select(db.Request).where(db.Request.status == "approved")
                               .order_by(db.Request.updated_at)).all()
    return [exporting.show_request(act, r.id) for r in rows]


def release(act: Acting, request_id: str, prepared: exporting.PreparedRelease | None = None) -> dict:
    """Make the release of an approved request (stored under the data directory, as the CLI does)."""
    if act.session.get(db.Request, request_id) is None:
        raise NotFound(f"unknown request {request_id!r}")
    return exporting.make_release(act, request_id, None, prepared)


# --- releases ----------------------------------------------------------------------------------------------


def _release(act: Acting, release_id: str) -> tuple[db.Release, db.Request]:
    rel = act.session.get(db.Release, release_id)
    if rel is None:
        raise NotFound(f"unknown release {release_id!r}")
    req = act.session.get(db.Request, rel.request_id)
    if req is None or (act.user.role == "researcher" and req.requester != act.user.name):
        raise NotFound(f"unknown release {release_id!r}")
    act.objects.update({"release": rel.id, "request": req.id})
    return rel, req


def release_doc(act: Acting, release_id: str) -> dict:
    rel, req = _release(act, release_id)
    stored = act.app.settings.release_dir(rel.id) / "release.json"
    metadata = json.loads(stored.read_text(encoding="utf-8"))["metadata"] if stored.exists() else {}
    folder = act.app.settings.release_dir(rel.id)
    files = [{"name": n, "sha256": h, "size": (folder / n).stat().st_size if (folder / n).exists() else None}
             for n, h in sorted(rel.files.items())]
    return {"release_id": rel.id, "request_id": req.id, "requester": req.requester, "policy": rel.policy_name,
            "policy_version": rel.policy_version, "job_id": rel.job_id, "created_by": rel.created_by,
            "created_at": rel.created_at.isoformat(), "files": files, "metadata": metadata}


def release_file(act: Acting, release_id: str, name: str) -> Path:
    rel, _ = _release(act, release_id)
    if name not in rel.files:  # only the release's own files, by their recorded names
        raise NotFound(f"release {release_id} has no file {name!r}")
    path = act.app.settings.release_dir(rel.id) / name
    if rel.removed_at is not None:
        raise NotFound(f"release {release_id}: its files were removed by retention on {exporting.removed_on(rel)}")
    if not path.is_file():
        raise NotFound(f"release {release_id}: file {name!r} is missing from the data directory")
    act.details["file"] = name
    act.details["file_sha256"] = rel.files[name]
    return path


def my_releases(act: Acting) -> dict[str, str]:
    """request id -> release id, for the requests the user may see."""
    query = select(db.Release.request_id, db.Release.id).join(db.Request, db.Request.id == db.Release.request_id)
    if act.user.role == "researcher":
        query = query.where(db.Request.requester == act.user.name)
    return {r: rel for r, rel in act.session.execute(query)}


# --- audit -------------------------------------------------------------------------------------------------

AUDIT_FILTERS = ("actor", "role", "action", "object", "since", "until")


def audit_events(act: Acting, filters: dict[str, str | None], limit: int) -> dict:
    limit = max(1, min(int(limit), 1000))
    events = audit_show(act.session, filters.get("actor"), filters.get("role"), filters.get("action"),
                        filters.get("object"), filters.get("since"), filters.get("until"), limit)
    total = act.session.scalar(select(func.count()).select_from(db.AuditEvent))
    act.counts["events"] = len(events)
    return {"events": events, "total": int(total or 0), "limit": limit}


def latest_checkpoint(act: Acting) -> dict:
    row = act.session.scalars(select(db.AuditCheckpoint).order_by(db.AuditCheckpoint.id.desc()).limit(1)).first()
    if row is None:
        return {"size": 0, "root": None, "text": None, "created_at": None}
    return {"size": int(row.size), "root": row.root, "text": row.text, "created_at": row.created_at.isoformat()}


def audit_export(act: Acting) -> bytes:
    from .auditing import export

    with tempfile.TemporaryDirectory(prefix="ttp-web-audit-") as tmp:
        out = Path(tmp) / "audit.json"
        act.counts["events"] = export(act.session, act.app, out)
        return out.read_bytes()


# --- operator: batches, jobs, review ------------------------------------------------------------------------


def _batch_doc(b: db.Batch) -> dict:
    return {"batch_id": b.id, "source": b.source, "sector": b.sector, "attach_to": b.attach_to,
            "school_year": b.school_year, "rows_read": b.rows_read, "accepted": b.accepted,
            "quarantined": b.quarantined, "key_id": b.key_id, "key_version": b.key_version,
            "fields_dropped": b.fields_dropped, "created_by": b.created_by, "created_at": b.created_at.isoformat(),
            "superseded_by": b.superseded_by}


def batch_summary(act: Acting, batch_id: str) -> dict:
    """One batch with its files (no quarantine: that needs the keystore)."""
    row = act.session.get(db.Batch, batch_id)
    if row is None:
        raise NotFound(f"unknown batch {batch_id!r}: `ttp batches list` shows them")
    doc = _batch_doc(row)
    doc["files"] = [{"name": f.name, "sha256": f.sha256, "size": f.size}
                    for f in act.session.scalars(select(db.BatchFile).where(db.BatchFile.batch_id == batch_id))]
    return doc


def users(act: Acting) -> list[dict]:
    """Every user with their role (and a role waiting for approval)."""
    return [{"name": u.name, "role": u.role, "created_at": u.created_at.isoformat()}
            | ({"pending_role": u.pending_role} if u.pending_role else {})
            for u in act.session.scalars(select(db.User).order_by(db.User.name))]


def policy_versions(act: Acting) -> list[dict]:
    """Every version of every policy, with its status (pending, active, rejected)."""
    return [{"name": p.name, "version": p.version, "sha256": p.sha256, "added_by": p.added_by,
             "added_at": p.added_at.isoformat(), "status": p.status, "decided_by": p.decided_by}
            for p in act.session.scalars(select(db.Policy).order_by(db.Policy.name, db.Policy.version))]


def batches(act: Acting) -> list[dict]:
    return [_batch_doc(b) for b in act.session.scalars(select(db.Batch).order_by(db.Batch.created_at))]


def batch(act: Acting, batch_id: str) -> dict:
    from .quarantine import quarantined_rows

    doc = batch_summary(act, batch_id)
    row = act.session.get(db.Batch, batch_id)
    assert row is not None  # batch_summary refused an unknown batch
    reasons: Counter[str] = Counter()
    if row.quarantined:
        for rejected in quarantined_rows(act, batch_id):  # reasons name field and rule, never the value
            reasons.update(rejected["reasons"])
    doc["quarantine_reasons"] = [{"reason": r, "rows": n} for r, n in reasons.most_common()]
    act.counts["quarantined"] = row.quarantined
    return doc


def _job_doc(j: db.Job) -> dict:
    return {"job_id": j.id, "name": j.name, "sources": j.sources, "records": j.records, "persons": j.persons,
            "links": j.links, "reviews": j.reviews, "key_version": j.key_version, "created_by": j.created_by,
            "created_at": j.created_at.isoformat(), "by_source_pair": (j.summary or {}).get("by_source_pair", {})}


def jobs(act: Acting) -> list[dict]:
    return [_job_doc(j) for j in act.session.scalars(select(db.Job).order_by(db.Job.created_at))]


def _job(act: Acting, job_id: str) -> db.Job:
    job = act.session.get(db.Job, job_id)
    if job is None:
        raise NotFound(f"unknown job {job_id!r}")
    act.objects["job"] = job.id
    return job


def job(act: Acting, job_id: str) -> dict:
    """A job, with the settings it ran with (None: made before jobs kept them) and which differ from the defaults."""
    from linkage.settings_file import changed_settings, settings_dict

    row = _job(act, job_id)
    used = linkjob.job_settings(act.app.settings, row)
    return {**_job_doc(row), "settings": settings_dict(used) if used else None,
            "settings_changed": changed_settings(used) if used else None}


def job_report_html(act: Acting, job_id: str) -> str:
    from linkage.report import render_html

    job_row = _job(act, job_id)
    path = act.app.settings.job_dir(job_row.id) / linkjob.REPORT
    if not path.exists():
        raise NotFound(f"job {job_id} has no report")
    return render_html(json.loads(path.read_text(encoding="utf-8")))


def review_queue(act: Acting, job_id: str) -> dict:
    _job(act, job_id)
    pairs = review.review_pairs(act, job_id)
    for p in pairs:
        p.pop("_key", None)
    patterns = Counter(p["pattern"] for p in pairs)
    return {"job_id": job_id, "pairs": pairs,
            "patterns": [{"pattern": k, "pairs": n} for k, n in sorted(patterns.items(), key=lambda kv: -kv[1])],
            "open": sum(1 for p in pairs if p["decision"] is None)}


def review_decide(act: Acting, job_id: str, accepts: list[int], rejects: list[int]) -> dict:
    _job(act, job_id)
    pairs = review.review_pairs(act, job_id)
    counts = review.decide(act, job_id, pairs, accepts, rejects)
    act.counts.update(counts)
    return counts
