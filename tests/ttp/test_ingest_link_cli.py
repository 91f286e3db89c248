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
    batch = json.loads(ingest(installed, cohort, "nco").stdout)
    out = tmp_path / "back.csv"
    result = installed.run("--as", "olga", "quarantine", "export", batch["batch_id"], "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "plaintext" in result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == batch["quarantined"] + 1


def test_link_run_evaluate_report_review(installed, cohort, tmp_path):
    for source in ("vve", "po", "vo", "mbo", "nco"):
        assert ingest(installed, cohort, source).exit_code == 0
    run = installed.run("--as", "olga", "link", "run", "vve", "po", "vo", "mbo", "nco", "--json")
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
    again = json.loads(installed.run("--as", "olga", "link", "run", "vve", "po", "vo", "mbo", "nco",
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
    proc = subprocess.Popen([sys.executable, "-m", "ttp.cli", "ingest", str(cohort / "nco.csv"), "--source", "nco",
                             "--profile", str(cohort / "nco.toml")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "paused" in line, proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    listed = json.loads(installed.run("--as", "olga", "batches", "list", "--json").stdout)["batches"]
    assert listed == []
    again = ingest(installed, cohort, "nco")
    assert again.exit_code == 0, again.output
    assert not list((installed.data_dir / "batches").glob(".tmp-*"))


@pytest.mark.slow
def test_link_run_on_dask_gives_the_local_answer(installed, cohort):
    for source in ("vve", "po", "vo", "mbo", "nco"):
        assert ingest(installed, cohort, source).exit_code == 0
    local = json.loads(installed.run("--as", "olga", "link", "run", "vve", "po", "vo", "mbo", "nco",
                                     "--json").stdout)
    run = installed.run("--as", "olga", "link", "run", "vve", "po", "vo", "mbo", "nco", "--engine", "dask",
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
