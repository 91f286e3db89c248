"""The export layer's shell: policies, the request lifecycle, releases and the school register."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pandas as pd
from sqlalchemy import func, select

from policies import lifecycle
from policies.check import CANNOT_RELEASE, check_request
from policies.columns import source_columns
from policies.cover import Entry
from policies.disclosure import ProtectedTable, protect
from policies.errors import PoliciesError, StateError
from policies.history import ReleaseRecord, from_first_format, record
from policies.history import entry as history_entry
from policies.history import shown as shown_release
from policies.microdata import is_microdata, load_microdata_request
from policies.policy import Policy, load_policy, policy_hash
from policies.release import render
from policies.request import Request, load_request
from policies.round import is_round, load_round, round_table
from policies.table import Table, compute_table

from . import db
from .app import Acting
from .erasure import erasures_of_release
from .errors import Conflict, Forbidden, NotFound, TTPError, UsageError
from .ids import new_id
from .persons import PersonsFrame
from .staging import left_behind, move_on_commit, staging_folder

__all__ = ["TTPError"]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TTPError(f"{path}: cannot read ({type(exc).__name__})") from None


# --- policies ---------------------------------------------------------------------------------------------


def add_policy(act: Acting, path: Path, name: str | None) -> db.Policy:
    """Register a policy file as the next version of its name; a policy that does not parse is refused."""
    return add_policy_text(act, _read_text(path), name or path.stem, str(path))


def add_policy_text(act: Acting, text: str, name: str, origin: str = "policy") -> db.Policy:
    """Register policy text as the next version of `name`."""
    try:
        load_policy(text, name)
    except PoliciesError as exc:
        raise TTPError(f"{origin}: {exc}") from None
    latest = act.session.scalar(select(func.max(db.Policy.version)).where(db.Policy.name == name)) or 0
    row = db.Policy(name=name, version=latest + 1, text=text, sha256=policy_hash(text), added_by=act.user.name,
                    status="pending")
    act.session.add(row)
    act.session.flush()
    act.details.update({"policy": name, "version": row.version, "policy_sha256": row.sha256, "status": "pending"})
    return row


def pending_policies(session) -> list[db.Policy]:
    """Policy versions waiting for a second privacy officer."""
    return list(session.scalars(select(db.Policy).where(db.Policy.status == "pending")
                                .order_by(db.Policy.name, db.Policy.version)))


def decide_policy(act: Acting, name: str, version: int, approve: bool) -> db.Policy:
    """A privacy officer other than its author puts a pending policy version in force, or rejects it."""
    row = act.session.scalars(select(db.Policy).where(db.Policy.name == name, db.Policy.version == version)).first()
    if row is None:
        raise NotFound(f"unknown policy {name!r} version {version}: `ttp policy list` shows them")
    if row.status != "pending":
        raise Conflict(f"policy {name} version {version} is {row.status} already")
    if row.added_by == act.user.name:
        raise TTPError("four eyes: a policy version is approved by a privacy officer other than its author")
    row.status = "active" if approve else "rejected"
    row.decided_by = act.user.name
    act.details.update({"policy": name, "version": version, "policy_sha256": row.sha256, "status": row.status})
    return row


def get_policy(session, name: str, version: int | None = None) -> db.Policy:
    """A policy version; without a version the newest in force (approved by a second officer)."""
    query = select(db.Policy).where(db.Policy.name == name)
    if version:
        query = query.where(db.Policy.version == version)
    else:
        query = query.where(db.Policy.status == "active").order_by(db.Policy.version.desc())
    row = session.scalars(query.limit(1)).first()
    if row is None:
        waiting = not version and session.scalar(select(db.Policy.version).where(db.Policy.name == name).limit(1))
        if waiting:
            raise TTPError(f"policy {name!r} has no version in force yet: it waits for a second privacy "
                           "officer (`ttp policy pending`)")
        raise NotFound(f"unknown policy {name!r}" + (f" version {version}" if version else "")
                       + ": `ttp policy list` shows them")
    return row


def _policy_model(row: db.Policy) -> Policy:
    return load_policy(row.text, row.name)


# --- requests ---------------------------------------------------------------------------------------------


def _latest_job(session, population: list[str]) -> db.Job | None:
    for job in session.scalars(select(db.Job).order_by(db.Job.created_at.desc(), db.Job.id.desc())):
        if set(population) <= set(job.sources):
            return job
    return None


class _Frames:
    """The persons frame of each link job, built once per command (payload is decrypted to build it), with
    the columns at a moment that each request needs added as they are asked for."""

    def __init__(self, act: Acting) -> None:
        self.act = act
        self.frames: dict[str, PersonsFrame] = {}

    def persons(self, job_id: str, request: Request, policy: Policy) -> pd.DataFrame:
        if job_id not in self.frames:
            job = self.act.session.get(db.Job, job_id)
            if job is None:
                raise TTPError(f"link job {job_id} is gone: releases made from it cannot be checked")
            self.frames[job_id] = PersonsFrame(self.act.app, self.act.session, job)
        return self.frames[job_id].with_columns(source_columns(policy, request))


def _releases(session, before_seq: int | None = None) -> list[db.Release]:
    """Every release in the order they were made (those before `before_seq` when given)."""
    query = select(db.Release).order_by(db.Release.seq)
    if before_seq is not None:
        query = query.where(db.Release.seq < before_seq)
    return list(session.scalars(query))


def releases_in_order(session) -> list[db.Release]:
    """Every release, oldest first (the feedback reports read the newest of each kind)."""
    return _releases(session)


def _record(act: Acting, release: db.Release, table: Table) -> ReleaseRecord:
    """A release's stored record; a release made before joint protection is read back from its table.csv."""
    stored = release.released_table
    if stored.get("format", 1) >= 2:
        return ReleaseRecord.model_validate(stored)
    path = act.app.settings.release_dir(release.id) / "table.csv"
    try:
        data = path.read_bytes()
    except OSError:
        raise TTPError(f"release {release.id}: its files are missing from the data directory") from None
    return from_first_format(stored, data, table, release.id, int(release.seq or 0), release.job_id)


