"""The export layer's shell: policies, the request lifecycle, releases and the school register."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

from sqlalchemy import func, select

from policies import lifecycle
from policies.differencing import ReleasedTable
from policies.disclosure import protect
from policies.errors import PoliciesError
from policies.policy import load_policy, policy_hash
from policies.release import render
from policies.request import check_request, load_request
from policies.table import compute_table

from . import db
from .errors import TTPError
from .ids import new_id
from .persons import build_persons

__all__ = ["TTPError"]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TTPError(f"{path}: cannot read ({type(exc).__name__})") from None


# --- policies ---------------------------------------------------------------------------------------------


def add_policy(act, path: Path, name: str | None) -> db.Policy:
    """Register a policy file as the next version of its name; a policy that does not parse is refused."""
    return add_policy_text(act, _read_text(path), name or path.stem, str(path))


def add_policy_text(act, text: str, name: str, origin: str = "policy") -> db.Policy:
    """Register policy text as the next version of `name`."""
    try:
        load_policy(text, name)
    except PoliciesError as exc:
        raise TTPError(f"{origin}: {exc}") from None
    latest = act.session.scalar(select(func.max(db.Policy.version)).where(db.Policy.name == name)) or 0
    row = db.Policy(name=name, version=latest + 1, text=text, sha256=policy_hash(text), added_by=act.user.name)
    act.session.add(row)
    act.session.flush()
    act.details.update({"policy": name, "version": row.version, "policy_sha256": row.sha256})
    return row


def get_policy(session, name: str, version: int | None = None) -> db.Policy:
    query = select(db.Policy).where(db.Policy.name == name)
    query = query.where(db.Policy.version == version) if version else query.order_by(db.Policy.version.desc())
    row = session.scalars(query.limit(1)).first()
    if row is None:
        raise TTPError(f"unknown policy {name!r}" + (f" version {version}" if version else "")
                       + ": `ttp policy list` shows them")
    return row


def _policy_model(row: db.Policy):
    return load_policy(row.text, row.name)


# --- requests ---------------------------------------------------------------------------------------------


def _earlier_releases(session, policy_name: str, exclude: str | None = None) -> list[ReleasedTable]:
    rows = session.scalars(select(db.Release).where(db.Release.policy_name == policy_name)
                           .order_by(db.Release.created_at)).all()
    return [ReleasedTable.model_validate(r.released_table) for r in rows if r.id != exclude]


def _latest_job(session, population: list[str]) -> db.Job | None:
    for job in session.scalars(select(db.Job).order_by(db.Job.created_at.desc(), db.Job.id.desc())):
        if set(population) <= set(job.sources):
            return job
    return None


def _check(act, request, policy_row: db.Policy, job: db.Job | None, exclude_release: str | None = None) -> dict:
    """The policy check of a request, with the differencing check against earlier releases."""
    policy = _policy_model(policy_row)
    earlier = _earlier_releases(act.session, policy_row.name, exclude_release)
    table = None
    if job is not None:
        persons = build_persons(act.app, act.session, job)
        try:
            table = compute_table(persons, request, policy)
        except PoliciesError as exc:
            return {"ok": False, "problems": [str(exc)], "collisions": []}
    result = check_request(request, policy, earlier, table)
    doc = dataclasses.asdict(result)
    if job is None:
        doc["ok"] = False
        doc.setdefault("problems", []).append("no link job covers the request's population yet")
    return doc


def submit(act, path: Path) -> db.Request:
    """Store a request file and its check; a request that does not parse is refused."""
    return submit_text(act, _read_text(path), str(path))


def preview_check(act, text: str) -> dict:
    """The policy check a request would get, without storing anything (the web form shows it first)."""
    try:
        request = load_request(text)
    except PoliciesError as exc:
        return {"ok": False, "problems": [str(exc)], "collisions": []}
    policy_row = get_policy(act.session, request.policy)
    job = act.session.get(db.Job, request.link_job) if request.link_job else _latest_job(act.session,
                                                                                           request.population)
    return _check(act, request, policy_row, job)


def submit_text(act, text: str, origin: str = "request") -> db.Request:
    """Store request text and its check; a request that does not parse is refused."""
    try:
        request = load_request(text)
    except PoliciesError as exc:
        raise TTPError(f"{origin}: {exc}") from None
    policy_row = get_policy(act.session, request.policy)
    job = act.session.get(db.Job, request.link_job) if request.link_job else _latest_job(act.session,
                                                                                           request.population)
    if request.link_job and job is None:
        raise TTPError(f"unknown link job {request.link_job!r} named by the request")
    check = _check(act, request, policy_row, job)
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
    return row


def get_request(session, request_id: str) -> db.Request:
    row = session.get(db.Request, request_id)
    if row is None:
        raise TTPError(f"unknown request {request_id!r}: `ttp request list` shows them")
    return row


def _request_doc(row: db.Request) -> dict:
    purpose = ""
    try:
        purpose = load_request(row.text).purpose
    except PoliciesError:
        pass
    return {"request_id": row.id, "requester": row.requester, "policy": f"{row.policy_name} v{row.policy_version}",
            "status": row.status, "purpose": purpose, "job_id": row.job_id, "decided_by": row.decided_by,
            "reason": row.reason, "created_at": row.created_at.isoformat()}


def list_requests(act) -> list[dict]:
    query = select(db.Request).order_by(db.Request.created_at)
    if act.user.role == "researcher":
        query = query.where(db.Request.requester == act.user.name)
    return [_request_doc(r) for r in act.session.scalars(query)]


def show_request(act, request_id: str) -> dict:
    row = get_request(act.session, request_id)
    if act.user.role == "researcher" and row.requester != act.user.name:
        raise TTPError(f"request {request_id} is not yours")
    doc = _request_doc(row)
    doc.update({"check": row.check, "text": row.text})
    release = act.session.scalars(select(db.Release).where(db.Release.request_id == row.id)).first()
    doc["release_id"] = release.id if release else None
    return doc


def decide_request(act, request_id: str, decision: str, reason: str) -> db.Request:
    """Approve or deny: a privacy officer who is not the requester, on a checked request."""
    row = get_request(act.session, request_id)
    policy_row = get_policy(act.session, row.policy_name, row.policy_version)
    act.objects["request"] = row.id
    act.details.update({"policy_sha256": policy_row.sha256, "request_sha256": row.sha256, "reason": reason})
    try:
        new_state = lifecycle.transition(row.status, decision, act.user.name, act.user.role, row.requester,
                                         _policy_model(policy_row))
    except PoliciesError as exc:
        raise TTPError(str(exc)) from None
    row.status, row.decided_by, row.reason = ("approved" if new_state == "released" else new_state,
                                              act.user.name, reason)
    row.updated_at = db.utcnow()
    act.details["status"] = new_state
    if new_state == "released":  # the policy releases at approval
        act.session.flush()
        doc = produce_release(act, row)
        act.objects["release"] = doc["release_id"]
    return row


# --- releases ---------------------------------------------------------------------------------------------


def protected_table(act, row: db.Request, exclude_release: str | None = None):
    """The request's table after disclosure control, computed now (what a release would hold)."""
    request = load_request(row.text)
    policy_row = get_policy(act.session, row.policy_name, row.policy_version)
    policy = _policy_model(policy_row)
    job = act.session.get(db.Job, row.job_id)
    if job is None:
        raise TTPError(f"request {row.id} names no link job that exists")
    persons = build_persons(act.app, act.session, job)
    try:
        table = compute_table(persons, request, policy)
        protected = protect(table, policy, _earlier_releases(act.session, policy_row.name, exclude_release))
    except PoliciesError as exc:
        raise TTPError(str(exc)) from None
    return request, policy_row, job, protected


