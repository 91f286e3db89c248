"""`ttp feedback --mbo` on the demo: the mbo round released, an mbo team's page made from it alone."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from policies.feedback_mbo import build_mbo_report, opleidingen
from tests.conftest import Env
from tests.policies.helpers import pdf_words
from tests.ttp.test_feedback import (
    ARTIFACTS,
    OFFICER,
    OPS,
    RESEARCHER,
    assert_numbers_released,
    info_and_tables,
    released_cells,
)

COHORT = 150  # pupils per year group: at 40 every first-year figure of an opleiding is too small to show


@pytest.fixture(scope="module")
def mbo_round(tmp_path_factory):
    """`ttp demo --mbo`: the school round, then the mbo round by prior vo track (and by advice, refused on
    this small region: the school round's tables pin its few starters with an advice)."""
    base = tmp_path_factory.mktemp("feedback-mbo")
    env = Env(data_dir=base / "data", database_url=f"sqlite:///{base / 'data' / 'ttp.db'}")
    env.data_dir.mkdir()
    result = env.run("--data-dir", str(env.data_dir), "demo", "--cohort", str(COHORT), "--mbo", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):result.stdout.rindex("}") + 1])
    tracks = next(r for r in summary["mbo_rounds"] if r["request"] == "feedback_round_mbo")
    assert tracks["refused"] is None and set(tracks["releases"]) == {"vsv_tracks", "switch_tracks"}, tracks
    released = list(tracks["releases"].values())
    register = list(csv.DictReader(open(Path(summary["cohort_dir"]) / "schools.csv", encoding="utf-8"),
                                   delimiter=";"))
    mbo = [r["VESTIGINGSNUMMER"] for r in register if r["SOORT ONDERWIJS"] == "Middelbaar beroepsonderwijs"]
    vo = next(r["VESTIGINGSNUMMER"] for r in register if r["SOORT ONDERWIJS"] == "Voortgezet onderwijs")
    return env, released, mbo, vo


def reports_of(env, released, code):
    """The pages of an institution, built from the release files (not through the CLI under test)."""
    info, tables = info_and_tables(env, released, code)
    return [build_mbo_report(info, crebo, tables) for crebo in opleidingen(tables, code)]


def test_an_mbo_teams_page_shows_a_figure_of_its_opleiding_beside_the_institution_and_region(mbo_round, tmp_path):
    env, released, institutions, _ = mbo_round
    shown = [(code, r) for code in institutions for r in reports_of(env, released, code) if r.team_shown()]
    assert shown, "no opleiding of the demo shows a single figure"
    code, report = shown[0]
    out = tmp_path / "team.pdf"
    result = env.run("--as", OPS, "feedback", "--mbo", code, "--crebo", report.crebo, "--out", str(out))
    assert result.exit_code == 0, result.output
    words = pdf_words(out.read_bytes())
    for phrase in ("Terugkoppeling aan het mbo-team", f"Opleiding (crebo) {report.crebo}", "Instelling", "Regio",
                   "Voortijdig schoolverlaten", "Overstap naar een andere opleiding", "naar vo-niveau",
                   "naar schooladvies", "Bronnen", "te weinig leerlingen om te tonen"):
        assert phrase.lower() in words.lower(), phrase
    assert all(rid in words for rid in released)  # the page names its releases
    team = [p for b in report.blocks for r in b.rows for p in (r.points["team"].share, r.points["team"].pupils)
            if p.shown]
    assert any(str(int(f.value)) in words or f"{f.value:.1f}".replace(".", ",") in words for f in team)
    events = json.loads(env.run("--as", OFFICER, "audit", "show", "--json").stdout)["events"]
    last = [e for e in events if e["action"] == "feedback"][-1]
    assert last["outcome"] == "ok" and last["details"]["mbo_institution"] == code
    assert last["details"]["crebo"] == [report.crebo] and sorted(last["details"]["releases"]) == sorted(released)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / "mbo-report.png"
    assert env.run("--as", OPS, "feedback", "--mbo", code, "--crebo", report.crebo, "--out", str(png)).exit_code == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    english = tmp_path / "team-en.pdf"
    assert env.run("--as", OPS, "feedback", "--mbo", code, "--out", str(english), "--lang", "en").exit_code == 0
    assert "feedback to the mbo team" in pdf_words(english.read_bytes()).lower()


def test_every_number_on_an_mbo_page_was_released_and_shown(mbo_round, tmp_path):
    env, released, institutions, _ = mbo_round
    cells = {rid: released_cells(env, rid) for rid in released}
    checked = 0
    for code in institutions:
        reports = reports_of(env, released, code)
        out = tmp_path / f"{code}.pdf"
        assert env.run("--as", OPS, "feedback", "--mbo", code, "--out", str(out)).exit_code == 0
        words = pdf_words(out.read_bytes())
        labels = " ".join([code, *released, *(r.crebo for r in reports)])
        figures = [f for r in reports for f in r.figures()]
        # axis, "1 oktober", "groep 8", "<5%" and ">95%"
        assert_numbers_released(code, words, figures, cells, labels, {"0", "25", "50", "75", "100", "1", "8", "5",
                                                                      "95"})
        checked += len(reports)
    assert checked >= 4


@pytest.mark.parametrize(("args", "who", "message"), [
    (["--mbo", "99ZZ00"], OPS, "unknown mbo institution '99ZZ00'"),
    (["--mbo", "{mbo}", "--crebo", "11111"], OPS, "opleiding (crebo) '11111' has no starters"),
    (["--mbo", "{vo}"], OPS, "is not in the mbo round's tables"),
    (["--crebo", "25604"], OPS, "--mbo INSTELLING [--crebo CODE] goes without"),
    (["--mbo", "{mbo}"], RESEARCHER, "is a researcher"),
])
def test_a_bad_institution_or_opleiding_is_one_line_and_writes_nothing(mbo_round, tmp_path, args, who, message):
    env, _, mbo, vo = mbo_round
    args = [a.format(mbo=mbo[0], vo=vo) for a in args]
    out = tmp_path / "x.pdf"
    result = env.run("--as", who, "feedback", *args, "--out", str(out))
    assert result.exit_code != 0 and message in result.output, result.output
    said = [line for line in result.output.splitlines() if line.startswith(("ttp:", "Error:"))]
    assert len(said) == 1 and "Traceback" not in result.output and not out.exists()
