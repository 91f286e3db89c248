"""Ingest, batches, quarantine and link commands through the CLI, with their main refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.privacy import dump_database, files_under, from_cohort, scan
from ttp.demo.generate import generate_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    generate_cohort(out, persons=300, seed=7)
    return out


@pytest.fixture(scope="module")
def identifiers(cohort):
    return from_cohort(cohort)


@pytest.fixture(autouse=True)
def privacy_scan(installed, identifiers):
    """After every test here: nothing identifying in the data directory, the database or what was printed.

    The quarantine export (written outside the data directory, on purpose) is the one exempt output.
    """
    yield
    env = installed
    texts = {"printed": "\n".join(env.printed), "database": dump_database(env.database_url)}
    hits = scan(identifiers, files_under(env.data_dir), texts)
    assert not hits, "identifying values found: " + "; ".join(f"{h.kind} in {h.where}" for h in hits)


def ingest(env, cohort, source, *extra):
    if source == "po":
        return env.run("--as", "olga", "ingest", str(cohort / "po"), "--source", "po", "--format", "edexml",
                       "--json", *extra)
    return env.run("--as", "olga", "ingest", str(cohort / f"{source}.csv"), "--source", source,
                   "--profile", str(cohort / f"{source}.toml"), "--json", *extra)


def test_ingest_reports_reconciled_counts(installed, cohort):
    result = ingest(installed, cohort, "vve")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["rows_read"] == doc["accepted"] + doc["quarantined"]
    assert doc["quarantined"] >= 1
    assert {"batch_id", "fields_dropped"} <= set(doc)
    listed = json.loads(installed.run("--as", "olga", "batches", "list", "--json").stdout)["batches"]
    assert [b["batch_id"] for b in listed] == [doc["batch_id"]]
    shown = json.loads(installed.run("--as", "olga", "quarantine", "show", doc["batch_id"], "--json").stdout)
    assert len(shown["rows"]) == doc["quarantined"]
    assert all(set(r) == {"export_file", "row_number", "reasons"} for r in shown["rows"])


def test_same_file_twice_is_refused_naming_the_batch(installed, cohort):
    first = json.loads(ingest(installed, cohort, "mbo").stdout)
    again = ingest(installed, cohort, "mbo")
    assert again.exit_code == 1
    assert first["batch_id"] in again.stderr


def test_bad_profile_is_refused_and_leaves_no_batch(installed, cohort, tmp_path):
    profile = tmp_path / "bad.toml"
    profile.write_text((cohort / "vo.toml").read_text(encoding="utf-8").replace("[fields]", "[fields]\nbsn2 = 1"),
                       encoding="utf-8")
    result = installed.run("--as", "olga", "ingest", str(cohort / "vo.csv"), "--source", "vo",
                           "--profile", str(profile))
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert json.loads(installed.run("--as", "olga", "batches", "list", "--json").stdout)["batches"] == []
    assert not list((installed.data_dir / "batches").glob("b_*")) if (installed.data_dir / "batches").exists() \
        else True


def test_empty_file_is_refused(installed, cohort, tmp_path):
    empty = tmp_path / "vo.csv"
    empty.write_bytes(b"")
    result = installed.run("--as", "olga", "ingest", str(empty), "--source", "vo", "--profile",
                           str(cohort / "vo.toml"))
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def test_researcher_cannot_ingest(installed, cohort):
    result = installed.run("--as", "rosa", "ingest", str(cohort / "vve.csv"), "--source", "vve", "--profile",
                           str(cohort / "vve.toml"))
    assert result.exit_code == 1
    assert "researcher" in result.stderr


def test_quarantine_export_writes_the_rows(installed, cohort, tmp_path):
    batch = json.loads(ingest(installed, cohort, "vo").stdout)
    out = tmp_path / "back.csv"
    result = installed.run("--as", "olga", "quarantine", "export", batch["batch_id"], "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "plaintext" in result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == batch["quarantined"] + 1


def test_link_run_evaluate_report_review(installed, cohort, tmp_path):
    for source in ("vve", "po", "vo", "mbo"):
        assert ingest(installed, cohort, source).exit_code == 0
    run = installed.run("--as", "olga", "link", "run", "vve", "po", "vo", "mbo", "--json")
    assert run.exit_code == 0, run.output
    job = json.loads(run.stdout)
    assert {"job_id", "persons", "links"} <= set(job)
    evaluation = installed.run("--as", "olga", "link", "evaluate", job["job_id"], "--labels",
                               str(cohort / "truth.csv"), "--json")
    assert evaluation.exit_code == 0, evaluation.output
    scores = json.loads(evaluation.stdout)
    assert scores["f1"] > 0.9
    assert {"precision", "recall", "true_positives", "false_positives", "false_negatives",
            "by_source_pair"} <= set(scores)
    assert "po|vo" in scores["by_source_pair"]
    html = tmp_path / "report.html"
    report = installed.run("--as", "olga", "link", "report", job["job_id"], "--html", str(html))
    assert report.exit_code == 0, report.output
    assert "<svg" in html.read_text(encoding="utf-8")
    review = installed.run("--as", "olga", "link", "review", job["job_id"], "--json")
    assert review.exit_code == 0
    # a second run keeps the person ids of unchanged persons
    again = json.loads(installed.run("--as", "olga", "link", "run", "vve", "po", "vo", "mbo",
                                     "--json").stdout)
    assert again["persons"] == job["persons"]


def test_link_run_refuses_unknown_source_and_mixed_key_versions(installed, cohort):
    assert ingest(installed, cohort, "vve").exit_code == 0
    missing = installed.run("--as", "olga", "link", "run", "vve", "vo")
    assert missing.exit_code == 1
    assert "vo" in missing.stderr
    assert installed.run("--as", "olga", "keys", "rotate", "--purpose", "linkage").exit_code == 0
    assert ingest(installed, cohort, "vo").exit_code == 0
    mixed = installed.run("--as", "olga", "link", "run", "vve", "vo")
    assert mixed.exit_code == 1
    assert "different linkage key versions" in mixed.stderr


def test_unknown_job_is_one_line(installed, cohort):
    result = installed.run("--as", "olga", "link", "evaluate", "j_nope", "--labels", str(cohort / "truth.csv"))
    assert result.exit_code == 1
    assert "unknown job" in result.stderr


def test_killed_ingest_leaves_no_batch_and_a_rerun_succeeds(installed, cohort):
    """kill -9 in the middle of an ingest: no batch row, no batch folder; the same ingest then succeeds."""
    env = {**os.environ, **installed.environ(TTP_TOKEN=installed.token("olga"), TTP_TEST_PAUSE_INGEST="1")}
    proc = subprocess.Popen([sys.executable, "-m", "ttp.cli", "ingest", str(cohort / "mbo.csv"), "--source", "mbo",
                             "--profile", str(cohort / "mbo.toml")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "paused" in line, proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    listed = json.loads(installed.run("--as", "olga", "batches", "list", "--json").stdout)["batches"]
    assert listed == []
    again = ingest(installed, cohort, "mbo")
    assert again.exit_code == 0, again.output
    assert not list((installed.data_dir / "batches").glob(".tmp-*"))


def _dead_pid() -> int:
    """The id of a process that has ended (reaped, so no process has it until the kernel reuses it)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_link_run_cleans_what_a_killed_one_left(installed, cohort):
    """A killed run leaves a temporary folder (of a dead process) and, before the folder moved only after the
    commit, a job folder without a row; the next run removes both and rolls forward a committed job whose
    folder had not been moved yet."""
    for source in ("vve", "mbo"):
        assert ingest(installed, cohort, source).exit_code == 0
    first = json.loads(installed.run("--as", "olga", "link", "run", "vve", "mbo", "--json").stdout)["job_id"]
    jobs = installed.data_dir / "jobs"
    dead = _dead_pid()
    uncommitted = jobs / f".tmp-{dead}-j_000000000000"
    uncommitted.mkdir()
    (uncommitted / "report.json").write_text("{")
    (jobs / "j_0000000000ff").mkdir()  # renamed into place, then killed before the commit
    os.replace(jobs / first, jobs / f".tmp-{dead}-{first}")  # committed, then killed before the move
    second = installed.run("--as", "olga", "link", "run", "vve", "mbo", "--json")
    assert second.exit_code == 0, second.output
    second_id = json.loads(second.stdout)["job_id"]
    assert sorted(p.name for p in jobs.iterdir()) == sorted([first, second_id])
    assert (jobs / first / "person_map.parquet").exists()
    shown = json.loads(installed.run("--as", "pieter", "audit", "show", "--object", second_id, "--json").stdout)
    assert {"left_behind_rolled_forward": 1, "left_behind_removed": 2}.items() <= \
        shown["events"][0]["counts"].items()