def _table_request(release: db.Release, row: db.Request) -> Request:
    """The request of a release's table: its request's, or the named table's of a round."""
    name = release.released_table.get("round_table")  # set on the releases of a round's tables
    return round_table(row.text, name) if name else load_request(row.text)


def _release_table(act: Acting, release: db.Release, frames: _Frames) -> tuple[Table, Policy, ReleaseRecord]:
    row = get_request(act.session, release.request_id)
    policy = _policy_model(get_policy(act.session, release.policy_name, release.policy_version))
    try:
        request = _table_request(release, row)
        table = compute_table(frames.persons(release.job_id, request, policy), request, policy)
    except PoliciesError as exc:
        raise TTPError(f"release {release.id}: {exc}") from None
    return table, policy, _record(act, release, table)


def _history(act: Acting, frames: _Frames, before_seq: int | None = None) -> list[Entry]:
    """Every earlier release as the joint protection sees it (recomputed on its own link job).

    A release whose link job retention deleted leaves the history: the persons it counted can no longer be
    classed (their records are past their period), so nothing can be protected together with it; the
    release itself, its row and its record stay (docs/policies.md, Retention)."""
    entries = []
    for release in _releases(act.session, before_seq):
        if act.session.get(db.Job, release.job_id) is None:
            continue
        table, policy, rec = _release_table(act, release, frames)
        try:
            entries.append(history_entry(rec, table, policy,
                                         erased=bool(erasures_of_release(act.session, release.id))))
        except PoliciesError as exc:
            raise TTPError(str(exc)) from None
    return entries


def _protect(act: Acting, request: Request, policy: Policy, job: db.Job, frames: _Frames,
             before_seq: int | None = None, replay: list[tuple[str, int]] | None = None) -> ProtectedTable:
    try:
        table = compute_table(frames.persons(job.id, request, policy), request, policy)
        return protect(table, policy, _history(act, frames, before_seq), frame=job.id, replay=replay)
    except PoliciesError as exc:
        raise TTPError(str(exc)) from None


@dataclass
class RoundTable:
    """One table of a round after disclosure control, with the id and place in the history it gets."""

    name: str
    request: Request
    table: Table
    protected: ProtectedTable
    release_id: str
    seq: int


def protect_round(act: Acting, tables: list[tuple[str, Request]], policy: Policy, job: db.Job,
                  ids: list[str], first_seq: int) -> list[RoundTable]:
    """A round's tables protected one after another, each together with every earlier release and the
    round's tables before it (as if each were released already: the joint audit sees them all). It stops at
    the first table that cannot be released (its `protected.refusal` says why)."""
    frames = _Frames(act)
    history = _history(act, frames)
    out: list[RoundTable] = []
    for (name, request), release_id in zip(tables, ids, strict=True):
        seq = first_seq + len(out)
        try:
            table = compute_table(frames.persons(job.id, request, policy), request, policy)
            protected = protect(table, policy, history, frame=job.id)
        except PoliciesError as exc:
            raise TTPError(f"table {name}: {exc}") from None
        out.append(RoundTable(name, request, table, protected, release_id, seq))
        if protected.refusal is not None:
            break
        rec = record(protected, release_id, seq, job.id)
        try:
            history = [*history, history_entry(rec, table, policy)]
        except PoliciesError as exc:
            raise TTPError(f"table {name}: {exc}") from None
    return out


T = TypeVar("T")


