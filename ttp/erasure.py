"""Erase one child everywhere (features, payload, quarantine, person maps, links) and keep its objection.

The child's identifiers come from a file or a prompt, live only inside this call, and are turned into the
keyed features ingest would make of them (under each linkage key version and each suppliers' secret version
the batches were made with); records match by the rule of `linkage.objection`. All records of the person in
the newest link job that holds a match go with them, in every source.

Kill-safety: every rewritten file is written into `erasures/.tmp-<pid>-<erasure id>/` first; the database
changes (new wrapped data keys, counts, the erasure, the register, the audit event) commit in one
transaction, and only then are the files moved over the old ones (one atomic rename each). A command killed
before the commit leaves the old state (its folder is removed later); one killed after it leaves a folder
that the next acting command rolls forward (`settle`): the installation is before or after, never between.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import delete, event, or_, select
from stdnum.exceptions import ValidationError
from stdnum.nl import bsn as stdnum_bsn
from stdnum.nl import onderwijsnummer as stdnum_onr

from keys import seal
from linkage import normalise as nz
from linkage.objection import digests, matches, number_matches
from linkage.pseudonymise import make_features
from linkage.rekey import rekey_features

from . import db
from .app import Acting
from .errors import TTPError
from .ids import new_id
from .ingest import FEATURES, PAYLOAD, QUARANTINE, open_payload, open_quarantine, payload_aad
from .linkjob import PAIRS, PERSON_MAP
from .objections import TTP_SCHEME, objection_features, register, register_keys
from .staging import PREFIX, alive

IDENTITIES = "identities.parquet"  # as ttp.suppliers names it (sealed identities of a delivery's records)
FIELDS = ("bsn", "onderwijsnummer", "family_name", "name_prefix", "given_names", "birth_date", "sex")
FOLDER = "erasures"


# --- the child's identifiers ---------------------------------------------------------------------------------


def read_identifiers(path: Path | None) -> pd.DataFrame:
    """The child as a one-row records frame, from a TOML file of `FIELDS` or, without one, from prompts.
    Values are checked as connectors check them; a bad one is one line that never repeats the value."""
    if path is not None:
        try:
            given = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise TTPError(f"{path}: cannot read the identifiers (a TOML file of {', '.join(FIELDS)}; "
                           f"{type(exc).__name__})") from None
        unknown = sorted(set(given) - set(FIELDS))
        if unknown:
            raise TTPError(f"{path}: unknown field(s) {', '.join(unknown)}; the fields are {', '.join(FIELDS)}")
        values = {k: str(given[k]).strip() for k in FIELDS if k in given}
    else:
        values = {}
        for name in FIELDS:
            try:
                values[name] = click.prompt(name.replace("_", " "), default="", show_default=False,
                                            err=True).strip()
            except (click.Abort, EOFError):
                raise TTPError("no identifiers: give --from FILE or answer the prompts") from None
    return child_record(values)


def child_record(values: dict[str, str]) -> pd.DataFrame:
    """Check and place the identifiers in a records frame as connectors deliver them."""
    row: dict[str, str | None] = {k: (values.get(k) or None) for k in FIELDS}
    if row["bsn"]:
        try:
            row["bsn"] = stdnum_bsn.validate(row["bsn"])
        except ValidationError:
            raise TTPError("the bsn is not a valid BSN (11-proef)") from None
    if row["onderwijsnummer"]:
        try:
            row["onderwijsnummer"] = stdnum_onr.validate(row["onderwijsnummer"])
        except ValidationError:
            raise TTPError("the onderwijsnummer is not a valid onderwijsnummer") from None
    if row["birth_date"]:
        try:
            row["birth_date"] = dt.date.fromisoformat(row["birth_date"]).isoformat()
        except ValueError:
            raise TTPError("the birth date is not a date YYYY-MM-DD") from None
    if row["sex"]:
        row["sex"] = row["sex"].upper()
        if row["sex"] not in ("M", "F", "X"):
            raise TTPError("sex is M, F or X")
    named = row["family_name"] and row["given_names"] and row["birth_date"]
    if not (row["bsn"] or row["onderwijsnummer"] or named):
        raise TTPError("give a bsn or onderwijsnummer, or family name, given names and birth date")
    return pd.DataFrame([{**row, "record_key": "erasure", "export_file": "", "school": ""}])


# --- keys ----------------------------------------------------------------------------------------------------


# --- finding the child ---------------------------------------------------------------------------------------


@dataclass
class Plan:
    """What an erasure removes: record ids per batch, quarantined row numbers per batch, rows per job."""

    source: str
    records: dict[str, set[str]] = field(default_factory=dict)  # batch id → record ids
    quarantined: dict[str, list[int]] = field(default_factory=dict)  # batch id → row indexes
    jobs: dict[str, dict[str, int]] = field(default_factory=dict)  # job id → person_map, links, pairs, persons
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # source → records, quarantined, ...
    releases: list[str] = field(default_factory=list)
    persons: int = 0

    def erased_ids(self) -> set[str]:
        return {r for ids in self.records.values() for r in ids}

    def summary(self) -> dict:
        total = {k: sum(c.get(k, 0) for c in self.counts.values())
                 for k in ("records", "quarantined", "person_map", "links")}
        return {"source": self.source, "by_source": self.counts, "persons": self.persons, **total,
                "jobs": sorted(self.jobs), "releases": list(self.releases)}


class ChildFeatures:
    """The child's features under each (linkage key version, suppliers' secret version) a batch was made with."""

    def __init__(self, keystore, child: pd.DataFrame, source: str, supplier_secret: tuple[int, bytes] | None):
        self.keystore, self.child, self.source, self.supplier_secret = keystore, child, source, supplier_secret
        self._made: dict[tuple[int, int | None], pd.Series] = {}

    def under(self, batch: db.Batch) -> pd.Series:
        key = (batch.key_version, batch.secret_version)
        if key not in self._made:
            secret = self.keystore.secret(batch.key_id)
            if batch.secret_version is None:
                frame = make_features(self.child, source=self.source, secret=secret, key_version=batch.key_version,
                                      bloom_filters=False, workers=1)
            else:
                frame = rekey_features(self.supplier_made(batch.secret_version), secret, batch.key_version)
            self._made[key] = frame.iloc[0]
        return self._made[key]

    def supplier_made(self, version: int) -> pd.DataFrame:
        """The child's features as a supplier makes them under the suppliers' secret `version`."""
        if self.supplier_secret is None or self.supplier_secret[0] != version:
            raise TTPError(f"records of this installation were pseudonymised by suppliers under version {version} "
                           "of their shared secret, which the TTP does not hold: give --secret FILE (the "
                           "suppliers' secret file) so the child's identifiers can be keyed as they were")
        return make_features(self.child, source=self.source, secret=self.supplier_secret[1], key_version=version,
                             bloom_filters=False, workers=1)


def plan_erasure(act: Acting, child: pd.DataFrame, source: str,
                 supplier_secret: tuple[int, bytes] | None = None) -> Plan:
    """Find every record, quarantined row, person-map entry and link of the child; nothing is changed."""
    session, settings = act.session, act.app.settings
    batches = session.scalars(select(db.Batch).order_by(db.Batch.created_at, db.Batch.id)).all()
    if not any(b.source == source or b.attach_to == source for b in batches):
        raise TTPError(f"no batch of source {source!r}: `ttp batches list` shows the sources")
    plan = Plan(source=source)
    made = ChildFeatures(act.app.keystore, child, source, supplier_secret)
    features_of: dict[str, pd.DataFrame] = {}
    for batch in batches:
        path = settings.batch_dir(batch.id) / FEATURES
        if not path.exists():
            continue
        frame = pq.read_table(path).to_pandas()
        features_of[batch.id] = frame[["record_id", "source"]]
        if len(frame) == 0:
            continue
        mine = made.under(batch)
        own = batch.source == source or batch.attach_to == source
        found = matches(frame, mine) if own else number_matches(frame, mine)
        if found.any():
            plan.records[batch.id] = set(frame.loc[found, "record_id"].astype(str))
    direct = plan.erased_ids()
    jobs = session.scalars(select(db.Job).order_by(db.Job.created_at.desc(), db.Job.id.desc())).all()
    maps = {j.id: pq.read_table(settings.job_dir(j.id) / PERSON_MAP).to_pandas() for j in jobs
            if (settings.job_dir(j.id) / PERSON_MAP).exists()}
    for job in jobs:  # the newest job that holds the child: every record of its person, in every source
        person_map = maps.get(job.id)
        if person_map is None or not direct:
            continue
        persons = set(person_map.loc[person_map["record_id"].isin(direct), "person_id"])
        if persons:
            every = set(person_map.loc[person_map["person_id"].isin(persons), "record_id"].astype(str))
            for batch_id, frame in features_of.items():
                extra = every & set(frame["record_id"].astype(str))
                if extra:
                    plan.records.setdefault(batch_id, set()).update(extra)
            plan.persons = len(persons)
            break
    erased = plan.erased_ids()
    by_id = {b.id: b for b in batches}
    for batch_id, ids in plan.records.items():
        counted = by_id[batch_id].attach_to or by_id[batch_id].source
        if by_id[batch_id].attach_to is None:  # an attached batch holds payload of the same records, not more
            _count(plan, counted, "records", len(ids))
    for batch in batches:
        rows = _quarantined_matches(act, batch, child)
        if rows:
            plan.quarantined[batch.id] = rows
            _count(plan, batch.attach_to or batch.source, "quarantined", len(rows))
    for job in jobs:
        person_map = maps.get(job.id)
        if person_map is None:
            continue
        gone = person_map["record_id"].isin(erased)
        if not gone.any():
            continue
        pairs = pq.read_table(settings.job_dir(job.id) / PAIRS).to_pandas()
        dropped = pairs["record_id_l"].isin(erased) | pairs["record_id_r"].isin(erased)
        links = int((pairs.loc[dropped, "decision"] == "link").sum()) if "decision" in pairs.columns else 0
        remaining = person_map.loc[~gone, "person_id"].nunique()
        plan.jobs[job.id] = {"person_map": int(gone.sum()), "pairs": int(dropped.sum()), "links": links,
                             "reviews": int((pairs.loc[dropped, "decision"] == "review").sum())
                             if "decision" in pairs.columns else 0,
                             "persons": int(person_map["person_id"].nunique() - remaining)}
        for src, n in person_map.loc[gone, "source"].value_counts().items():
            _count(plan, str(src), "person_map", int(n))
        if job.id == _newest(jobs, maps, erased) and "decision" in pairs.columns:
            for src, n in _links_by_source(pairs[dropped & (pairs["decision"] == "link")], person_map).items():
                _count(plan, src, "links", n)
    touched = list(plan.jobs)
    if touched:
        plan.releases = sorted(
            [r.id for r in session.scalars(select(db.Release).where(db.Release.job_id.in_(touched)))]
            + [r.id for r in session.scalars(select(db.RecipientRelease)
                                             .where(db.RecipientRelease.job_id.in_(touched)))])
    return plan


def _newest(jobs: Sequence[db.Job], maps: dict[str, pd.DataFrame], erased: set[str]) -> str | None:
    for job in jobs:
        if job.id in maps and maps[job.id]["record_id"].isin(erased).any():
            return job.id
    return None


def _links_by_source(links: pd.DataFrame, person_map: pd.DataFrame) -> dict[str, int]:
    """Links counted under the source of their left record."""
    if len(links) == 0:
        return {}
    source = dict(zip(person_map["record_id"], person_map["source"], strict=True))
    out: dict[str, int] = {}
    for rid in links["record_id_l"]:
        out[str(source.get(rid))] = out.get(str(source.get(rid)), 0) + 1
    return out


def _count(plan: Plan, source: str, what: str, n: int) -> None:
    counts = plan.counts.setdefault(source, {"records": 0, "quarantined": 0, "person_map": 0, "links": 0})
    counts[what] += n


def _quarantined_matches(act: Acting, batch: db.Batch, child: pd.DataFrame) -> list[int]:
    """Indexes of the batch's quarantined rows that hold the child: a value whose digits are its number, or a
    value that normalises to its family name together with one that is its birth date. Compared in memory,
    inside this call; a delivery's quarantine stayed at the supplier and holds no values here."""
    if batch.quarantined == 0 or batch.supplier is not None:
        return []
    rows = open_quarantine(act.app.keystore, batch, act.app.settings.batch_dir(batch.id))
    record = child.iloc[0]
    numbers = {n for n in (record["bsn"], record["onderwijsnummer"]) if n}
    family = nz.family_name(record["family_name"], record["name_prefix"]) if record["family_name"] else None
    born = record["birth_date"]
    found = []
    for index, row in enumerate(rows):
        values = [str(v) for v in (row.get("raw") or {}).values() if v is not None and str(v).strip()]
        if numbers & {re.sub(r"\D", "", v) for v in values}:
            found.append(index)
            continue
        if family is None or not born:
            continue
        names = {f.name for f in nz.family_name_many(values, [None] * len(values)) if f is not None}
        dates = {d.iso for d in map(nz.birth_date, values) if d is not None}
        if family.name in names and born in dates:
            found.append(index)
    return found


