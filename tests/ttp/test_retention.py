"""Retention apply, crypto-shredding of deleted batches, re-wrapping on rotation and destroying retired keys."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from keys import seal
from keys.errors import SealError
from keys.keystore import Keystore
from tests.privacy import dump_database
from ttp import db
from ttp.demo.generate import generate_cohort

EXAMPLES = Path(__file__).resolve().parents[2] / "policies" / "examples"
RETENTION = '\n[retention]\njobs = "3y"\n[retention.sources]\nvve = "1y"\nmbo = 1000\n'


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    generate_cohort(out, persons=120, seed=11)
    return out


def ingest(env, cohort, source) -> str:
    result = env.run("--as", "olga", "ingest", str(cohort / f"{source}.csv"), "--source", source,
                     "--profile", str(cohort / f"{source}.toml"), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["batch_id"]


def policy_in_force(env, tmp_path, text: str) -> None:
    """The monitor policy with `text` appended, added by one officer and approved by another."""
    assert env.run("--as", "olga", "users", "add", "petra", "--role", "privacy-officer").exit_code == 0
    assert env.run("--as", "pieter", "users", "approve", "petra").exit_code == 0
    path = tmp_path / "monitor.toml"
    path.write_text((EXAMPLES / "monitor.toml").read_text(encoding="utf-8") + text, encoding="utf-8")
    added = env.run("--as", "pieter", "policy", "add", str(path))
    assert added.exit_code == 0, added.output
    assert env.run("--as", "petra", "policy", "approve", "monitor", "1").exit_code == 0


def batch_row(env, batch_id: str) -> db.Batch | None:
    engine = create_engine(env.database_url)
    try:
        with Session(engine) as session:
            return session.get(db.Batch, batch_id)
    finally:
        engine.dispose()


def test_retention_deletes_what_is_past_its_period_shreds_the_keys_and_a_crash_is_completed(
        installed, cohort, tmp_path, monkeypatch):
    vve, mbo = ingest(installed, cohort, "vve"), ingest(installed, cohort, "mbo")
    both = json.loads(installed.run("--as", "olga", "link", "run", "vve", "mbo", "--json").stdout)["job_id"]
    alone = json.loads(installed.run("--as", "olga", "link", "run", "mbo", "--json").stdout)["job_id"]
    nothing = installed.run("--as", "olga", "retention", "apply", "--json")
    assert nothing.exit_code == 0 and json.loads(nothing.stdout)["counts"]["batches"] == 0
    assert "no policy in force has a [retention] section" in installed.run("--as", "olga", "retention",
                                                                           "apply").stdout
    policy_in_force(installed, tmp_path, RETENTION)

    folder = installed.data_dir / "batches" / vve
    copies = {name: (folder / name).read_bytes() for name in ("payload.sealed", "quarantine.sealed")}
    row = batch_row(installed, vve)
    assert row is not None
    wrapped = [row.wrapped_payload_key, row.wrapped_quarantine_key]

    in_400_days = (dt.date.today() + dt.timedelta(days=400)).isoformat()
    assert installed.run("--as", "rosa", "retention", "apply", "--as-of", in_400_days).exit_code == 1
    dry = installed.run("--as", "olga", "retention", "apply", "--dry-run", "--as-of", in_400_days, "--json")
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)
    assert [b["batch_id"] for b in planned["batches"]] == [vve]
    assert [(j["job_id"], j["reason"]) for j in planned["jobs"]] == [(both, "batch")]
    assert planned["periods"]["sources"]["mbo"]["period"] == "1000d" and folder.exists()
    assert batch_row(installed, vve) is not None

    # a crash just after the commit: the rows are gone, the folders not yet
    monkeypatch.setattr("ttp.retention.remove_folders", lambda folders: None)
    done = installed.run("--as", "olga", "retention", "apply", "--as-of", in_400_days, "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["counts"] == {"batches": 1, "records": row.accepted, "jobs": 1,
                                                 "quarantined_rows": row.quarantined, "release_files": 0}
    assert batch_row(installed, vve) is None and folder.exists()
    monkeypatch.undo()
    trash = installed.data_dir / "jobs" / ".trash-1-j_half_removed"  # a removal killed half-way
    trash.mkdir()
    again = json.loads(installed.run("--as", "olga", "retention", "apply", "--as-of", in_400_days,
                                     "--json").stdout)
    assert again["counts"]["left_over_removed"] == 3 and again["counts"]["batches"] == 0
    assert not folder.exists() and not trash.exists() and not (installed.data_dir / "jobs" / both).exists()
    assert (installed.data_dir / "jobs" / alone).exists() and (installed.data_dir / "batches" / mbo).exists()
    listed = json.loads(installed.run("--as", "olga", "batches", "list", "--json").stdout)["batches"]
    assert [b["batch_id"] for b in listed] == [mbo]

    # crypto-shredding: the wrapped data keys are nowhere in the database, and no key the installation holds
    # opens the copies of the sealed files
    dumped = dump_database(installed.database_url)
    for blob in wrapped:
        assert base64.b64encode(blob).decode() not in dumped and blob.hex() not in dumped
    if installed.database_url.startswith("sqlite"):
        raw = b"".join(p.read_bytes() for p in installed.data_dir.glob("ttp.db*"))
        assert not any(blob in raw for blob in wrapped)  # secure_delete zeroed the freed pages
    store = Keystore.open(installed.data_dir / "keystore.ttpkeys", installed.passphrase)
    for entry in store.entries():
        for name, sealed in copies.items():
            with pytest.raises(SealError):
                seal.unseal(store.secret(entry.id), sealed, f"ttp/{name.split('.')[0]}/{vve}".encode())

    events = json.loads(installed.run("--as", "pieter", "audit", "show", "--action", "retention.apply",
                                      "--json").stdout)["events"]
    deleted = [(e["batch_id"], e["job_id"], e["details"]["deleted"]) for e in events if "deleted" in e["details"]]
    assert sorted(deleted, key=str) == sorted([(vve, None, "batch"), (None, both, "job")], key=str)
    assert json.dumps(events).count(f'"records": {row.accepted}') >= 1
    verified = json.loads(installed.run("--as", "pieter", "audit", "verify", "--json").stdout)
    assert verified["ok"], verified

    # the jobs period: four years on, every job goes and the mbo batch (1000 days) too
    later = (dt.date.today() + dt.timedelta(days=4 * 366)).isoformat()
    last = json.loads(installed.run("--as", "olga", "retention", "apply", "--as-of", later, "--json").stdout)
    assert [b["batch_id"] for b in last["batches"]] == [mbo]
    assert [(j["job_id"], j["reason"]) for j in last["jobs"]] == [(alone, "batch")]
    assert not list((installed.data_dir / "batches").iterdir())


def test_a_bad_retention_period_is_refused_in_one_line(installed, tmp_path):
    path = tmp_path / "monitor.toml"
    path.write_text((EXAMPLES / "monitor.toml").read_text(encoding="utf-8")
                    + '\n[retention]\njobs = "2 years"\n', encoding="utf-8")
    refused = installed.run("--as", "pieter", "policy", "add", str(path))
    assert refused.exit_code == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "retention.jobs" in refused.stderr and "line" in refused.stderr


def test_rotation_rewraps_the_data_keys_and_a_retired_key_can_then_be_destroyed(installed, cohort):
    batch = ingest(installed, cohort, "vo")
    before = json.loads(installed.run("--as", "olga", "quarantine", "show", batch, "--json").stdout)["rows"]
    sealed = (installed.data_dir / "batches" / batch / "payload.sealed").read_bytes()
    refused = installed.run("--as", "olga", "keys", "destroy", "payload-v1")
    assert refused.exit_code == 1 and "it is active" in refused.stderr

    for purpose in ("payload", "quarantine"):
        rotated = installed.run("--as", "olga", "keys", "rotate", "--purpose", purpose)
        assert rotated.exit_code == 0 and "re-wrapped" in rotated.stdout and "1 batch " in rotated.stdout
    row = batch_row(installed, batch)
    assert row is not None and (row.payload_key_id, row.quarantine_key_id) == ("payload-v2", "quarantine-v2")
    assert (installed.data_dir / "batches" / batch / "payload.sealed").read_bytes() == sealed  # files untouched

    # a batch wrapped under the old key meanwhile (an ingest that started before the rotation) holds it back
    engine = create_engine(installed.database_url)
    store = Keystore.open(installed.data_dir / "keystore.ttpkeys", installed.passphrase)
    with Session(engine) as session, session.begin():
        b = session.scalars(select(db.Batch)).one()
        aad = f"ttp/payload-key/{batch}".encode()
        data_key = seal.unwrap(store.secret("payload-v2"), b.wrapped_payload_key, aad)
        b.wrapped_payload_key, b.payload_key_id = seal.wrap(store.secret("payload-v1"), data_key, aad), "payload-v1"
    engine.dispose()
    for key in ("payload-v1", "quarantine-v1", "linkage-v1"):
        if key == "linkage-v1":
            assert installed.run("--as", "olga", "keys", "rotate", "--purpose", "linkage").exit_code == 0
        assert installed.run("--as", "olga", "keys", "retire", key).exit_code == 0
    held = installed.run("--as", "olga", "keys", "destroy", "payload-v1")
    assert held.exit_code == 1 and "keys rewrap --purpose payload" in held.stderr
    assert installed.run("--as", "olga", "keys", "rewrap", "--purpose", "payload").exit_code == 0
    keyed = installed.run("--as", "olga", "keys", "destroy", "linkage-v1")
    assert keyed.exit_code == 1 and "keyed with it" in keyed.stderr
    signing = installed.run("--as", "olga", "keys", "destroy", "audit-signing-v1")
    assert signing.exit_code == 1 and "checkpoints" in signing.stderr
    for key in ("payload-v1", "quarantine-v1"):
        destroyed = installed.run("--as", "olga", "keys", "destroy", key)
        assert destroyed.exit_code == 0, destroyed.output

    store = Keystore.open(installed.data_dir / "keystore.ttpkeys", installed.passphrase)
    previous = Keystore.open(installed.data_dir / "keystore.ttpkeys.bak", installed.passphrase)
    for kept in (store, previous):
        assert not {"payload-v1", "quarantine-v1"} & {e.id for e in kept.entries()}
    assert json.loads(installed.run("--as", "olga", "quarantine", "show", batch, "--json").stdout)["rows"] == before
    events = json.loads(installed.run("--as", "pieter", "audit", "show", "--action", "keys.destroy",
                                      "--json").stdout)["events"]
    assert [(e["key_id"], e["outcome"]) for e in events] == [("payload-v1", "failed"), ("payload-v1", "failed"),
                                                             ("linkage-v1", "failed"),
                                                             ("audit-signing-v1", "failed"),
                                                             ("payload-v1", "ok"), ("quarantine-v1", "ok")]
    assert json.loads(installed.run("--as", "pieter", "audit", "verify", "--json").stdout)["ok"]
    shutil.rmtree(installed.data_dir / "batches")  # nothing else to check; the privacy scan needs no files


def test_a_release_past_its_period_keeps_its_row_and_says_its_files_were_removed(installed, tmp_path):
    policy_in_force(installed, tmp_path, '\n[retention]\nreleases = "1y"\n')
    engine = create_engine(installed.database_url)
    with Session(engine) as session, session.begin():
        session.add(db.Request(id="req_1", requester="rosa", policy_name="monitor", policy_version=1, text="",
                               sha256="0" * 64, status="released", check={}))
        session.flush()
        session.add(db.Release(id="rel_1", request_id="req_1", job_id="j_gone", policy_name="monitor",
                               policy_version=1, files={"table.csv": "0" * 64}, released_table={"format": 2},
                               created_by="olga", seq=1))
    engine.dispose()
    folder = installed.data_dir / "releases" / "rel_1"
    folder.mkdir(parents=True)
    (folder / "table.csv").write_text("school,pupils\n", encoding="utf-8")
    soon = installed.run("--as", "olga", "retention", "apply", "--json")
    assert json.loads(soon.stdout)["releases"] == [] and folder.exists()
    later = (dt.date.today() + dt.timedelta(days=400)).isoformat()
    done = installed.run("--as", "olga", "retention", "apply", "--as-of", later)
    assert done.exit_code == 0 and "deleted the files of release rel_1 (monitor" in done.stdout
    assert not folder.exists()
    shown = installed.run("--as", "pieter", "release", "show", "rel_1")
    assert shown.exit_code == 0 and f"(removed by retention on {later})" in shown.stdout
    verified = installed.run("--as", "pieter", "release", "verify", "rel_1", "--json")
    assert verified.exit_code == 0, verified.output
    result = json.loads(verified.stdout)
    assert result["ok"] and result["releases"][0]["reproduced"] is None
    assert "removed by retention" in result["releases"][0]["how"]
    listed = json.loads(installed.run("--as", "pieter", "release", "list", "--json").stdout)
    assert "rel_1" in json.dumps(listed)
    assert installed.run("--as", "olga", "retention", "apply", "--as-of", later, "--json").exit_code == 0