class _Computed(Generic[T]):
    """Protected tables this process computed, by everything they depend on: a request checked when it was
    submitted is not computed again for its release while no release, batch or register changed."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._tables: OrderedDict[tuple, T] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(act: Acting, text_sha: str, policy_row: db.Policy, job: db.Job) -> tuple:
        return (act.app.settings.database_url, str(act.app.settings.data_dir), text_sha, policy_row.name,
                policy_row.version, policy_row.sha256, job.id, *_history_state(act.session))

    def get(self, key: tuple) -> T | None:
        with self._lock:
            found = self._tables.get(key)
            if found is not None:
                self._tables.move_to_end(key)
            return found

    def put(self, key: tuple, protected: T) -> None:
        with self._lock:
            self._tables[key] = protected
            self._tables.move_to_end(key)
            while len(self._tables) > self.size:
                self._tables.popitem(last=False)


COMPUTED: _Computed[ProtectedTable] = _Computed()
ROUNDS: _Computed[list[RoundTable]] = _Computed(2)  # a round's tables, protected with the ids they will have


def _check(act: Acting, request: Request, policy_row: db.Policy, job: db.Job | None,
           text_sha: str | None = None) -> dict:
    """The policy check of a request, and whether its table can be released with the earlier releases.

    `detail` (earlier releases, cells) is for the privacy officer; `for_user` strips it for anyone else."""
    policy = _policy_model(policy_row)
    basic = check_request(request, policy)
    if not basic.ok:
        return {"ok": False, "problems": basic.problems, "detail": []}
    if job is None:
        return {"ok": False, "problems": ["no link job covers the request's population yet"], "detail": []}
    frames = _Frames(act)
    try:
        protected = _protect(act, request, policy, job, frames)
    except TTPError as exc:
        return {"ok": False, "problems": [str(exc)], "detail": []}
    if text_sha is not None:
        COMPUTED.put(_Computed.key(act, text_sha, policy_row, job), protected)
    result = check_request(request, policy, protected.table, protected)
    return {"ok": result.ok, "problems": result.problems, "detail": result.detail,
            "cells": protected.table.n_cells, "suppressed": int(protected.suppressed.sum()),
            "constrained_by": protected.constrained_by}


def _check_round(act: Acting, tables: list[tuple[str, Request]], policy_row: db.Policy, job: db.Job | None,
                 text_sha: str | None = None) -> dict:
    """The check of a round: each table's policy check, then all of them protected one after another with
    every earlier release (what `ttp release` would make); problems name their table."""
    policy = _policy_model(policy_row)
    problems = [f"table {name}: {p}" for name, request in tables for p in check_request(request, policy).problems]
    if problems:
        return {"ok": False, "problems": problems, "detail": []}
    if job is None:
        return {"ok": False, "problems": ["no link job covers the request's population yet"], "detail": []}
    try:
        first_seq = (act.session.scalar(select(func.max(db.Release.seq))) or 0) + 1
        made = protect_round(act, tables, policy, job, [new_id("rel") for _ in tables], first_seq)
    except TTPError as exc:
        return {"ok": False, "problems": [str(exc)], "detail": []}
    if text_sha is not None and len(made) == len(tables):  # the release uses these, with these ids, if nothing changed
        ROUNDS.put(_Computed.key(act, text_sha, policy_row, job), made)
    detail: list = []
    constrained: set[str] = set()
    parts = []
    for t in made:
        result = check_request(t.request, policy, t.protected.table, t.protected)
        problems += [f"table {t.name}: {p}" for p in result.problems]
        detail += [f"table {t.name}: {d}" for d in result.detail]
        constrained |= set(t.protected.constrained_by)
        parts.append({"name": t.name, "ok": result.ok, "cells": t.protected.table.n_cells,
                      "suppressed": int(t.protected.suppressed.sum())})
    if len(made) < len(tables):
        problems.append(f"the tables after {made[-1].name} were not checked: it cannot be released")
    return {"ok": not problems, "problems": problems, "detail": detail, "tables": parts,
            "cells": sum(p["cells"] for p in parts), "suppressed": sum(p["suppressed"] for p in parts),
            "constrained_by": sorted(constrained)}


def for_user(check: dict | None, role: str) -> dict:
    """A stored check as `role` may read it: only a privacy officer sees which earlier releases and cells."""
    check = dict(check or {})
    if role != "privacy-officer":
        check.pop("detail", None)
        check.pop("constrained_by", None)
        check.pop("collisions", None)
    return check


def submit(act: Acting, path: Path) -> db.Request:
    """Store a request file and its check; a request that does not parse is refused."""
    return submit_text(act, _read_text(path), str(path))


def preview_check(act: Acting, text: str) -> dict:
    """The policy check a request would get, without storing anything (the web form shows it first)."""
    if is_microdata(text):
        from .cbs import check

        try:
            micro = load_microdata_request(text)
        except PoliciesError as exc:
            return {"ok": False, "problems": [str(exc)]}
        job = act.session.get(db.Job, micro.link_job) if micro.link_job else _latest_job(act.session,
                                                                                       micro.population)
        return for_user(check(act, micro, get_policy(act.session, micro.policy), job), act.user.role)
    if is_round(text):
        try:
            rnd = load_round(text)
        except PoliciesError as exc:
            return {"ok": False, "problems": [str(exc)]}
        job = act.session.get(db.Job, rnd.link_job) if rnd.link_job else _latest_job(act.session, rnd.population)
        return for_user(_check_round(act, rnd.requests(), get_policy(act.session, rnd.policy), job), act.user.role)
    try:
        request = load_request(text)
    except PoliciesError as exc:
        return {"ok": False, "problems": [str(exc)]}
    policy_row = get_policy(act.session, request.policy)
    job = act.session.get(db.Job, request.link_job) if request.link_job else _latest_job(act.session,
                                                                                           request.population)
    return for_user(_check(act, request, policy_row, job), act.user.role)


def submit_text(act: Acting, text: str, origin: str = "request") -> db.Request:
    """Store request text and its check; a request that does not parse is refused."""
    if is_microdata(text):
        from .cbs import submit_microdata

        return submit_microdata(act, text, origin)
    try:
        request = load_round(text) if is_round(text) else load_request(text)
    except PoliciesError as exc:
        raise TTPError(f"{origin}: {exc}") from None
    policy_row = get_policy(act.session, request.policy)
    job = act.session.get(db.Job, request.link_job) if request.link_job else _latest_job(act.session,
                                                                                           request.population)
    if request.link_job and job is None:
        raise TTPError(f"unknown link job {request.link_job!r} named by the request")
    if isinstance(request, Request):
        check = _check(act, request, policy_row, job, hashlib.sha256(text.encode()).hexdigest())
    else:
        check = _check_round(act, request.requests(), policy_row, job, hashlib.sha256(text.encode()).hexdigest())
        act.details["tables"] = [t.name for t in request.tables]
    row = db.Request(
        id=new_id("r"), requester=act.user.name, policy_name=policy_row.name, policy_version=policy_row.version,
        text=text, sha256=hashlib.sha256(text.encode()).hexdigest(),
        status="checked" if check["ok"] else "submitted", check=check, job_id=job.id if job else None,
    )
    act.session.add(row)
    act.session.flush()
    act.objects.update({"request": row.id, **({"job": job.id} if job else {})})
    act.details.update({"policy": policy_row.name, "policy_version": policy_row.version,
                        "policy_sha256": policy_row.sha256, "request_sha256": row.sha256,
                        "check_ok": check["ok"], "status": row.status})
    if check.get("constrained_by"):
        act.details["constrained_by"] = check["constrained_by"]
    return row


def get_request(session, request_id: str) -> db.Request:
    row = session.get(db.Request, request_id)
    if row is None:
        raise NotFound(f"unknown request {request_id!r}: `ttp request list` shows them")
    return row


def _request_doc(row: db.Request) -> dict:
    purpose = ""
    try:
        purpose = (load_microdata_request(row.text) if is_microdata(row.text)
                   else load_round(row.text) if is_round(row.text) else load_request(row.text)).purpose
    except PoliciesError:
        pass
    return {"request_id": row.id, "requester": row.requester, "policy": f"{row.policy_name} v{row.policy_version}",
            "status": row.status, "purpose": purpose, "job_id": row.job_id, "decided_by": row.decided_by,
            "reason": row.reason, "created_at": row.created_at.isoformat()}


def list_requests(act: Acting) -> list[dict]:
    query = select(db.Request).order_by(db.Request.created_at)
    if act.user.role == "researcher":
        query = query.where(db.Request.requester == act.user.name)
    return [_request_doc(r) for r in act.session.scalars(query)]


def show_request(act: Acting, request_id: str) -> dict:
    row = get_request(act.session, request_id)
    if act.user.role == "researcher" and row.requester != act.user.name:
        # the same answer as for an id that does not exist: a researcher cannot probe others' request ids
        raise NotFound(f"unknown request {request_id!r}: `ttp request list` shows them")
    doc = _request_doc(row)
    doc.update({"check": for_user(row.check, act.user.role), "text": row.text})
    releases = list(act.session.scalars(select(db.Release).where(db.Release.request_id == row.id)
                                        .order_by(db.Release.seq)))
    release = releases[0] if releases else \
        act.session.scalars(select(db.RecipientRelease).where(db.RecipientRelease.request_id == row.id)).first()
    doc["release_id"] = release.id if release else None
    if len(releases) > 1 or is_round(row.text):  # a round: a release per table
        doc["release_ids"] = [r.id for r in releases]
    return doc


def decide_request(act: Acting, request_id: str, decision: str, reason: str) -> db.Request:
    """Approve or deny: a privacy officer who is not the requester, on a checked request, with a reason."""
    if not reason.strip():
        raise UsageError("give a reason for the decision (--reason): it is kept with it and audited")
    row = get_request(act.session, request_id)
    policy_row = get_policy(act.session, row.policy_name, row.policy_version)
    act.objects["request"] = row.id
    act.details.update({"policy_sha256": policy_row.sha256, "request_sha256": row.sha256, "reason": reason})
    try:
        new_state = lifecycle.transition(row.status, decision, act.user.name, act.user.role, row.requester,
                                         _policy_model(policy_row))
    except StateError as exc:
        raise Conflict(str(exc)) from None
    except PoliciesError as exc:
        raise Forbidden(str(exc)) from None
    row.status, row.decided_by, row.reason = ("approved" if new_state == "released" else new_state,
                                              act.user.name, reason)
    row.updated_at = db.utcnow()
    act.details["status"] = new_state
    if new_state == "released" and is_microdata(row.text):  # microdata is written by `ttp release` only
        row.status = act.details["status"] = "approved"
    elif new_state == "released":  # the policy releases at approval
        act.session.flush()
        doc = produce_release(act, row)
        act.objects["release"] = doc["release_id"]
    return row


# --- releases ---------------------------------------------------------------------------------------------


def _release_inputs(act: Acting, row: db.Request) -> tuple[Request, db.Policy, db.Job]:
    request = load_request(row.text)
    policy_row = get_policy(act.session, row.policy_name, row.policy_version)
    job = act.session.get(db.Job, row.job_id) if row.job_id else None
    if job is None:
        raise TTPError(f"request {row.id} names no link job that exists")
    return request, policy_row, job


def protected_table(act: Acting, row: db.Request) -> tuple[Request, db.Policy, db.Job, ProtectedTable]:
    """The request's table after disclosure control with every release so far (what a release would hold)."""
    request, policy_row, job = _release_inputs(act, row)
    protected = _protect(act, request, _policy_model(policy_row), job, _Frames(act))
    return request, policy_row, job, protected