# --- erasing -------------------------------------------------------------------------------------------------


def erase(act: Acting, child: pd.DataFrame, source: str, supplier_secret: tuple[int, bytes] | None = None,
          objection: bool = True, dry_run: bool = False) -> dict:
    """The `persons.erase` action: plan, and unless `dry_run` remove and register, audited with counts only."""
    settle(act)
    plan = plan_erasure(act, child, source, supplier_secret)
    summary = plan.summary()
    act.objects["source"] = source
    act.counts.update({k: summary[k] for k in ("records", "quarantined", "person_map", "links", "persons")})
    act.details.update({"by_source": plan.counts, "dry_run": dry_run, "objection": objection,
                        "jobs": summary["jobs"], "releases": summary["releases"]})
    if dry_run:
        return summary
    erasure_id = new_id("e")
    summary["erasure_id"] = erasure_id
    act.objects["erasure"] = erasure_id
    registered = _register(act, child, source, supplier_secret, erasure_id) if objection else 0
    act.counts["registered"] = registered
    summary["registered"] = registered
    parent = act.app.settings.data_dir / FOLDER
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f"{PREFIX}{os.getpid()}-{erasure_id}"
    tmp.mkdir()
    try:
        _stage(act, plan, tmp)
        act.session.add(db.Erasure(id=erasure_id, source=source, counts={k: summary[k] for k in (
            "records", "quarantined", "person_map", "links", "persons", "registered")} | {"by_source": plan.counts},
            releases=plan.releases, jobs=sorted(plan.jobs), objection=objection, created_by=act.user.name))
        act.session.flush()
        act.record()
        _pause_for_tests("before-commit")
        _apply_on_commit(act.session, tmp, act.app.settings.data_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _register(act: Acting, child: pd.DataFrame, source: str, supplier_secret: tuple[int, bytes] | None,
              erasure_id: str) -> int:
    """Add the child's digests to the register: the TTP's scheme, and the suppliers' when their secret is given."""
    feature_key, digest_key = register_keys(act.app.keystore)
    made = [(TTP_SCHEME, objection_features(child, feature_key))]
    if supplier_secret is not None:
        version, shared = supplier_secret
        made.append((f"supplier-v{version}", make_features(child, source=source, secret=shared, key_version=version,
                                                           bloom_filters=False, workers=1)))
    added = 0
    for scheme, features in made:
        known = register(act.session, scheme)
        row = digests(features, digest_key, scheme).iloc[0]
        for kind in ("bsn", "onr", "name"):
            if row[kind] and (kind, row[kind]) not in known:
                act.session.add(db.Objection(kind=kind, scheme=scheme, digest=row[kind], erasure_id=erasure_id,
                                             created_by=act.user.name))
                added += 1
    act.session.flush()
    return added


def _stage(act: Acting, plan: Plan, tmp: Path) -> None:
    """Write every rewritten file under `tmp` (batches/<id>/…, jobs/<id>/…) and change the rows in the session."""
    settings, keystore, session = act.app.settings, act.app.keystore, act.session
    erased = plan.erased_ids()
    for batch_id in sorted(set(plan.records) | set(plan.quarantined)):
        batch = session.get(db.Batch, batch_id)
        assert batch is not None
        folder, out = settings.batch_dir(batch_id), tmp / "batches" / batch_id
        out.mkdir(parents=True)
        ids = plan.records.get(batch_id, set())
        if ids:
            _filter_parquet(folder / FEATURES, out / FEATURES, "record_id", ids)
            if (folder / IDENTITIES).exists():
                _filter_parquet(folder / IDENTITIES, out / IDENTITIES, "record_id", ids)
            payload = open_payload(keystore, batch, folder)
            kept = payload[~payload["record_id"].astype(str).isin(ids)]
            buffer = io.BytesIO()
            if len(kept) or len(payload.columns) > 1:
                pq.write_table(pa.Table.from_pandas(kept.astype("string"), preserve_index=False), buffer)
            data_key, payload_key = seal.new_data_key(), keystore.active("payload")
            (out / PAYLOAD).write_bytes(seal.seal(data_key, buffer.getvalue(), payload_aad(batch_id, "payload")))
            batch.payload_key_id = payload_key.id
            batch.wrapped_payload_key = seal.wrap(keystore.secret(payload_key.id), data_key,
                                                  payload_aad(batch_id, "payload-key"))
            batch.accepted -= len(ids)
            batch.rows_read -= len(ids)
        rows = plan.quarantined.get(batch_id, [])
        if rows:
            kept_rows = [r for i, r in enumerate(open_quarantine(keystore, batch, folder)) if i not in set(rows)]
            lines = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in kept_rows)
            q_key, quarantine_key = seal.new_data_key(), keystore.active("quarantine")
            (out / QUARANTINE).write_bytes(seal.seal(q_key, lines, payload_aad(batch_id, "quarantine")))
            batch.quarantine_key_id = quarantine_key.id
            batch.wrapped_quarantine_key = seal.wrap(keystore.secret(quarantine_key.id), q_key,
                                                     payload_aad(batch_id, "quarantine-key"))
            batch.quarantined -= len(rows)
            batch.rows_read -= len(rows)
    for job_id, counts in plan.jobs.items():
        job = session.get(db.Job, job_id)
        assert job is not None
        folder, out = settings.job_dir(job_id), tmp / "jobs" / job_id
        out.mkdir(parents=True)
        _filter_parquet(folder / PERSON_MAP, out / PERSON_MAP, "record_id", erased)
        _filter_parquet(folder / PAIRS, out / PAIRS, ("record_id_l", "record_id_r"), erased)
        job.records -= counts["person_map"]
        job.persons -= counts["persons"]
        job.links -= counts["links"]
        job.reviews -= counts["reviews"]
    if erased:
        session.execute(delete(db.ReviewDecision).where(or_(db.ReviewDecision.record_id_l.in_(erased),
                                                            db.ReviewDecision.record_id_r.in_(erased))))
    session.flush()
    _fsync_tree(tmp)


