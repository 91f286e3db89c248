"""The audit log as stored by the shell: every kind of tampering caught, witnesses, proofs, concurrency."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from audit.bundle import verify_bundle
from audit.verify import check_proof


@pytest.fixture
def logged(installed):
    """An installation with a few more events (and checkpoints) in its log."""
    for _ in range(3):
        assert installed.run("--as", "olga", "users", "list").exit_code == 0
    return installed


def sql(env, statement: str, **params) -> None:
    engine = create_engine(env.database_url)
    with engine.begin() as conn:
        conn.execute(text(statement), params)
    engine.dispose()


def verify(env) -> dict:
    result = env.run("--as", "pieter", "audit", "verify", "--json")
    doc = json.loads(result.stdout)
    assert (result.exit_code == 0) == doc["ok"]
    return doc


def test_untouched_log_verifies(logged):
    doc = verify(logged)
    assert doc["ok"] and doc["events"] >= 6 and doc["first_bad_event"] is None


def test_edited_field_is_caught(logged):
    sql(logged, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    doc = verify(logged)
    assert not doc["ok"] and doc["first_bad_event"] == 3


def test_deleted_event_is_caught(logged):
    sql(logged, "DELETE FROM audit_events WHERE seq = 4")
    doc = verify(logged)
    assert not doc["ok"] and doc["first_bad_event"] == 4


def test_swapped_events_are_caught(logged):
    sql(logged, "UPDATE audit_events SET seq = -1 WHERE seq = 3")
    sql(logged, "UPDATE audit_events SET seq = 3 WHERE seq = 4")
    sql(logged, "UPDATE audit_events SET seq = 4 WHERE seq = -1")
    doc = verify(logged)
    assert not doc["ok"] and doc["first_bad_event"] == 3


def test_inserted_event_is_caught(logged):
    """An attacker inserts a well-formed event chained to event 2; event 3 no longer chains to its predecessor."""
    from audit.event import new_event, to_row

    engine = create_engine(logged.database_url)
    with engine.connect() as conn:
        prev = conn.execute(text("SELECT hash FROM audit_events WHERE seq = 2")).scalar_one()
    engine.dispose()
    row = to_row(new_event(3, "olga", "operator", "users.add"), bytes.fromhex(prev))
    sql(logged, "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 3")
    sql(logged, "UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1003")
    sql(logged, "INSERT INTO audit_events (seq, time, actor, role, action, outcome, counts, details, prev_hash, hash)"
                " VALUES (3, :time, 'olga', 'operator', 'users.add', 'ok', '{}', '{}', :prev, :hash)",
        time=row["time"], prev=row["prev_hash"], hash=row["hash"])
    doc = verify(logged)
    assert not doc["ok"] and doc["first_bad_event"] == 3


def test_truncated_tail_with_its_checkpoints_is_caught_by_the_outside_file(logged):
    last = verify(logged)["events"]
    sql(logged, "DELETE FROM audit_events WHERE seq >= :s", s=last - 2)
    sql(logged, "DELETE FROM audit_checkpoints WHERE size >= :s", s=last - 2)
    doc = verify(logged)
    assert not doc["ok"]
    assert doc["first_bad_event"] is not None and doc["first_bad_event"] <= last - 2


def _rewrite_tail(env, first: int) -> None:
    """What an attacker with the database and the data directory (not the signing key) can do: change event
    `first`, chain every later event again, and delete the checkpoints that covered any of them, in the
    database and in the outside file."""
    from audit.event import chain, stored_leaf_bytes
    from ttp.auditlog import outside_checkpoints

    engine = create_engine(env.database_url)
    with engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_events ORDER BY seq"))]
        prev = bytes.fromhex(rows[first - 2]["hash"])
        for row in rows[first - 1:]:
            if row["seq"] == first:
                row["actor"] = "mallory"
            row["prev_hash"], row["hash"] = prev.hex(), chain(prev, stored_leaf_bytes(row)).hex()
            conn.execute(text("UPDATE audit_events SET actor = :actor, prev_hash = :prev_hash, hash = :hash "
                              "WHERE seq = :seq"), row)
            prev = bytes.fromhex(row["hash"])
        conn.execute(text("DELETE FROM audit_checkpoints WHERE size >= :s"), {"s": first})
    engine.dispose()
    outside = env.data_dir / "audit" / "checkpoints.log"
    kept = [note for note in outside_checkpoints(outside) if int(note.splitlines()[1]) < first]
    outside.write_text("".join(note.rstrip("\n") + "\n\n" for note in kept), encoding="utf-8")


def test_a_rewritten_tail_without_its_checkpoints_is_reported_and_verify_does_not_anchor_it(logged, tmp_path):
    """The machine alone cannot tell a rewritten tail from events not yet checkpointed; verify says how many
    events no checkpoint covers, and its own checkpoint does not anchor them; a witness's kept checkpoint
    catches the rewrite."""
    pem, kept = tmp_path / "key.pem", tmp_path / "kept.txt"
    assert logged.run("--as", "pieter", "keys", "export-verify-key", "--out", str(pem)).exit_code == 0
    kept.write_text(logged.run("--as", "pieter", "audit", "checkpoint").stdout, encoding="utf-8")
    first = verify(logged)["events"] - 2
    _rewrite_tail(logged, first)
    witness = logged.run("audit", "verify", "--checkpoint", str(kept), "--public-key", str(pem),
                         env={"TTP_PASSPHRASE": ""})
    assert witness.exit_code == 1 and "does NOT verify" in witness.stderr
    doc = verify(logged)
    assert doc["ok"] and doc["anchored"] == first - 1
    assert doc["unanchored"] == doc["events"] - first + 1 >= 3
    again = verify(logged)
    assert again["anchored"] == first - 1 and again["unanchored"] == doc["unanchored"] + 1  # + the verify event
    said = logged.run("--as", "pieter", "audit", "verify").stdout
    assert f"events {first}..{again['events'] + 1} are covered by no checkpoint" in said
    # the next command's checkpoint covers them: its event says how many waited, so that is never silent
    assert logged.run("--as", "olga", "users", "list").exit_code == 0
    shown = json.loads(logged.run("--as", "pieter", "audit", "show", "--action", "audit.verify", "--json").stdout)
    assert shown["events"][-1]["counts"]["unanchored"] == again["unanchored"] + 1
    listed = json.loads(logged.run("--as", "pieter", "audit", "show", "--action", "users.list", "--json").stdout)
    assert listed["events"][-1]["counts"]["unanchored_before"] == again["unanchored"] + 2
    assert "unanchored_before" not in listed["events"][-2]["counts"]  # an ordinary command: nothing waited
    assert verify(logged)["unanchored"] == 0


def test_replaced_checkpoint_is_caught(logged):
    sql(logged, "UPDATE audit_checkpoints SET text = replace(text, 'ttp.audit/v1', 'ttp.audit/v2') WHERE id = 2")
    doc = verify(logged)
    assert not doc["ok"]


def test_witness_with_a_kept_checkpoint_and_only_the_public_key(logged, tmp_path):
    pem = tmp_path / "key.pem"
    assert logged.run("--as", "pieter", "keys", "export-verify-key", "--out", str(pem)).exit_code == 0
    kept = tmp_path / "kept.txt"
    checkpoint = logged.run("--as", "pieter", "audit", "checkpoint")
    kept.write_text(checkpoint.stdout, encoding="utf-8")
    assert logged.run("--as", "olga", "users", "list").exit_code == 0
    no_pass = {"TTP_PASSPHRASE": ""}
    ok = logged.run("audit", "verify", "--checkpoint", str(kept), "--public-key", str(pem), "--json", env=no_pass)
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"], ok.output
    sql(logged, "DELETE FROM audit_events WHERE seq >= 5")
    bad = logged.run("audit", "verify", "--checkpoint", str(kept), "--public-key", str(pem), "--json", env=no_pass)
    assert bad.exit_code == 1


def test_prove_and_export(logged, tmp_path):
    proof = json.loads(logged.run("--as", "pieter", "audit", "prove", "2", "--json").stdout)
    assert check_proof(proof)
    assert logged.run("--as", "pieter", "audit", "prove", "9999").exit_code == 1
    out = tmp_path / "audit.json"
    assert logged.run("--as", "pieter", "audit", "export", "--out", str(out)).exit_code == 0
    bundle = json.loads(out.read_text(encoding="utf-8"))
    assert verify_bundle(bundle, bundle["verify_key_pem"].encode()).ok


def test_show_filters(logged):
    shown = json.loads(logged.run("--as", "pieter", "audit", "show", "--actor", "olga", "--action", "users",
                                  "--json").stdout)["events"]
    assert shown and all(e["actor"] == "olga" and e["action"].startswith("users") for e in shown)
    assert logged.run("--as", "rosa", "audit", "show").exit_code == 1


APPENDER = """
import sys
from ttp.app import App
from ttp.settings import resolve
from ttp import auditlog
app = App(settings=resolve(sys.argv[1], sys.argv[2]))
for i in range(int(sys.argv[3])):
    with app.session() as session:
        auditlog.append(session, actor="olga", role="operator", action="test.append", counts={"i": i})
"""


def test_concurrent_appends_never_fork_the_chain(installed):
    before = verify(installed)["events"]
    env = {**os.environ, **installed.environ()}
    workers, each = 4, 15
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(installed.data_dir), installed.database_url,
                               str(each)], env=env, stderr=subprocess.PIPE, text=True) for _ in range(workers)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert installed.run("--as", "olga", "audit", "checkpoint").exit_code == 0
    doc = verify(installed)
    assert doc["ok"], doc["problems"]
    assert doc["events"] == before + 1 + workers * each + 1