def _metadata(row: db.Request, policy_row: db.Policy, job: db.Job, release_id: str, created_at: str) -> dict:
    return {"release_id": release_id, "request_id": row.id, "request_sha256": row.sha256,
            "requester": row.requester, "approved_by": row.decided_by, "policy": policy_row.name,
            "policy_version": policy_row.version, "policy_hash": policy_row.sha256, "link_job": job.id,
            "created": created_at, "request": row.text}


def make_release(act, request_id: str, out: Path | None) -> dict:
    """Compute, protect and write an approved request's release, once; recorded with its audit event."""
    row = get_request(act.session, request_id)
    if row.status == "released":
        raise TTPError(f"request {request_id} was released already; a release is produced once")
    try:
        lifecycle.transition(row.status, "release", act.user.name, act.user.role, row.requester, None)
    except PoliciesError as exc:
        raise TTPError(str(exc)) from None
    if out is not None and out.exists() and any(out.iterdir()):
        raise TTPError(f"{out} is not empty: give a new folder for the release")
    doc = produce_release(act, row)
    act.record()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name in doc["files"]:
            (out / name).write_bytes((act.app.settings.release_dir(doc["release_id"]) / name).read_bytes())
        doc["out"] = str(out)
    return doc


def produce_release(act, row: db.Request) -> dict:
    """The release of an approved request: files in the data directory, its row, the request released."""
    from policies.differencing import released_table

    request, policy_row, job, protected = protected_table(act, row)
    release_id = new_id("rel")
    created_at = db.utcnow().isoformat()
    metadata = _metadata(row, policy_row, job, release_id, created_at)
    files = render(protected, metadata)
    stored = act.app.settings.release_dir(release_id)
    tmp = stored.with_name(f".tmp-{os.getpid()}-{release_id}")
    tmp.mkdir(parents=True)
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / "release.json").write_text(json.dumps({"metadata": metadata}, sort_keys=True), encoding="utf-8")
        sums = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
        act.session.add(db.Release(
            id=release_id, request_id=row.id, job_id=job.id, policy_name=policy_row.name,
            policy_version=policy_row.version, files=sums,
            released_table=released_table(protected, release_id).model_dump(mode="json"),
            created_by=act.user.name, created_at=db.utcnow(),
        ))
        row.status, row.updated_at = "released", db.utcnow()
        suppressed = int(protected.suppressed.sum())
        act.objects.update({"request": row.id, "release": release_id, "job": job.id})
        act.counts.update({"cells": int(protected.suppressed.size), "suppressed": suppressed})
        act.details.update({"policy_sha256": policy_row.sha256, "request_sha256": row.sha256, "files": sums})
        act.session.flush()
        os.replace(tmp, stored)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"release_id": release_id, "request_id": row.id, "files": sorted(files), "suppressed": suppressed}