def _filter_parquet(path: Path, out: Path, columns: str | tuple[str, ...], ids: set[str]) -> None:
    """The Parquet file without the rows whose `columns` hold one of `ids` (schema and metadata kept)."""
    table = pq.read_table(path)
    value_set = pa.array(sorted(ids), type=pa.string())
    drop = None
    for column in (columns,) if isinstance(columns, str) else columns:
        hit = pc.is_in(table[column].cast(pa.string()), value_set=value_set)
        drop = hit if drop is None else pc.or_(drop, hit)
    pq.write_table(table.filter(pc.invert(drop)), out)


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())


def _apply_on_commit(session, tmp: Path, data_dir: Path) -> None:
    """Move the staged files over the old ones once the transaction commits; drop them if it rolls back."""

    def committed(_session) -> None:
        _pause_for_tests("after-commit")
        try:
            apply_staged(tmp, data_dir)
        except OSError:
            pass  # rolled forward by the next acting command (`settle`)

    def rolled_back(_session) -> None:
        shutil.rmtree(tmp, ignore_errors=True)

    event.listen(session, "after_commit", committed, once=True)
    event.listen(session, "after_rollback", rolled_back, once=True)


def apply_staged(tmp: Path, data_dir: Path) -> int:
    """Move each staged file to its place (an atomic rename each; one already moved is skipped), then remove
    the staging folder. Returns the number of files moved."""
    moved = 0
    for path in sorted(tmp.rglob("*")):
        if path.is_file():
            target = data_dir / path.relative_to(tmp)
            os.replace(path, target)
            moved += 1
    for folder in {p.parent for p in (data_dir / "batches", data_dir / "jobs")}:
        _fsync_dir(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    return moved


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def settle(act: Acting) -> dict[str, int]:
    """Finish what a killed erasure left: roll its files forward when its erasure committed, else remove them."""
    parent = act.app.settings.data_dir / FOLDER
    done = {"erasures_rolled_forward": 0, "erasures_removed": 0}
    if not parent.exists():
        return {}
    for folder in sorted(parent.iterdir()):
        if not folder.is_dir() or not folder.name.startswith(PREFIX):
            continue
        pid, _, erasure_id = folder.name[len(PREFIX):].partition("-")
        if not pid.isdigit() or alive(int(pid)):
            continue
        if act.session.get(db.Erasure, erasure_id) is not None:
            apply_staged(folder, act.app.settings.data_dir)
            done["erasures_rolled_forward"] += 1
        else:
            shutil.rmtree(folder, ignore_errors=True)
            done["erasures_removed"] += 1
    counts = {k: v for k, v in done.items() if v}
    act.counts.update(counts)
    return counts


def _pause_for_tests(point: str) -> None:
    """With TTP_TEST_PAUSE_ERASE set to `point`, stop there until killed (the kill -9 test's hook)."""
    if os.environ.get("TTP_TEST_PAUSE_ERASE") == point:
        import signal

        print("paused", flush=True)
        while True:
            signal.pause()


def erasures_of_release(session, release_id: str) -> list[str]:
    """The erasures noted against a release (made from a job that held an erased child)."""
    return [e.id for e in session.scalars(select(db.Erasure).order_by(db.Erasure.created_at, db.Erasure.id))
            if release_id in (e.releases or [])]
