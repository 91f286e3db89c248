"""The feedback report's core: released tables in, figures with their source out, suppression in words."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.feedback import Figure, SchoolInfo, band, build_report, read_released
from policies.feedback_pages import figure_text, percent, report_pdf
from tests.policies.helpers import pdf_words

YEARS = ("2019-2020", "2020-2021", "2021-2022")
SCHOOL = SchoolInfo("01AA00", "BASISSCHOOL HET PALET", "VENLO", "111", "0983", "VENLO", "LIMBURG")
MEASURES = ["pupils", "havo_vwo", "below_advice", "havo_vwo_expected"]


def table(rid: str, dim: str, rows: dict[tuple[str, str], list[str]], pooled: bool = False, measures=MEASURES):
    meta = {"request": {"dimensions": [dim, "school_year"], "measures": measures, "pool": {"school_year": 3}
                        if pooled else {}, "groups": {}}}
    text = ",".join([dim, "school_year", *measures]) + "\n"
    text += "".join(",".join([*key, *values]) + "\n" for key, values in rows.items())
    text += '\n"x = not shown"\n'
    return read_released(rid, rid, json.loads(json.dumps(meta)), text)


def yearly_school(shown: bool = True):
    rows = {("01AA00", y): (["30", "40.0", "x", "45.0"] if shown else ["30", "x", "x", "x"]) for y in YEARS}
    rows[("01AA00", "Total")] = ["90", "41.1", "x", "44.0"] if shown else ["90", "x", "x", "x"]
    rows[("Total", "Total")] = ["900", "50.0", "8.0", "50.0"]
    for y in YEARS:
        rows[("Total", y)] = ["300", "50.0", "8.0", "50.0"]
    return table("rel_school", "school", rows)


def test_the_school_beside_its_board_and_the_province_each_from_its_release():
    board = table("rel_board", "board", {("111", "Total"): ["200", "45.5", "x"], ("111", YEARS[0]): ["70", "44", "x"]},
                  measures=["pupils", "havo_vwo", "below_advice"])
    report = build_report(SCHOOL, [yearly_school(), board])
    havo = report.sections[0]
    assert havo.levels["school"].share == Figure(41.1, ("rel_school", ("01AA00", "Total"), "havo_vwo"))
    assert havo.levels["board"].share.value == 45.5 and havo.levels["board"].pupils.value == 200
    assert havo.levels["province"].share.value == 50.0
    assert "municipality" not in havo.levels  # no municipality table released: no line for it
    below = report.sections[1]
    assert below.levels["school"].share.suppressed and below.levels["school"].share.value is None
    assert [t.release_id for t in report.sources] == ["rel_school", "rel_board"]


def test_a_small_school_gets_its_pooled_cohorts_and_the_report_says_so():
    pooled = table("rel_pooled", "school", {("01AA00", "2019-2020 to 2021-2022"): ["90", "41.1", "x", "44.0"],
                                            ("01AA00", "Total"): ["90", "41.1", "x", "44.0"],
                                            ("Total", "Total"): ["900", "50.0", "8.0", "50.0"]}, pooled=True)
    report = build_report(SCHOOL, [yearly_school(shown=False), pooled])
    havo = report.sections[0]
    assert havo.pooled_trend and havo.levels["school"].share.value == 41.1
    assert havo.reference is not None and havo.reference.expected.source[0] == "rel_pooled"
    words = " ".join(pdf_words(report_pdf(report)).split())  # wrapped lines joined
    assert "blokken van drie cohorten samengenomen" in words and "te weinig leerlingen om te tonen" in words
    assert "Basisschool Het Palet" in words and "Venlo" in words


def test_the_reference_band_and_its_verdict():
    report = build_report(SCHOOL, [yearly_school()])
    ref = report.sections[0].reference
    assert ref is not None and ref.expected.value == 44.0 and ref.observed.pupils.value == 90
    assert ref.low.value == pytest.approx(44.0 - 196 * (0.44 * 0.56 / 90) ** 0.5, abs=0.05)
    assert ref.verdict == "within"
    assert all(i.source is not None for i in ref.low.inputs)


@given(st.floats(0, 100), st.integers(1, 5000))
def test_the_band_holds_the_expected_share_and_narrows_with_more_pupils(expected, n):
    e, small, big = Figure(round(expected, 1)), Figure(float(n)), Figure(float(n * 4))
    lo, hi = band(e, small)
    assert 0 <= lo.value <= e.value + 0.05 and e.value - 0.05 <= hi.value <= 100
    lo4, hi4 = band(e, big)
    assert hi4.value - lo4.value <= hi.value - lo.value + 0.1


def test_a_figure_not_shown_is_said_in_words_in_either_language():
    hidden = Figure(None, ("r", ("a",), "m"), suppressed=True)
    assert figure_text(hidden, "nl") == "te weinig leerlingen om te tonen"
    assert figure_text(hidden, "en") == "too few pupils to show"
    assert figure_text(Figure(None, clamped="<5"), "nl") == "<5% (niet precies getoond)"
    assert percent(52.35, "nl") == "52,4%" or percent(52.35, "nl") == "52,3%"
    assert percent(7.0, "en") == "7.0%"


def test_a_table_whose_columns_are_not_its_requests_is_refused():
    meta = {"request": {"dimensions": ["school", "school_year"], "measures": ["pupils"], "groups": {}}}
    with pytest.raises(ValueError, match="columns its request names"):
        read_released("rel_x", "x", meta, "school,school_year,pupils,extra\n")