@dataclass(frozen=True)
class PreparedRelease:
    """A request's protected table computed on a read snapshot, with the state it was computed from."""

    state: tuple
    protected: ProtectedTable


def _history_state(session) -> tuple:
    """What every protected table depends on besides its request and link job: the history of releases,
    the batches in force (payload attached later joins the persons) and the school register."""
    schools = hashlib.sha256(json.dumps([list(s) for s in session.execute(
        select(db.School.brin, db.School.board, db.School.municipality).order_by(db.School.brin))]).encode())
    return (session.scalar(select(func.max(db.Release.seq))), session.scalar(select(func.count(db.Release.id))),
            session.scalar(select(func.count(db.Batch.id))), str(session.scalar(select(func.max(db.Batch.created_at)))),
            session.scalar(select(func.count(db.Batch.superseded_by))), schools.hexdigest())


def _release_state(session, row: db.Request) -> tuple:
    """Everything a release's table depends on besides its (immutable) link job: the request and the rest."""
    return (row.id, row.status, row.sha256, row.policy_name, row.policy_version, row.job_id,
            *_history_state(session))


def prepare_release(reader: Acting | None, request_id: str) -> PreparedRelease | None:
    """The long part of a release (tables, the joint audit with every earlier release) on a read snapshot,
    so the write lock is held only to store it. None when it cannot be prepared: the release itself then
    meets (and audits) the same problem."""
    if reader is None:
        return None
    row = reader.session.get(db.Request, request_id)
    if row is None or row.status != "approved" or is_microdata(row.text) or is_round(row.text):
        return None  # a round is protected under the write lock: its tables one after another
    # the state first: whatever commits while the table is computed makes the release compute it again
    state = _release_state(reader.session, row)
    try:
        _, policy_row, job = _release_inputs(reader, row)
        protected = COMPUTED.get(_Computed.key(reader, row.sha256, policy_row, job)) \
            or protected_table(reader, row)[3]
    except (TTPError, PoliciesError):
        return None
    return PreparedRelease(state=state, protected=protected)