def test_a_failed_link_run_leaves_no_folder(installed, cohort, monkeypatch):
    from ttp import linkjob

    assert ingest(installed, cohort, "vve").exit_code == 0
    assert ingest(installed, cohort, "mbo").exit_code == 0

    def broken(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(linkjob.json, "dumps", broken)
    failed = installed.run("--as", "olga", "link", "run", "vve", "mbo")
    assert failed.exit_code == 1
    assert list((installed.data_dir / "jobs").iterdir()) == []


def test_a_full_disk_says_disk_full_with_the_path(installed, cohort, monkeypatch):
    import errno

    import pandas as pd

    assert ingest(installed, cohort, "vve").exit_code == 0
    assert ingest(installed, cohort, "mbo").exit_code == 0

    def no_room(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", no_room)
    failed = installed.run("--as", "olga", "link", "run", "vve", "mbo")
    assert failed.exit_code == 1
    assert failed.stderr.startswith("ttp: disk full: cannot write ") and "person_map.parquet" in failed.stderr
    assert "internal error" not in failed.stderr and len(failed.stderr.splitlines()) == 1
    assert list((installed.data_dir / "jobs").iterdir()) == []

    def no_room_unnamed(self, data, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")  # a write on an open file names no path

    monkeypatch.setattr(Path, "write_text", no_room_unnamed)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", lambda self, path, **kw: Path(path).write_text(""))
    failed = installed.run("--as", "olga", "link", "run", "vve", "mbo")
    assert failed.stderr == f"ttp: disk full: cannot write {installed.data_dir} (free space, then run the command " \
                            "again)\n"


def test_what_the_docs_say_is_encrypted_at_rest_is(installed, cohort):
    """The payload and quarantine files do not open as Parquet without the key; the features do, and the
    docs say so rather than calling them encrypted."""
    import pyarrow.parquet as pq

    batch = json.loads(ingest(installed, cohort, "vve").stdout)["batch_id"]
    folder = installed.data_dir / "batches" / batch
    assert pq.read_table(folder / "features.parquet").num_rows > 0  # readable without any key
    for sealed in ("payload.sealed", "quarantine.sealed"):
        assert b"PAR1" not in (folder / sealed).read_bytes()
    root = Path(__file__).resolve().parents[2]
    privacy = " ".join((root / "docs" / "privacy.md").read_text(encoding="utf-8").split())
    assert "They are **not encrypted at rest**: `features.parquet`" in privacy
    assert "encrypted at rest in the data directory" not in privacy
    readme = " ".join((root / "README.md").read_text(encoding="utf-8").split())
    assert "the keyed features are not" in readme


def _empty_database(tmp_path, installed, stack):
    """A new, empty database beside the installation's: a SQLite file in the restored data directory, or a
    fresh PostgreSQL schema (dropped when the test ends)."""
    from tests.conftest import _pg_schema, postgres_url

    if installed.database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored' / 'ttp.db'}"
    schema = _pg_schema(postgres_url())
    stack.callback(next, schema, None)
    return next(schema)


def test_backup_wipe_restore_then_the_log_verifies_and_a_link_job_gives_the_same_persons(installed, cohort, tmp_path):
    import contextlib
    import shutil

    import pyarrow.parquet as pq
    from sqlalchemy import create_engine, text

    from tests.conftest import Env

    out = tmp_path / "ttp.ttpbackup"
    for source in ("vve", "mbo"):
        assert ingest(installed, cohort, source).exit_code == 0
    job = json.loads(installed.run("--as", "olga", "link", "run", "vve", "mbo", "--json").stdout)["job_id"]
    before = pq.read_table(installed.data_dir / "jobs" / job / "person_map.parquet").to_pandas()
    assert installed.run("--as", "rosa", "backup", "--out", str(out)).exit_code == 1  # operators only
    left = installed.data_dir / f".backup-{_dead_pid()}"  # the plaintext dump of a killed backup
    left.mkdir()
    (left / "users.jsonl").write_bytes(b"[]\n")
    made = installed.run("--as", "olga", "backup", "--out", str(out), "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["counts"] == {"events": json.loads(made.stdout)["counts"]["events"],
                                                 "batches": 2, "jobs": 1, "releases": 0}
    assert not left.exists() and not list(installed.data_dir.glob(".backup-*"))
    sealed = out.read_bytes()
    assert out.stat().st_mode & 0o077 == 0 and b"SQLite format" not in sealed and b"PAR1" not in sealed
    assert b"olga" not in sealed and b"audit_events" not in sealed  # the dump is sealed too
    again = installed.run("--as", "olga", "backup", "--out", str(out))
    assert again.exit_code == 1 and "exists" in again.stderr

    token = installed.token("olga")
    with contextlib.ExitStack() as stack:
        url = _empty_database(tmp_path, installed, stack)
        shutil.rmtree(installed.data_dir)
        if installed.database_url.startswith("sqlite"):
            Path(installed.database_url.removeprefix("sqlite:///")).unlink()
        else:  # the old installation's tables go: nothing of it is left to read
            engine = create_engine(installed.database_url)
            with engine.begin() as conn:
                for name in ("audit_events", "batches", "users"):
                    conn.execute(text(f"DROP TABLE {name} CASCADE"))
            engine.dispose()
        here = Env(data_dir=tmp_path / "restored", database_url=url)
        wrong = here.run("restore", str(out), env={"TTP_TOKEN": token, "TTP_PASSPHRASE": "not the passphrase"})
        assert wrong.exit_code == 2 and wrong.stderr == f"ttp: {out}: wrong passphrase or damaged backup\n"
        assert not here.data_dir.exists() and not list(tmp_path.glob(".restored*"))
        stranger = here.run("restore", str(out), env={"TTP_TOKEN": "not a token"})
        assert stranger.exit_code != 0 and not here.data_dir.exists()  # refused, and the database is empty again
        done = here.run("restore", str(out), env={"TTP_TOKEN": token})
        assert done.exit_code == 0, done.output
        assert here.data_dir.stat().st_mode & 0o777 == 0o700
        into_full = here.run("restore", str(out), env={"TTP_TOKEN": token})
        assert into_full.exit_code == 1 and "is not empty" in into_full.stderr
        if not url.startswith("sqlite"):
            beside = Env(data_dir=tmp_path / "beside", database_url=url)
            full_db = beside.run("restore", str(out), env={"TTP_TOKEN": token})
            assert full_db.exit_code == 1
            assert full_db.stderr == "ttp: the database of TTP_DATABASE_URL is not empty: restore into a new, " \
                                     "empty database\n"

        here.tokens = {"olga": token}
        verified = json.loads(here.run("--as", "olga", "audit", "verify", "--json").stdout)
        assert verified["ok"] and verified["unanchored"] == 0, verified
        restores = json.loads(here.run("--as", "olga", "audit", "show", "--action", "restore",
                                       "--json").stdout)["events"]
        assert [(e["actor"], e["counts"]["batches"]) for e in restores] == [("olga", 2)]
        rerun = json.loads(here.run("--as", "olga", "link", "run", "vve", "mbo", "--json").stdout)["job_id"]
        after = pq.read_table(here.data_dir / "jobs" / rerun / "person_map.parquet").to_pandas()
        assert dict(zip(after["record_id"], after["person_id"], strict=True)) == \
            dict(zip(before["record_id"], before["person_id"], strict=True))
        policy_ids = here.run("--as", "olga", "keys", "list")  # the restored installation goes on working
        assert policy_ids.exit_code == 0, policy_ids.output


@pytest.mark.slow
def test_link_run_on_dask_gives_the_local_answer(installed, cohort):
    for source in ("vve", "po", "vo", "mbo"):
        assert ingest(installed, cohort, source).exit_code == 0
    local = json.loads(installed.run("--as", "olga", "link", "run", "vve", "po", "vo", "mbo",
                                     "--json").stdout)
    run = installed.run("--as", "olga", "link", "run", "vve", "po", "vo", "mbo", "--engine", "dask",
                        "--json")
    assert run.exit_code == 0, run.output
    on_dask = json.loads(run.stdout)
    jobs = installed.data_dir / "jobs"
    # the second job keeps the first one's person ids: the same clusters give the same person map
    for name in ("person_map.parquet", "pairs.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(jobs / on_dask["job_id"] / name),
                                      pd.read_parquet(jobs / local["job_id"] / name))
    assert not (jobs / on_dask["job_id"] / "partitions").exists()  # the engine's copy of the features is gone


def test_link_run_engine_refusals_are_one_line(installed, monkeypatch):
    alone = installed.run("--as", "olga", "link", "run", "vve", "--scheduler", "tcp://127.0.0.1:9")
    assert alone.exit_code == 1 and "--engine dask" in alone.stderr
    monkeypatch.setattr("ttp.linkjob.DASK_CONNECT_TIMEOUT", "1s")
    silent = installed.run("--as", "olga", "link", "run", "vve", "--engine", "dask", "--scheduler",
                           "tcp://127.0.0.1:9")
    assert silent.exit_code == 1
    lines = silent.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ttp: no Dask scheduler answers at tcp://127.0.0.1:9 ("), lines
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the dask extra were not installed
    missing = installed.run("--as", "olga", "link", "run", "vve", "--engine", "dask")
    assert missing.exit_code == 1
    assert missing.stderr.strip().splitlines() == [
        "ttp: the dask engine needs Dask distributed: pip install 'ttp-linkage[dask]'"]
