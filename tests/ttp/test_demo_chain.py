"""The whole chain end to end through `ttp demo`, and the privacy test over everything it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.privacy import Identifiers, dump_database, files_under, from_cohort, scan


@pytest.fixture(scope="module")
def demo_run(demo_env):
    env, summary = demo_env
    return env, summary


def test_demo_runs_the_whole_chain(demo_run):
    env, summary = demo_run
    assert set(summary["records_by_source"]) == {"vve", "po", "po_toets", "vo", "mbo"}
    assert summary["f1"] >= 0.95, summary
    assert summary["audit_ok"] is True
    release = Path(summary["release_dir"])
    names = {p.name for p in release.iterdir()}
    assert any(n.endswith(".csv") for n in names) and any(n.endswith(".xlsx") for n in names)
    assert "SHA256SUMS" in names
    assert "verified" in env.demo_output


def test_demo_release_reproduces_and_the_log_verifies(demo_run):
    env, summary = demo_run
    verified = env.run("--as", "officer1", "release", "verify", summary["release_id"])
    assert verified.exit_code == 0, verified.output
    audit = env.run("--as", "officer1", "audit", "verify", "--json")
    assert json.loads(audit.stdout)["ok"] is True


def test_everything_ttp_wrote_is_its_owners_only(demo_run):
    """Data directory, database, Parquet, reports, keystore and the release: no group or world bits, whatever
    the umask of the process that ran the demo (this test process's, 022 unless someone changed it)."""
    env, summary = demo_run
    paths = [env.data_dir, *env.data_dir.rglob("*"), Path(summary["release_dir"]),
             *Path(summary["release_dir"]).rglob("*")]
    assert any(p.suffix == ".parquet" for p in paths)
    assert any(p.name == "ttp.db" for p in paths) or not env.database_url.startswith("sqlite")
    loose = [f"{p.relative_to(env.data_dir.parent)} {p.stat().st_mode & 0o777:o}" for p in paths
             if p.stat().st_mode & 0o077]
    assert not loose, loose


def test_the_cli_restores_the_callers_umask(env):
    import os

    before = os.umask(0o022)
    try:
        env.run("users", "list")  # fails (no installation), through the group's invoke
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(before)


def test_privacy_nothing_identifying_is_written_or_printed(demo_run, tmp_path):
    env, summary = demo_run
    cohort = Path(summary["cohort_dir"])
    ids = from_cohort(cohort)
    assert all(ids.by_kind[k] for k in ("bsn", "name", "birth date", "postcode")), "the scanner found no inputs"
    job = summary["job_id"]
    html = tmp_path / "report.html"
    report = env.run("--as", "operator1", "link", "report", job, "--html", str(html))
    assert report.exit_code == 0, report.output
    env.run("--as", "operator1", "batches", "list", "--json")
    env.run("--as", "officer1", "audit", "show", "--json")
    env.run("--as", "operator1", "link", "review", job, "--json")
    texts = {"printed": "\n".join(env.printed), "database": dump_database(env.database_url)}
    # the delivery to CBS too: pseudonyms, attributes and sealed identities, never a plaintext identifier
    assert summary["cbs"]["release_id"] and summary["cbs"]["verified"], summary["cbs"]
    files = files_under(env.data_dir, Path(summary["release_dir"]), Path(summary["cbs"]["dir"]) / "delivery") + [html]
    hits = scan(ids, files, texts)
    assert not hits, "identifying values found: " + "; ".join(f"{h.kind} in {h.where}" for h in hits)


def test_privacy_scanner_can_fail(tmp_path):
    ids = Identifiers()
    ids.add_name("Vranken")
    ids.add_number("bsn", "123456782")
    ids.add_postcode("6211 AB")
    planted = tmp_path / "leak.txt"
    planted.write_text("pupil VRANKEN at 6211AB", encoding="utf-8")
    hits = scan(ids, [planted], {"printed": "bsn 123456782"})
    assert {(h.where, h.kind) for h in hits} == {(str(planted), "name"), (str(planted), "postcode"),
                                                  ("printed", "bsn")}


def test_the_demo_follows_pupils_over_the_years_and_answers_the_monitors_questions(demo_run):
    env, summary = demo_run
    assert len(summary["school_years"]) >= 5 and summary["deliveries"] >= 30
    assert summary["batches_by_source"]["vo"] >= 5 and summary["batches_by_source"]["po"] >= 5
    assert [s["source"] for s in summary["superseded"]] == ["vo"]  # the corrected delivery replaced the first
    assert summary["f1"] >= 0.99, summary["f1"]
    by_name = {h["request"]: h for h in summary["history"]}
    trend = by_name["advice_position_by_school"]
    assert trend["release_id"] and trend["suppressed"] > 0  # per school over five cohorts: suppression at work
    table = (Path(trend["release_dir"]) / "table.csv").read_text(encoding="utf-8").split("\n\n")[0]
    years = {line.split(",")[1] for line in table.splitlines()[1:]} - {"Total"}
    assert len(years) >= 5, years
    growth = (Path(by_name["test_growth_by_vve"]["release_dir"]) / "table.csv").read_text(encoding="utf-8")
    rows = {line.split(",")[0]: line.split(",") for line in growth.split("\n\n")[0].splitlines()[1:]}
    assert {"ja", "nee", "Total"} <= set(rows)
    assert 40 < float(rows["Total"][2]) < 130  # mean LVS growth from groep 4 to groep 8: a real figure