def _metadata(row: db.Request, policy_row: db.Policy, job: db.Job, release_id: str, created_at: str) -> dict:
    return {"release_id": release_id, "request_id": row.id, "request_sha256": row.sha256,
            "requester": row.requester, "approved_by": row.decided_by, "policy": policy_row.name,
            "policy_version": policy_row.version, "policy_hash": policy_row.sha256, "link_job": job.id,
            "created": created_at, "request": row.text}


def release_request(app, request_id: str, out: Path | None) -> dict:
    """The release action: prepared on a read snapshot, then stored as one acting command."""
    with app.reading("release") as reader:
        prepared = prepare_release(reader, request_id)
    with app.acting("release", {"request": request_id}) as act:
        return make_release(act, request_id, out, prepared)


def make_release(act: Acting, request_id: str, out: Path | None, prepared: PreparedRelease | None = None) -> dict:
    """Compute, protect and write an approved request's release, once; recorded with its audit event.

    A `prepared` table is used when nothing it depends on changed since; otherwise it is computed again."""
    row = get_request(act.session, request_id)
    if row.status == "released":
        raise Conflict(f"request {request_id} was released already; a release is produced once")
    try:
        lifecycle.transition(row.status, "release", act.user.name, act.user.role, row.requester, None)
    except StateError as exc:
        raise Conflict(str(exc)) from None
    except PoliciesError as exc:
        raise TTPError(str(exc)) from None
    if out is not None and out.exists() and any(out.iterdir()):
        raise TTPError(f"{out} is not empty: give a new folder for the release")
    if is_microdata(row.text):
        from .cbs import produce_delivery

        return produce_delivery(act, row, out)
    fresh = prepared is not None and prepared.state == _release_state(act.session, row)
    act.details["prepared"] = fresh
    doc = produce_release(act, row, prepared.protected if fresh and prepared else None, out)
    act.record()
    return doc


def produce_release(act: Acting, row: db.Request, protected: ProtectedTable | None = None,
                    out: Path | None = None) -> dict:
    """The release of an approved request: files in the data directory (and a copy in `out`), its row, the
    request released.

    The table is protected together with every release made before it; when it cannot be, nothing is
    written and the refusal (with the earlier releases involved) is kept in the request's check for the
    privacy officer."""
    if is_round(row.text):
        return _produce_round(act, row, out)
    if protected is None:
        request, policy_row, job, protected = protected_table(act, row)
    else:
        request, policy_row, job = _release_inputs(act, row)
    seq = (act.session.scalar(select(func.max(db.Release.seq))) or 0) + 1
    if protected.refusal is not None:
        row.check = {**(row.check or {}), "ok": False, "problems": [CANNOT_RELEASE], "detail": [protected.refusal],
                     "constrained_by": protected.constrained_by}
        act.session.flush()
        act.details.update({"refused": True, "constrained_by": protected.constrained_by})
        raise Refused(f"request {row.id}: {CANNOT_RELEASE}; see `ttp request show {row.id}` as a privacy officer")
    release_id = new_id("rel")
    act.counts.update(left_behind(act, act.app.settings.release_dir(release_id).parent, db.Release.id,
                                  db.RecipientRelease.id))
    suppressed, sums = _store_release(act, row, policy_row, job, protected, release_id, seq, out)
    row.status, row.updated_at = "released", db.utcnow()
    act.objects.update({"request": row.id, "release": release_id, "job": job.id})
    act.counts.update({"cells": int(protected.suppressed.size), "suppressed": suppressed,
                       "extra_suppressed": len(protected.extra), "earlier_releases": seq - 1})
    act.details["suppressed_by_reason"] = _reason_counts(protected)
    act.details.update({"policy_sha256": policy_row.sha256, "request_sha256": row.sha256,
                        "files": sums, "seq": seq})
    if protected.constrained_by:
        act.details["constrained_by"] = protected.constrained_by
    doc = {"release_id": release_id, "request_id": row.id, "files": sorted(sums), "suppressed": suppressed}
    if out is not None:
        doc["out"] = str(out)
    return doc


