"""Erasing one child on the demo: gone from every source and later jobs, the log verifies, the register drops a
later delivery, and a command killed on the way leaves the installation as before or as after."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from keys.keystore import Keystore
from tests.privacy import Identifiers, dump_database, files_under, scan
from ttp import db
from ttp.erasure import ChildFeatures, child_record
from ttp.supply import read_shared_secret

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def demo(demo_env):
    env, summary = demo_env
    cohort = Path(summary["cohort_dir"])
    tokens = {line.split()[0]: line.split()[2] for line in
              (env.data_dir / "demo-tokens").read_text().splitlines() if line.strip()}
    return env, summary, cohort, tokens


def vo_children(cohort: Path) -> list[dict[str, str]]:
    """The identifiers of the pupils in the newest vo export, as a parent would give them."""
    path = sorted(cohort.glob("*/vo.csv"))[-1]
    rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    out = []
    for row in rows:
        d, m, y = row["Geb.datum"].split("-")
        out.append({"bsn": row["BSN"], "onderwijsnummer": row["Onderwijsnummer"], "family_name": row["Achternaam"],
                    "name_prefix": row["Tussenv."], "given_names": row["Officiële voornamen"],
                    "birth_date": f"{y}-{m}-{d}", "sex": {"V": "F"}.get(row["Geslacht"], row["Geslacht"])})
    return [c for c in out if c["bsn"]]


def child_file(tmp_path: Path, child: dict[str, str], name: str = "child.toml") -> Path:
    path = tmp_path / name
    path.write_text("".join(f'{k} = "{v}"\n' for k, v in child.items() if v), encoding="utf-8")
    return path


def run(env, tokens, user: str, *args: str):
    return env.run(*args, env={"TTP_TOKEN": tokens[user]})


def secret_of(cohort: Path) -> Path:
    return cohort / "suppliers" / "region-secret-v1.json"


def keyed_values(env, cohort: Path, child: dict[str, str]) -> tuple[Identifiers, set[str]]:
    """The child's keyed BSN under every batch's keying, and the ids of the records that carry it."""
    keystore = Keystore.open(env.data_dir / "keystore.ttpkeys", env.passphrase)
    made = ChildFeatures(keystore, child_record(child), "vo", read_shared_secret(secret_of(cohort)))
    ids, record_ids = Identifiers(), set()
    engine = create_engine(env.database_url)
    with Session(engine) as session:
        for batch in session.scalars(select(db.Batch)):
            path = env.data_dir / "batches" / batch.id / "features.parquet"
            if not path.exists():
                continue
            bsn = int(made.under(batch)["bsn"])
            ids.add_keyed(bsn)
            frame = pq.read_table(path, columns=["record_id", "bsn"]).to_pandas()
            record_ids |= set(frame.loc[frame["bsn"] == bsn, "record_id"])
    engine.dispose()
    for rid in record_ids:
        ids.add_keyed(rid)
    return ids, record_ids


def scan_installation(env, ids: Identifiers) -> list:
    return scan(ids, files_under(env.data_dir), {"database": dump_database(env.database_url)})


def test_erasing_a_child_removes_it_everywhere_and_from_later_jobs(demo, tmp_path):
    env, summary, cohort, tokens = demo
    child = vo_children(cohort)[0]
    ids, record_ids = keyed_values(env, cohort, child)
    assert len(record_ids) >= 2
    assert {h.kind for h in scan_installation(env, ids)} == {"keyed"}, "the scan must see the child before"
    before = run(env, tokens, "operator1", "link", "run", "vve", "po", "vo", "mbo", "--json")
    assert before.exit_code == 0, before.output
    job_before = json.loads(before.stdout)
    old_map = pq.read_table(env.data_dir / "jobs" / job_before["job_id"] / "person_map.parquet").to_pandas()
    linked = set(old_map.loc[old_map["person_id"].isin(
        old_map.loc[old_map["record_id"].isin(record_ids), "person_id"]), "record_id"])

    path = child_file(tmp_path, child)
    refused = run(env, tokens, "operator1", "persons", "erase", "--source", "vo", "--from", str(path))
    assert refused.exit_code == 1 and "--secret" in refused.stderr
    dry = run(env, tokens, "operator1", "persons", "erase", "--source", "vo", "--from", str(path),
              "--secret", str(secret_of(cohort)), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)
    assert planned["persons"] == 1 and planned["records"] >= 2 and planned["by_source"]["vo"]["records"] >= 1
    assert len(planned["by_source"]) >= 2, "one request erases the child in every source"
    assert {h.kind for h in scan_installation(env, ids)} == {"keyed"}, "a dry run changes nothing"

    done = run(env, tokens, "operator1", "persons", "erase", "--source", "vo", "--from", str(path),
               "--secret", str(secret_of(cohort)), "--json")
    assert done.exit_code == 0, done.output
    erased = json.loads(done.stdout)
    assert {k: erased[k] for k in ("records", "person_map", "persons")} == \
        {k: planned[k] for k in ("records", "person_map", "persons")}
    assert erased["registered"] >= 2 and erased["releases"]
    assert scan_installation(env, ids) == [], "none of the child's keyed values may stay"
    again = run(env, tokens, "operator1", "persons", "erase", "--source", "vo", "--from", str(path),
                "--secret", str(secret_of(cohort)), "--dry-run", "--json")
    assert json.loads(again.stdout)["records"] == 0

    after = run(env, tokens, "operator1", "link", "run", "vve", "po", "vo", "mbo", "--json")
    assert after.exit_code == 0, after.output
    job_after = json.loads(after.stdout)
    assert job_after["records"] == job_before["records"] - len(linked)
    assert job_after["persons"] == job_before["persons"] - 1
    person_map = pq.read_table(env.data_dir / "jobs" / job_after["job_id"] / "person_map.parquet").to_pandas()
    assert not set(person_map["record_id"]) & record_ids

    # a table of the earlier history, released again: protected together with the releases that still
    # counted the child (they no longer add up on what is left; the check must neither fail nor loosen)
    request = ROOT / "policies" / "examples" / "requests" / "school_advice_havo_vwo.toml"
    submitted = run(env, tokens, "researcher1", "request", "submit", str(request), "--json")
    assert submitted.exit_code == 0, submitted.output
    request_id = json.loads(submitted.stdout)["request_id"]
    approved = run(env, tokens, "officer1", "request", "approve", request_id, "--reason", "after an erasure")
    assert approved.exit_code == 0, approved.output
    released = run(env, tokens, "operator1", "release", "make", request_id, "--out", str(tmp_path / "after"))
    assert released.exit_code == 0, released.output

    audit = run(env, tokens, "officer1", "audit", "verify", "--json")
    assert audit.exit_code == 0 and json.loads(audit.stdout)["ok"] is True
    verified = run(env, tokens, "officer1", "release", "verify", "--all", "--json")
    assert verified.exit_code == 0, verified.output
    shown = run(env, tokens, "officer1", "release", "show", summary["release_id"], "--json")
    assert json.loads(shown.stdout)["erasures"] == [erased["erasure_id"]]
    events = run(env, tokens, "officer1", "audit", "show", "--json")
    assert "persons.erase" in events.stdout


def test_the_register_drops_a_later_delivery_of_the_child_at_ingest(demo, tmp_path):
    env, summary, cohort, tokens = demo
    child = vo_children(cohort)[1]
    path = child_file(tmp_path, child)
    done = run(env, tokens, "operator1", "persons", "erase", "--source", "vo", "--from", str(path),
               "--secret", str(secret_of(cohort)), "--json")
    assert done.exit_code == 0, done.output
    # the school delivers the child again (and another pupil), as an export the TTP pseudonymises itself
    export = sorted(cohort.glob("*/vo.csv"))[-1]
    lines = export.read_text(encoding="utf-8-sig").splitlines()
    keep = [lines[0]] + [line for line in lines[1:] if child["bsn"] in line] + [lines[-1]]
    again = tmp_path / "vo-again.csv"
    again.write_text("\n".join(keep) + "\n", encoding="utf-8-sig")
    ingested = run(env, tokens, "operator1", "ingest", str(again), "--source", "vo_late",
                   "--profile", str(cohort / "vo.toml"), "--json")
    assert ingested.exit_code == 0, ingested.output
    result = json.loads(ingested.stdout)
    assert (result["objected"], result["accepted"]) == (1, 1)
    events = run(env, tokens, "officer1", "audit", "show", "--json").stdout
    assert '"objected": 1' in events
    assert child["bsn"] not in events and child["family_name"] not in events


def test_bad_identifiers_are_one_line_and_never_echoed(demo, tmp_path):
    env, _, _, tokens = demo
    bad = child_file(tmp_path, {"bsn": "123456789", "family_name": "Vrankenova"})
    result = run(env, tokens, "operator1", "persons", "erase", "--source", "vo", "--from", str(bad))
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "123456789" not in result.output + result.stderr and "valid BSN" in result.stderr
    unknown = child_file(tmp_path, {"naam": "x"}, "unknown.toml")
    assert "unknown field" in run(env, tokens, "operator1", "persons", "erase", "--source", "vo", "--from",
                                  str(unknown)).stderr
    prompted = env.run("persons", "erase", "--source", "nosuch", env={"TTP_TOKEN": tokens["operator1"]},
                       input="\n\n\n\n\n\n\n")
    assert prompted.exit_code == 1 and "give a bsn" in prompted.stderr


def _state(env) -> dict[str, str]:
    """The sums of every batch and job file and of the tables an erasure changes."""
    out = {str(p.relative_to(env.data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
           for folder in ("batches", "jobs") for p in sorted((env.data_dir / folder).rglob("*")) if p.is_file()}
    dump = dump_database(env.database_url).splitlines()
    out["database"] = hashlib.sha256("\n".join(
        line for line in dump if line.split(":")[0] in ("batches", "jobs", "erasures", "objections",
                                                          "review_decisions")).encode()).hexdigest()
    return out


def test_a_failure_before_the_commit_leaves_everything_as_it_was(demo, tmp_path, monkeypatch):
    import ttp.erasure

    env, _, cohort, tokens = demo
    path = child_file(tmp_path, vo_children(cohort)[2])
    before = _state(env)

    def crash(point: str) -> None:
        if point == "before-commit":
            raise RuntimeError("killed")

    monkeypatch.setattr(ttp.erasure, "_pause_for_tests", crash)
    failed = run(env, tokens, "operator1", "persons", "erase", "--source", "vo", "--from", str(path),
                 "--secret", str(secret_of(cohort)))
    assert failed.exit_code == 1 and "internal error" in failed.stderr
    assert _state(env) == before
    assert not list((env.data_dir / "erasures").iterdir())


def _cli(env, tokens, *args: str, **extra: str) -> subprocess.Popen:
    environ = {**os.environ, **env.environ(TTP_TOKEN=tokens["operator1"], **extra),
               "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "ttp.cli", *args], env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("point", ["before-commit", "after-commit"])
def test_kill_9_during_an_erasure_leaves_before_or_after(demo, tmp_path, point):
    env, _, cohort, tokens = demo
    child = vo_children(cohort)[3 if point == "before-commit" else 4]
    path = child_file(tmp_path, child)
    args = ("persons", "erase", "--source", "vo", "--from", str(path), "--secret", str(secret_of(cohort)))
    planned = json.loads(run(env, tokens, "operator1", *args, "--dry-run", "--json").stdout)
    assert planned["records"] >= 1
    before = _state(env)
    proc = _cli(env, tokens, *args, TTP_TEST_PAUSE_ERASE=point)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "paused", proc.stderr.read() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list((env.data_dir / "erasures").iterdir()), "the kill left its staged files"
    listed = run(env, tokens, "operator1", "batches", "list", "--json")  # any acting command settles
    assert listed.exit_code == 0, listed.output
    assert not list((env.data_dir / "erasures").iterdir())
    left = json.loads(run(env, tokens, "operator1", *args, "--dry-run", "--json").stdout)
    if point == "before-commit":
        assert _state(env) == before and left["records"] == planned["records"]
    else:
        assert left["records"] == 0 and _state(env) != before
        job = pd.read_json(run(env, tokens, "operator1", "link", "run", "vve", "po", "vo", "mbo",
                               "--json").stdout, typ="series")
        assert job["records"] > 0
    audit = run(env, tokens, "officer1", "audit", "verify", "--json")
    assert json.loads(audit.stdout)["ok"] is True