def get_release(session, release_id: str) -> db.Release:
    row = session.get(db.Release, release_id)
    if row is None:
        raise TTPError(f"unknown release {release_id!r}")
    return row


def verify_release(act, release_id: str) -> bool:
    """Recompute a release from its recorded job, policy version and request; True when bytes match."""
    release = get_release(act.session, release_id)
    act.objects["release"] = release.id
    row = get_request(act.session, release.request_id)
    stored = json.loads((act.app.settings.release_dir(release.id) / "release.json").read_text(encoding="utf-8"))
    request, policy_row, job, protected = protected_table(act, row, exclude_release=release.id)
    files = render(protected, stored["metadata"])
    recomputed = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
    return recomputed == release.files


def render_factsheet(act, release_id: str, out: Path) -> None:
    from policies.factsheet import render_factsheet as render_pdf

    release = get_release(act.session, release_id)
    act.objects["release"] = release.id
    row = get_request(act.session, release.request_id)
    if act.user.role == "researcher" and row.requester != act.user.name:
        raise TTPError(f"release {release_id} is not yours")
    stored = json.loads((act.app.settings.release_dir(release.id) / "release.json").read_text(encoding="utf-8"))
    _, _, _, protected = protected_table(act, row, exclude_release=release.id)
    out.write_bytes(render_pdf(protected, stored["metadata"]))


# --- school register --------------------------------------------------------------------------------------

_BRIN = ("BRIN NUMMER", "BRINNUMMER", "BRIN")
_VESTIGING = ("VESTIGINGSNUMMER", "VESTIGINGSCODE")
_MUNICIPALITY = ("GEMEENTENAAM", "GEMEENTE")
_BOARD = ("BEVOEGD GEZAG NUMMER", "BEVOEGD GEZAG")
_NAME = ("VESTIGINGSNAAM", "INSTELLINGSNAAM")


def _column(header: list[str], names: tuple[str, ...]) -> str | None:
    upper = {h.strip().upper(): h for h in header}
    return next((upper[n] for n in names if n in upper), None)


def import_schools(act, path: Path) -> int:
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
        school.municipality = (rec.get(muni) or "").strip() if muni else None
        school.board = (rec.get(board) or "").strip() if board else None
        act.session.add(school)
        n += 1
    act.details["file_sha256"] = hashlib.sha256(raw).hexdigest()
    return n


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