def _store_release(act: Acting, row: db.Request, policy_row: db.Policy, job: db.Job, protected: ProtectedTable,
                   release_id: str, seq: int, out: Path | None,
                   round_table: str | None = None) -> tuple[int, dict[str, str]]:
    """Write one protected table as release `release_id` (its folder appears when the transaction commits, a
    copy goes to `out`) and add its row; the number of cells it hides and the files' sums."""
    metadata = _metadata(row, policy_row, job, release_id, db.utcnow().isoformat())
    if round_table is not None:
        metadata["round_table"] = round_table
    files = render(protected, metadata)
    stored = act.app.settings.release_dir(release_id)
    tmp = staging_folder(stored.parent, release_id)
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / "release.json").write_text(json.dumps({"metadata": metadata}, sort_keys=True), encoding="utf-8")
        sums = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
        rec = record(protected, release_id, seq, job.id, round_table).model_dump(mode="json")
        act.session.add(db.Release(
            id=release_id, request_id=row.id, job_id=job.id, policy_name=policy_row.name,
            policy_version=policy_row.version, files=sums, seq=seq, released_table=rec,
            created_by=act.user.name, created_at=db.utcnow(),
        ))
        act.session.flush()
        move_on_commit(act.session, tmp, stored)  # the data directory's copy appears once the row commits
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                (out / name).write_bytes(data)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return int(protected.suppressed.sum()), sums


def _produce_round(act: Acting, row: db.Request, out: Path | None) -> dict:
    """The release of an approved round: every table protected with the earlier releases and the round's
    tables before it, then each written as a release of its own (`out/<table>/`), all in one transaction;
    when one table cannot be released, none is."""
    try:
        rnd = load_round(row.text)
    except PoliciesError as exc:
        raise TTPError(f"request {row.id}: {exc}") from None
    policy_row = get_policy(act.session, row.policy_name, row.policy_version)
    job = act.session.get(db.Job, row.job_id) if row.job_id else None
    if job is None:
        raise TTPError(f"request {row.id} names no link job that exists")
    tables = rnd.requests()
    made = ROUNDS.get(_Computed.key(act, row.sha256, policy_row, job)) or []  # as checked, when nothing changed
    first_seq = (act.session.scalar(select(func.max(db.Release.seq))) or 0) + 1
    act.details["prepared"] = bool(made) and made[0].seq == first_seq
    if not act.details["prepared"]:
        made = protect_round(act, tables, _policy_model(policy_row), job, [new_id("rel") for _ in tables], first_seq)
    ids = [t.release_id for t in made]
    last = made[-1]
    if last.protected.refusal is not None or len(made) < len(tables):
        row.check = {**(row.check or {}), "ok": False, "problems": [f"table {last.name}: {CANNOT_RELEASE}"],
                     "detail": [f"table {last.name}: {last.protected.refusal}"],
                     "constrained_by": last.protected.constrained_by}
        act.session.flush()
        act.details.update({"refused": True, "table": last.name, "constrained_by": last.protected.constrained_by})
        raise Refused(f"request {row.id}: table {last.name}: {CANNOT_RELEASE}; see `ttp request show {row.id}` "
                      "as a privacy officer (no table of the round was released)")
    act.counts.update(left_behind(act, act.app.settings.release_dir(ids[0]).parent, db.Release.id,
                                  db.RecipientRelease.id))
    parts: list[dict[str, Any]] = []
    for t in made:
        suppressed, sums = _store_release(act, row, policy_row, job, t.protected, t.release_id, t.seq,
                                          out / t.name if out is not None else None, round_table=t.name)
        parts.append({"table": t.name, "release_id": t.release_id, "seq": t.seq, "suppressed": suppressed,
                      "cells": int(t.protected.suppressed.size), "files": sorted(sums)})
    row.status, row.updated_at = "released", db.utcnow()
    act.objects.update({"request": row.id, "release": ids[0], "job": job.id})
    act.counts.update({"tables": len(parts), "cells": sum(p["cells"] for p in parts),
                       "suppressed": sum(p["suppressed"] for p in parts), "earlier_releases": first_seq - 1})
    act.details.update({"policy_sha256": policy_row.sha256, "request_sha256": row.sha256,
                        "releases": {p["table"]: p["release_id"] for p in parts},
                        "suppressed_by_table": {p["table"]: p["suppressed"] for p in parts}})
    constrained = sorted({c for t in made for c in t.protected.constrained_by if c not in ids})
    if constrained:
        act.details["constrained_by"] = constrained
    doc: dict = {"release_id": ids[0], "request_id": row.id, "kind": "round", "tables": parts,
                 "files": sorted(f"{p['table']}/{n}" for p in parts for n in p["files"]),
                 "suppressed": sum(p["suppressed"] for p in parts)}
    if out is not None:
        doc["out"] = str(out)
    return doc


def _reason_counts(protected: ProtectedTable) -> dict[str, int]:
    """How many figures were hidden for each kind of reason (for the audit log: kinds, never cells)."""
    counts: dict[str, int] = {}
    for item in protected.suppressions():
        reason = item["reason"]
        kind = ("history" if "earlier release" in reason or "as in release" in reason
                else "differencing" if "differencing" in reason
                else reason.split(":", 1)[0])
        key = f"{kind} ({item['measure']})" if item.get("measure") else kind
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


class Refused(TTPError):
    """A release refused by disclosure control: the refusal is stored and audited, the transaction kept."""

    keep = True


def get_release(session, release_id: str) -> db.Release:
    row = session.get(db.Release, release_id)
    if row is None:
        raise NotFound(f"unknown release {release_id!r}: `ttp release list` shows them")
    return row


