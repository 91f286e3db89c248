"""`ttp feedback` on the demo: the feedback round released, a school's Dutch report made from it alone."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from policies.feedback import SchoolInfo, build_report, read_released
from tests.conftest import Env
from tests.policies.helpers import pdf_words

OPS, OFFICER, RESEARCHER = "operator1", "officer1", "researcher1"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "feedback"
COHORT = 40  # pupils per year group, as the other demo tests


@pytest.fixture(scope="module")
def round_(tmp_path_factory):
    """`ttp demo` as it comes: its feedback round (one request, approved once) released, no other history."""
    base = tmp_path_factory.mktemp("feedback-demo")
    env = Env(data_dir=base / "data", database_url=f"sqlite:///{base / 'data' / 'ttp.db'}")
    env.data_dir.mkdir()
    result = env.run("--data-dir", str(env.data_dir), "demo", "--cohort", str(COHORT), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):result.stdout.rindex("}") + 1])
    made = summary["feedback_round"]
    assert made["refused"] is None and len(made["releases"]) == 8, made
    released = list(made["releases"].values())
    schools = list(csv.DictReader(open(Path(summary["cohort_dir"]) / "schools.csv", encoding="utf-8"),
                                  delimiter=";"))
    first_po = next(r for r in schools if r["SOORT ONDERWIJS"] == "Basisonderwijs")
    return env, released, first_po, made


def released_cells(env, release_id: str) -> dict:
    """What a release shows, read straight from its files (not through the code under test)."""
    folder = env.data_dir / "releases" / release_id
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    dims, measures = meta["request"]["dimensions"], meta["request"]["measures"]
    rows = list(csv.reader(io.StringIO((folder / "table.csv").read_text(encoding="utf-8").split("\n\n")[0])))
    return {(tuple(r[:len(dims)]), m): v for r in rows[1:] for m, v in zip(measures, r[len(dims):], strict=True)}


def numbers_in(text: str) -> list[str]:
    return re.findall(r"\d+(?:,\d+)?", text)


def test_a_schools_report_is_a_dutch_pdf_with_its_name_its_board_and_the_province(round_, tmp_path):
    env, released, school, _ = round_
    code = school["BRIN NUMMER"] + school["VESTIGINGSNUMMER"][-2:]
    out = tmp_path / "school.pdf"
    result = env.run("--as", OPS, "feedback", code, "--out", str(out))
    assert result.exit_code == 0, result.output
    words = pdf_words(out.read_bytes())
    assert school["VESTIGINGSNAAM"].title() in words and school["PLAATSNAAM"].title() in words
    for phrase in ("Terugkoppeling", "Uw bestuur", "Provincie", "Havo/vwo in leerjaar 3",
                   "Onder het advies in leerjaar 3", "Per cohort", "leerlinggewicht", "Bronnen"):
        assert phrase.lower() in words.lower(), phrase
    assert all(rid in words for rid in released)  # the report names the releases it was made from
    assert "te weinig leerlingen om te tonen" in words  # the small demo suppresses: said in words
    events = json.loads(env.run("--as", OFFICER, "audit", "show", "--json").stdout)["events"]
    last = [e for e in events if e["action"] == "feedback"][-1]
    assert last["outcome"] == "ok" and last["details"]["school"] == code


def test_on_the_demo_a_report_shows_its_board_the_province_a_trend_and_the_reference(round_, tmp_path):
    """The done-when of the feedback issue, on `ttp demo` as it comes: board and province figures shown
    (not only said to be hidden), a trend over at least three cohorts, the background-adjusted reference."""
    env, released, school, _ = round_
    code = school["BRIN NUMMER"] + school["VESTIGINGSNUMMER"][-2:]
    report = report_of(env, released, code)
    havo = next(s for s in report.sections if s.indicator.measure == "havo_vwo")
    assert havo.levels["board"].share.shown and havo.levels["board"].pupils.shown
    assert havo.levels["province"].share.shown and havo.levels["province"].pupils.shown
    cohorts = {year for _, series in havo.trend.items() for year, p in series if p.share.shown}
    years = {y for label in cohorts for y in re.findall(r"\d{4}-\d{4}", label)}
    assert len(years) >= 3, cohorts
    assert havo.reference is not None and havo.reference.expected.shown and havo.reference.low.shown
    out = tmp_path / "school.pdf"
    assert env.run("--as", OPS, "feedback", code, "--out", str(out)).exit_code == 0
    words = pdf_words(out.read_bytes())
    board = havo.levels["board"].share.value
    assert f"{board:.1f}".replace(".", ",") in words  # the board's figure is on the page


def test_every_number_in_a_report_was_released_and_shown(round_, tmp_path):
    """No number on the page that the releases do not show: each released figure is the cell of its
    release (never a suppressed one), the band is computed from released figures, the rest are labels."""
    env, released, _, made = round_
    cells = {rid: released_cells(env, rid) for rid in released}
    school_tables = [rid for name, rid in made["releases"].items() if "_schools" in name]
    schools = {k[0][0] for rid in school_tables for k in cells[rid]} - {"Total"}
    cohorts = {k[0][1] for rid in released for k in cells[rid]}
    checked = 0
    for code in sorted(schools):
        out = tmp_path / f"{code}.pdf"
        assert env.run("--as", OPS, "feedback", code, "--out", str(out)).exit_code == 0
        words = pdf_words(out.read_bytes())
        report = report_of(env, released, code)
        labels = " ".join([code, *released, *cohorts, report.school.board or ""])
        # axis, "leerjaar 3", "95 van de 100", "groep 8"
        assert_numbers_released(code, words, report.figures(), cells, labels, {"0", "25", "50", "75", "100", "3",
                                                                                "95", "8"})
        checked += 1
    assert checked == len(schools) >= 3


def assert_numbers_released(page: str, words: str, figures, cells: dict, labels: str, fixed: set[str]) -> None:
    """Every number in `words` is a shown released figure (the cell of its release, never a suppressed one),
    one computed from shown released figures, a number of `labels` or one of `fixed` (axis, wording)."""
    allowed = set(fixed) | set(numbers_in(labels))
    for figure in figures:
        if figure.source is not None:
            rid, key, measure = figure.source
            shown = cells[rid][(key, measure)]
            if figure.value is None:
                assert figure.suppressed == (shown == "x")
                continue
            assert shown != "x" and float(shown) == figure.value, (figure, shown)
        else:
            if figure.value is None:
                continue
            assert figure.inputs and all(i.source is not None and i.value is not None for i in figure.inputs)
        allowed |= {f"{figure.value:.1f}".replace(".", ","), str(int(figure.value))}
    for number in numbers_in(words):
        assert number in allowed, f"{page}: {number} on the page is no released figure"


def info_and_tables(env, released, code):
    """A school's register entry and the released tables, read from the release files (not through the CLI
    under test)."""
    from ttp import db
    from ttp.app import App
    from ttp.settings import resolve

    app = App(settings=resolve(env.data_dir, env.database_url))
    with app.session() as session:
        s = session.get(db.School, code)
        info = SchoolInfo(s.brin, s.name, s.place, s.board, s.municipality, s.municipality_name, s.province)
    tables = []
    for rid in released:
        folder = env.data_dir / "releases" / rid
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        tables.append(read_released(rid, rid, meta, (folder / "table.csv").read_text(encoding="utf-8")))
    return info, tables


def report_of(env, released, code):
    return build_report(*info_and_tables(env, released, code))


def test_every_school_of_a_board_in_english_with_a_png_of_a_page(round_, tmp_path):
    env, released, school, _ = round_
    board = school["BEVOEGD GEZAG NUMMER"]
    result = env.run("--as", OFFICER, "feedback", "--all", "--board", board, "--out", str(tmp_path / "r"),
                     "--lang", "en")
    assert result.exit_code == 0, result.output
    written = sorted((tmp_path / "r").glob("*.pdf"))
    assert written and f"wrote {len(written)} report(s)" in result.stdout
    words = pdf_words(written[0].read_bytes())
    assert "feedback to the school" in words.lower() and "Your board" in words
    assert "terugkoppeling" not in words.lower()
    code = school["BRIN NUMMER"] + school["VESTIGINGSNUMMER"][-2:]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / "school-report.png"
    assert env.run("--as", OPS, "feedback", code, "--out", str(png)).exit_code == 0
    assert png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(("args", "who", "message"), [
    (["99ZZ00"], OPS, "unknown school '99ZZ00'"),
    (["--all", "--board", "1"], OPS, "board '1'"),
    (["01QW00"], RESEARCHER, "is a researcher"),
    (["01QW00", "--all", "--board", "1"], OPS, "give one SCHOOL, or --all with --board"),
    (["01QW00", "--round", "r_000000000000"], OPS, "unknown feedback round 'r_000000000000'"),
])
def test_bad_input_is_one_line_and_writes_nothing(round_, tmp_path, args, who, message):
    env, _, _, _ = round_
    out = tmp_path / "x.pdf"
    result = env.run("--as", who, "feedback", *args, "--out", str(out))
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output and not out.exists()


def test_a_report_of_one_released_round_uses_that_rounds_releases(round_, tmp_path):
    env, released, school, made = round_
    code = school["BRIN NUMMER"] + school["VESTIGINGSNUMMER"][-2:]
    out = tmp_path / "round.pdf"
    result = env.run("--as", OPS, "feedback", code, "--round", made["request_id"], "--out", str(out))
    assert result.exit_code == 0, result.output
    words = pdf_words(out.read_bytes())
    assert all(rid in words for rid in released)
    events = json.loads(env.run("--as", OFFICER, "audit", "show", "--json").stdout)["events"]
    last = [e for e in events if e["action"] == "feedback"][-1]
    assert last["details"]["round"] == made["request_id"] and sorted(last["details"]["releases"]) == sorted(released)


def test_a_rounds_releases_each_verify_and_the_request_names_them(round_):
    env, released, _, made = round_
    verified = env.run("--as", OFFICER, "release", "verify", "--all", "--json")
    assert verified.exit_code == 0, verified.output
    results = {r["release_id"]: r["reproduced"] for r in json.loads(verified.stdout)["releases"]}
    assert set(released) <= set(results) and all(results[r] for r in released), results
    shown = json.loads(env.run("--as", OFFICER, "request", "show", made["request_id"], "--json").stdout)
    assert shown["status"] == "released" and sorted(shown["release_ids"]) == sorted(released)
