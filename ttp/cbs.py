"""The CBS route: a `cbs-delivery` request, checked and approved like any request, released as microdata.

Per person of the population: a pseudonym for this recipient and project only, the attributes the policy
allows over the school years, and the identity blobs its suppliers sealed to the recipient (which the TTP
cannot open). The files are signed with the TTP's audit-signing key; no plaintext identifier is in them.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from keys import envelope, identity
from keys.delivery import canonical
from keys.derive import project_pseudonyms
from policies.errors import PoliciesError
from policies.external import disclosure_problems, parse_external
from policies.microdata import (
    KIND,
    MicrodataRequest,
    check_microdata,
    load_microdata_request,
    microdata_rows,
)
from policies.policy import load_policy

from . import db
from .app import Acting
from .errors import TTPError
from .ids import new_id
from .linkjob import job_batches
from .persons import person_records
from .recipients import active_recipient
from .staging import left_behind, move_on_commit, staging_folder
from .suppliers import IDENTITIES

MICRODATA, IDENTITY_FILE, MANIFEST, SIGNATURE = "microdata.csv", "identities.csv", "manifest.json", "manifest.sig"
FORMAT = "ttp-recipient-release/v1"


def _load(text: str, origin: str) -> MicrodataRequest:
    try:
        return load_microdata_request(text)
    except PoliciesError as exc:
        raise TTPError(f"{origin}: {exc}") from None


def check(act: Acting, request: MicrodataRequest, policy_row: db.Policy, job: db.Job | None) -> dict:
    """The policy check of a cbs-delivery request: the policy's [microdata] section, an approved recipient,
    a link job covering the population."""
    problems = check_microdata(request, load_policy(policy_row.text, policy_row.name))
    recipient = act.session.get(db.Recipient, request.recipient)
    if recipient is None or recipient.status != "active":
        problems.append(f"recipient {request.recipient} is not a registered, approved recipient")
    if job is None:
        problems.append("no link job covers the request's population yet")
    return {"ok": not problems, "problems": problems, "detail": [], "kind": KIND}


def submit_microdata(act: Acting, text: str, origin: str) -> db.Request:
    """Store a cbs-delivery request and its check (status `checked` when it passes)."""
    from .exporting import _latest_job, get_policy

    request = _load(text, origin)
    policy_row = get_policy(act.session, request.policy)
    job = act.session.get(db.Job, request.link_job) if request.link_job else _latest_job(act.session,
                                                                                           request.population)
    if request.link_job and job is None:
        raise TTPError(f"unknown link job {request.link_job!r} named by the request")
    result = check(act, request, policy_row, job)
    sha = hashlib.sha256(text.encode()).hexdigest()
    row = db.Request(id=new_id("r"), requester=act.user.name, policy_name=policy_row.name,
                     policy_version=policy_row.version, text=text, sha256=sha,
                     status="checked" if result["ok"] else "submitted", check=result, job_id=job.id if job else None)
    act.session.add(row)
    act.session.flush()
    act.objects.update({"request": row.id, "recipient": request.recipient, **({"job": job.id} if job else {})})
    act.details.update({"kind": KIND, "policy": policy_row.name, "policy_version": policy_row.version,
                        "policy_sha256": policy_row.sha256, "request_sha256": sha, "project": request.project,
                        "attributes": list(request.attributes), "check_ok": result["ok"], "status": row.status})
    return row


def produce_delivery(act: Acting, row: db.Request, out: Path | None) -> dict:
    """Write the approved cbs-delivery once (the release action checked that it may be released into `out`):
    microdata, identity blobs, manifest and signature."""
    from .exporting import get_policy

    request = _load(row.text, f"request {row.id}")
    policy_row = get_policy(act.session, row.policy_name, row.policy_version)
    job = act.session.get(db.Job, row.job_id) if row.job_id else None
    if job is None:
        raise TTPError(f"request {row.id} names no link job that exists")
    again = check(act, request, policy_row, job)  # the recipient may have been denied since the approval
    if not again["ok"]:
        raise TTPError(f"request {row.id}: {again['problems'][0]}")
    recipient = active_recipient(act.session, request.recipient)
    files, persons, blobs = _files(act, request, job)
    release_id = new_id("rel")
    manifest = {
        "format": FORMAT, "release_id": release_id, "request_id": row.id, "request_sha256": row.sha256,
        "recipient": recipient.name, "recipient_key": recipient.fingerprint, "project": request.project,
        "purpose": request.purpose, "policy": policy_row.name, "policy_version": policy_row.version,
        "policy_hash": policy_row.sha256, "link_job": job.id, "approved_by": row.decided_by,
        "created": db.utcnow().isoformat(), "persons": persons, "identities": blobs,
        "pseudonym": "hmac-sha256/hkdf(ttp key, recipient|project)/v1", "identity_scheme": identity.SCHEME,
        "attributes": list(request.attributes),
        "files": [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in files.items()],
    }
    manifest_bytes = canonical(manifest)
    files[MANIFEST] = manifest_bytes
    files[SIGNATURE] = envelope.sign_release(act.app.keystore.signing_key(), manifest_bytes)
    stored = act.app.settings.release_dir(release_id)
    act.counts.update(left_behind(act, stored.parent, db.Release.id, db.RecipientRelease.id))
    tmp = staging_folder(stored.parent, release_id)
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        sums = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
        act.session.add(db.RecipientRelease(id=release_id, kind="delivery", request_id=row.id,
                                            recipient=recipient.name, project=request.project, job_id=job.id,
                                            files=sums, size=persons, created_by=act.user.name))
        row.status, row.updated_at = "released", db.utcnow()
        act.objects.update({"request": row.id, "release": release_id, "job": job.id, "recipient": recipient.name})
        act.counts.update({"persons": persons, "identities": blobs})
        act.details.update({"kind": KIND, "project": request.project, "recipient_key": recipient.fingerprint,
                            "policy_sha256": policy_row.sha256, "request_sha256": row.sha256, "files": sums})
        act.session.flush()
        act.record()
        move_on_commit(act.session, tmp, stored)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out / name).write_bytes(data)
    return {"release_id": release_id, "request_id": row.id, "kind": KIND, "recipient": recipient.name,
            "project": request.project, "persons": persons, "identities": blobs, "files": sorted(files),
            "suppressed": 0, **({"out": str(out)} if out is not None else {})}


def _files(act: Acting, request: MicrodataRequest, job: db.Job) -> tuple[dict[str, bytes], int, int]:
    """microdata.csv and identities.csv: the population's persons under this recipient's and project's
    pseudonyms; the counts of persons and of identity blobs."""
    person_map, records = person_records(act.app, act.session, job)
    in_all = None
    for source in request.population:
        members = set(person_map.loc[person_map["source"] == source, "person_id"])
        in_all = members if in_all is None else in_all & members
    persons = sorted(in_all or set())
    secret = act.app.keystore.secret(act.app.keystore.active("linkage").id)
    pseudonym = dict(zip(persons, project_pseudonyms(secret, request.recipient, request.project, persons),
                         strict=True))
    rows = microdata_rows(records, pd.Series(persons, dtype=object), list(request.attributes))
    rows.insert(0, "pseudonym", rows.pop("person_id").map(pseudonym))
    rows = rows.sort_values(["pseudonym", "school_year", "source"], kind="stable")
    micro = rows.to_csv(index=False, lineterminator="\n").encode("utf-8")
    blobs = _identity_blobs(act, job, person_map, set(persons), request.recipient)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["pseudonym", "source", "identity"])
    written = sorted((pseudonym[p], source, base64.b64encode(blob).decode("ascii")) for p, source, blob in blobs)
    writer.writerows(written)
    return {MICRODATA: micro, IDENTITY_FILE: buffer.getvalue().encode("ascii")}, len(persons), len(written)


def _identity_blobs(act: Acting, job: db.Job, person_map: pd.DataFrame, persons: set[str],
                    recipient: str) -> list[tuple[str, str, bytes]]:
    """(person, source, blob) for every record of the persons whose supplier sealed an identity to the
    recipient; the blobs are passed on as they came."""
    person_of = dict(zip(person_map["record_id"].astype(str), person_map["person_id"].astype(str), strict=True))
    out = []
    for batch in job_batches(act.session, job):
        path = act.app.settings.batch_dir(batch.id) / IDENTITIES
        if not path.exists():
            continue
        table = pq.read_table(path).to_pandas()
        table = table[table["recipient"] == recipient]
        for record_id, blob in zip(table["record_id"].astype(str), table["blob"], strict=True):
            person = person_of.get(record_id)
            if person in persons:
                out.append((person, batch.source, bytes(blob)))
    return out


def read_release(folder: Path) -> tuple[bytes, bytes, dict[str, bytes]]:
    """At the recipient: the manifest, its signature and the data files of a release folder."""
    try:
        manifest, signature = (folder / MANIFEST).read_bytes(), (folder / SIGNATURE).read_bytes()
        names = [str(f["name"]) for f in json.loads(manifest)["files"]]
        return manifest, signature, {n: (folder / n).read_bytes() for n in names}
    except (OSError, ValueError, KeyError, TypeError):
        raise TTPError(f"{folder}: not a complete recipient release (manifest.json, manifest.sig and its files)") \
            from None


# --- results back: tables out of the recipient's output check ------------------------------------------------

EXTERNAL_TABLE, EXTERNAL_META = "table.csv", "external.json"


def import_external(act: Acting, path: Path, recipient_name: str, delivery_id: str, title: str) -> dict:
    """Import a table that came out of the recipient's environment as an external release, after ttp's own
    disclosure rules (the threshold of the delivery's policy) passed on every cell; refused in one line."""
    from .exporting import get_policy

    delivery = act.session.get(db.RecipientRelease, delivery_id)
    if delivery is None or delivery.kind != "delivery":
        raise TTPError(f"unknown delivery {delivery_id!r}: an external table comes back from a cbs-delivery "
                       "release (`ttp release list` shows them)")
    if delivery.recipient != recipient_name:
        raise TTPError(f"delivery {delivery_id} went to {delivery.recipient}, not to {recipient_name}")
    active_recipient(act.session, recipient_name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TTPError(f"{path}: cannot read ({exc.strerror})") from None
    request_row = act.session.get(db.Request, delivery.request_id)
    if request_row is None:
        raise TTPError(f"delivery {delivery_id}: its request is gone")
    policy_row = get_policy(act.session, request_row.policy_name, request_row.policy_version)
    threshold = load_policy(policy_row.text, policy_row.name).disclosure.min_cell_count
    act.objects.update({"recipient": recipient_name, "release": delivery_id})
    act.details.update({"sha256": hashlib.sha256(data).hexdigest(), "policy": policy_row.name,
                        "policy_version": policy_row.version, "threshold": threshold})
    try:
        table = parse_external(data)
    except PoliciesError as exc:
        raise TTPError(f"{path}: {exc}") from None
    problems = disclosure_problems(table, threshold)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise TTPError(f"{path}: {problems[0]}{more}: not imported")
    release_id = new_id("ext")
    meta = {"release_id": release_id, "external": True, "recipient": recipient_name, "project": delivery.project,
            "derived_from": delivery_id, "title": title, "policy": policy_row.name,
            "policy_version": policy_row.version, "threshold": threshold, "labels": list(table.labels),
            "counts": list(table.counts), "rows": len(table.rows), "imported_by": act.user.name,
            "imported": db.utcnow().isoformat()}
    files = {EXTERNAL_TABLE: data, EXTERNAL_META: canonical(meta)}
    stored = act.app.settings.release_dir(release_id)
    act.counts.update(left_behind(act, stored.parent, db.Release.id, db.RecipientRelease.id))
    tmp = staging_folder(stored.parent, release_id)
    try:
        for name, blob in files.items():
            (tmp / name).write_bytes(blob)
        sums = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
        act.session.add(db.RecipientRelease(id=release_id, kind="external", recipient=recipient_name,
                                            project=delivery.project, derived_from=delivery_id, title=title,
                                            files=sums, size=len(table.rows), created_by=act.user.name))
        act.objects["external"] = release_id
        act.counts.update({"rows": len(table.rows), "cells": len(table.rows) * len(table.counts)})
        act.details["files"] = sums
        act.session.flush()
        act.record()
        move_on_commit(act.session, tmp, stored)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def recipient_releases(act: Acting) -> list[dict]:
    """The deliveries made for recipients and the external tables that came back, oldest first."""
    from sqlalchemy import select

    rows = act.session.scalars(select(db.RecipientRelease).order_by(db.RecipientRelease.created_at))
    return [{"release_id": r.id, "kind": r.kind, "external": r.kind == "external", "recipient": r.recipient,
             "project": r.project, "request_id": r.request_id, "derived_from": r.derived_from, "title": r.title,
             "size": r.size, "created_at": r.created_at.isoformat(),
             "files_removed": r.removed_at.date().isoformat() if r.removed_at else None} for r in rows]


def external_tables(act: Acting) -> list[tuple[str, str, bytes]]:
    """The tables that came back from recipients, oldest first: (id, title, table bytes), each checked against
    the sums recorded at its import (a changed file is refused in one line)."""
    from sqlalchemy import select

    out = []
    rows = act.session.scalars(select(db.RecipientRelease).where(db.RecipientRelease.kind == "external",
                                                                 db.RecipientRelease.removed_at.is_(None))
                               .order_by(db.RecipientRelease.created_at))
    for r in rows:
        path = act.app.settings.release_dir(r.id) / EXTERNAL_TABLE
        try:
            data = path.read_bytes()
        except OSError:
            raise TTPError(f"imported table {r.id}: its file is gone ({path})") from None
        if r.files.get(EXTERNAL_TABLE) != hashlib.sha256(data).hexdigest():
            raise TTPError(f"imported table {r.id}: its {EXTERNAL_TABLE} is not what was imported")
        out.append((r.id, r.title or r.id, data))
    return out


def external_factsheet(act: Acting, row: db.RecipientRelease) -> bytes:
    """The factsheet PDF of a table that came back from a recipient, from its files as imported."""
    from policies.factsheet import render_external_factsheet

    folder = act.app.settings.release_dir(row.id)
    if row.removed_at is not None:
        raise TTPError(f"imported table {row.id}: its files were removed by retention on "
                       f"{row.removed_at.date().isoformat()}")
    try:
        data, meta = (folder / EXTERNAL_TABLE).read_bytes(), (folder / EXTERNAL_META).read_bytes()
    except OSError:
        raise TTPError(f"imported table {row.id}: its files are gone ({folder})") from None
    for name, blob in ((EXTERNAL_TABLE, data), (EXTERNAL_META, meta)):
        if row.files.get(name) != hashlib.sha256(blob).hexdigest():
            raise TTPError(f"imported table {row.id}: its {name} is not what was imported")
    return render_external_factsheet(parse_external(data), json.loads(meta))