def verify_release(act: Acting, release_id: str) -> dict:
    """Recompute a release with the history as it stood when it was made and compare the bytes.

    The releases before it, its policy version and its link job are used again; the suppressions the
    joint protection added are replayed in their recorded order and the joint audit must pass on them.
    A release made before joint protection (format 1) can only be checked against its recorded sums."""
    release = get_release(act.session, release_id)
    act.objects["release"] = release.id
    if release.removed_at is not None:
        return {"release_id": release.id, "seq": release.seq, "reproduced": None,
                "how": f"not checked: its files were removed by retention on {removed_on(release)}"}
    row = get_request(act.session, release.request_id)
    folder = act.app.settings.release_dir(release.id)
    try:
        stored = json.loads((folder / "release.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise TTPError(f"release {release_id}: its files are missing from the data directory") from None
    if release.released_table.get("format", 1) < 2:
        on_disk = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in release.files
                   if (folder / n).exists()}
        return {"release_id": release.id, "seq": release.seq, "reproduced": on_disk == release.files,
                "how": "files against their recorded sums (made before joint protection: not recomputed)"}
    changed = _changed_since(act, release)
    job = act.session.get(db.Job, release.job_id)
    if changed or job is None:  # what it was made from is no longer there as it was: not recomputed
        on_disk = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in release.files
                   if (folder / n).exists()}
        why = changed or f"its link job {release.job_id} was deleted by retention"
        return {"release_id": release.id, "seq": release.seq, "reproduced": on_disk == release.files,
                "how": f"files against their recorded sums ({why}: not recomputed)"}
    rec = ReleaseRecord.model_validate(release.released_table)
    policy = _policy_model(get_policy(act.session, release.policy_name, release.policy_version))
    protected = _protect(act, _table_request(release, row), policy, job, _Frames(act), before_seq=release.seq,
                         replay=list(rec.extra))
    same = False
    if protected.refusal is None:
        files = render(protected, stored["metadata"])
        same = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()} == release.files
    return {"release_id": release.id, "seq": release.seq, "reproduced": same,
            "how": f"recomputed with the {(release.seq or 1) - 1} release(s) before it"}


def _changed_since(act: Acting, release: db.Release) -> str | None:
    """Why the history a release was protected with can no longer be rebuilt as it stood, or None: an erasure
    since took a child from its job or an earlier one's, or retention deleted an earlier release's job."""
    upto = list(_releases(act.session, (release.seq or 0) + 1))
    ids = {r.id for r in upto}
    made = release.created_at.replace(tzinfo=None)
    erased = [e.id for e in act.session.scalars(select(db.Erasure).order_by(db.Erasure.created_at, db.Erasure.id))
              if e.created_at.replace(tzinfo=None) >= made and ids & set(e.releases or [])]
    if erased:
        return f"erasure {', '.join(erased)} since removed records of its link job or an earlier release's"
    gone = [r.id for r in upto if r.id != release.id and act.session.get(db.Job, r.job_id) is None
            and _deleted_after(act.session, r.job_id, release)]
    if gone:
        return f"retention deleted the link job of the earlier release(s) {', '.join(gone)}"
    return None


def _deleted_after(session, job_id: str, release: db.Release) -> bool:
    """Whether a link job went after `release` was made (by the order of their audit events; a deletion the
    log does not show counts as after)."""
    def first(*where) -> int | None:
        return session.scalar(select(func.min(db.AuditEvent.seq)).where(db.AuditEvent.outcome == "ok", *where))

    made = first(db.AuditEvent.action == "release", db.AuditEvent.request_id == release.request_id)
    deleted = first(db.AuditEvent.action == "retention.apply", db.AuditEvent.job_id == job_id)
    return made is None or deleted is None or deleted > made


def verify_all(act: Acting) -> list[dict]:
    """release verify for every release, in the order they were made."""
    return [verify_release(act, r.id) for r in _releases(act.session)]


def verify_releases(app, release_id: str | None) -> list[dict]:
    """The release.verify action: recomputed on a read snapshot (no lock held while it runs), then one
    audited event with the outcome; a release that does not reproduce makes the outcome `mismatch`."""
    results: list[dict] = []
    failure: TTPError | None = None
    with app.reading("release.verify") as reader:
        if reader is not None:
            try:
                results = verify_all(reader) if release_id is None else [verify_release(reader, release_id)]
            except TTPError as exc:
                failure = exc
    with app.acting("release.verify", {"release": release_id} if release_id else {}) as act:
        if failure is not None:
            raise failure
        bad = [r["release_id"] for r in results if r["reproduced"] is False]
        act.counts.update({"releases": len(results), "not_reproduced": len(bad)})
        act.outcome = "ok" if not bad else "mismatch"
    return results


def release_doc(act: Acting, release_id: str) -> dict:
    """What is known of a release: who asked, who approved, the files; for a privacy officer also why its
    cells are hidden and which earlier releases shaped it."""
    release = get_release(act.session, release_id)
    row = get_request(act.session, release.request_id)
    if act.user.role == "researcher" and row.requester != act.user.name:
        raise NotFound(f"unknown release {release_id!r}: `ttp release list` shows them")
    doc = {"release_id": release.id, "seq": release.seq, "request_id": row.id, "requester": row.requester,
           "approved_by": row.decided_by, "policy": f"{release.policy_name} v{release.policy_version}",
           "job_id": release.job_id, "created_at": release.created_at.isoformat(), "files": sorted(release.files),
           "erasures": erasures_of_release(act.session, release.id), "files_removed": removed_on(release)}
    stored = release.released_table
    if act.user.role == "privacy-officer":
        doc["suppressions"] = stored.get("reasons", [])
        doc["constrained_by"] = stored.get("constrained_by", [])
    return doc


def removed_on(release: db.Release) -> str | None:
    """The day retention removed a release's files (its row and history stay), or None."""
    return None if release.removed_at is None else release.removed_at.date().isoformat()


def list_releases(act: Acting) -> list[dict]:
    rows = []
    for release in _releases(act.session):
        row = get_request(act.session, release.request_id)
        if act.user.role == "researcher" and row.requester != act.user.name:
            continue
        rows.append({"release_id": release.id, "seq": release.seq, "request_id": row.id,
                     "requester": row.requester, "policy": f"{release.policy_name} v{release.policy_version}",
                     "created_at": release.created_at.isoformat()})
    return rows


def stored_protected(act: Acting, release: db.Release) -> ProtectedTable:
    """What a stored release showed, as a ProtectedTable (for factsheets), without protecting it again."""
    frames = _Frames(act)
    table, policy, rec = _release_table(act, release, frames)
    try:
        return shown_release(rec, table, policy)
    except PoliciesError as exc:
        raise TTPError(str(exc)) from None


def render_factsheet(act: Acting, release_id: str, out: Path) -> None:
    from policies.factsheet import render_factsheet as render_pdf

    external = act.session.get(db.RecipientRelease, release_id)
    if external is not None and external.kind == "external":
        if act.user.role == "researcher":  # tables back from a recipient are the office's, as `release list` shows
            raise NotFound(f"unknown release {release_id!r}: `ttp release list` shows them")
        from .cbs import external_factsheet

        act.objects["release"] = release_id
        out.write_bytes(external_factsheet(act, external))
        return
    release = get_release(act.session, release_id)
    act.objects["release"] = release.id
    row = get_request(act.session, release.request_id)
    if act.user.role == "researcher" and row.requester != act.user.name:
        raise NotFound(f"unknown release {release_id!r}: `ttp release list` shows them")
    stored = json.loads((act.app.settings.release_dir(release.id) / "release.json").read_text(encoding="utf-8"))
    out.write_bytes(render_pdf(stored_protected(act, release), stored["metadata"]))


# --- school register --------------------------------------------------------------------------------------

_BRIN = ("BRIN NUMMER", "BRINNUMMER", "BRIN")
_VESTIGING = ("VESTIGINGSNUMMER", "VESTIGINGSCODE")
_MUNICIPALITY = ("GEMEENTENUMMER", "GEMEENTECODE", "GEMEENTENAAM", "GEMEENTE")  # the CBS code when given
_BOARD = ("BEVOEGD GEZAG NUMMER", "BEVOEGD GEZAG")
_NAME = ("VESTIGINGSNAAM", "INSTELLINGSNAAM")
_PLACE = ("PLAATSNAAM", "VESTIGINGSPLAATS")
_MUNICIPALITY_NAME = ("GEMEENTENAAM",)
_PROVINCE = ("PROVINCIE",)


def _column(header: Sequence[str], names: tuple[str, ...]) -> str | None:
    upper = {h.strip().upper(): h for h in header}
    return next((upper[n] for n in names if n in upper), None)


def import_schools(act: Acting, path: Path) -> int:
    """Read DUO's open school register layout (BRIN, vestiging, board, municipality) into the register."""
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig", errors="strict") if _utf8(raw) else raw.decode("cp1252")
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=";,\t")
    except csv.Error:
        raise TTPError(f"{path}: not a school register (cannot tell its delimiter)") from None
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = reader.fieldnames or []
    brin, vest = _column(header, _BRIN), _column(header, _VESTIGING)
    if brin is None:
        raise TTPError(f"{path}: no BRIN NUMMER column: not DUO's school register layout")
    muni, board, name = _column(header, _MUNICIPALITY), _column(header, _BOARD), _column(header, _NAME)
    words = {"place": _column(header, _PLACE), "municipality_name": _column(header, _MUNICIPALITY_NAME),
             "province": _column(header, _PROVINCE)}
    n = 0
    for rec in reader:
        code = (rec.get(brin) or "").strip().upper()
        if not code:
            continue
        dep = (rec.get(vest) or "").strip().upper() if vest else ""
        if dep.startswith(code):
            dep = dep[len(code):]
        key = code + (dep.zfill(2) if dep else "00")
        school = act.session.get(db.School, key) or db.School(brin=key)
        school.name = (rec.get(name) or "").strip() if name else None
        place = (rec.get(muni) or "").strip() if muni else ""
        school.municipality = place.zfill(4) if place.isdigit() else (place or None)
        school.board = (rec.get(board) or "").strip() if board else None
        for field, column in words.items():
            setattr(school, field, ((rec.get(column) or "").strip() or None) if column else None)
        act.session.add(school)
        n += 1
    act.details["file_sha256"] = hashlib.sha256(raw).hexdigest()
    return n


def get_school(session, code: str) -> db.School | None:
    """A school of the register by BRIN + vestiging (`01QW00`; a bare BRIN is its main site, `00`)."""
    code = code.strip().upper()
    return session.get(db.School, code if len(code) == 6 else code + "00")


def schools_of_board(session, board: str) -> list[db.School]:
    """The register's schools of one board (bevoegd gezag), by code."""
    return list(session.scalars(select(db.School).where(db.School.board == board.strip()).order_by(db.School.brin)))


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
