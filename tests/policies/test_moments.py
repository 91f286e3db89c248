"""Columns at a moment of a school career, the field's indicators, and tables over them."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.errors import PolicyError, RequestError
from policies.indicators import LEVELS, advice_position, lowest_level
from policies.moments import Moment, at_moment, parse_moment
from policies.policy import load_policy
from policies.request import Request
from policies.table import compute_table


def test_a_moment_parses_and_a_plain_column_has_none():
    assert parse_moment("vo.niveau") is None
    assert parse_moment("vo.niveau@grade=3") == Moment("vo.niveau@grade=3", "vo", "niveau", "grade", "3")
    assert parse_moment("mbo.niveau@first").kind == "first"
    assert parse_moment("vo.niveau@year=2022-2023").value == "2022-2023"


@pytest.mark.parametrize("bad", ["vo.niveau@", "vo.niveau@grade", "vo.niveau@first=2", "vo.niveau@year=22",
                                 "vo.niveau@week=3", "niveau@grade=3", "vo.niveau@grade=3@first"])
def test_a_malformed_moment_is_one_policy_error(bad):
    with pytest.raises(PolicyError, match="column"):
        parse_moment(bad)


@given(st.text(max_size=40))
def test_parsing_any_column_name_gives_a_moment_none_or_a_policy_error(text):
    try:
        moment = parse_moment(text)
    except PolicyError:
        assert "@" in text
        return
    assert (moment is None) == ("@" not in text)


RECORDS = pd.DataFrame({
    "person_id": ["p1", "p1", "p1", "p1", "p2", "p2", "p3"],
    "school_year": ["2020-2021", "2021-2022", "2022-2023", "2023-2024", "2021-2022", "2022-2023", "2022-2023"],
    "grade": ["1", "2", "3", "3", 2.0, 3.0, "1"],
    "niveau": ["havo/vwo", "havo", "havo", "vmbo-gt", "vwo", "vwo", "vmbo-k"],
    "_order": [0, 1, 2, 3, 1, 2, 2],
})


def test_at_moment_takes_the_first_record_in_a_grade_the_record_of_a_year_and_first_or_last():
    def pick(column):
        return at_moment(RECORDS.sample(frac=1, random_state=3), parse_moment(column)).to_dict()

    assert pick("vo.niveau@grade=3") == {"p1": "havo", "p2": "vwo"}  # p1 repeated leerjaar 3: the first time
    assert pick("vo.niveau@year=2022-2023") == {"p1": "havo", "p2": "vwo", "p3": "vmbo-k"}
    assert pick("vo.niveau@first") == {"p1": "havo/vwo", "p2": "vwo", "p3": "vmbo-k"}
    assert pick("vo.niveau@last") == {"p1": "vmbo-gt", "p2": "vwo", "p3": "vmbo-k"}
    assert pick("vo.nothing@first") == {}


def test_advice_position_counts_a_double_advice_by_its_lowest_level():
    advice = pd.Series(["vmbo-gt/havo", "havo/vwo", "havo", "vwo", None, "vmbo-b/k", "havo"])
    level = pd.Series(["havo", "havo", "vmbo-gt", "vwo", "havo", "vmbo-k", "onbekend"])
    assert advice_position(advice, level).tolist() == ["above", "at", "below", "at", None, "above", None]


@given(st.sampled_from(LEVELS), st.sampled_from(LEVELS), st.sampled_from(LEVELS))
def test_advice_position_follows_the_order_of_levels(a, b, level):
    single = advice_position(pd.Series([a]), pd.Series([level]))[0]
    rank = LEVELS.index
    assert single == ("at" if rank(level) == rank(a) else "above" if rank(level) > rank(a) else "below")
    double = advice_position(pd.Series([f"{a}/{b}"]), pd.Series([level]))[0]
    low = min(rank(a), rank(b))
    assert double == ("at" if rank(level) == low else "above" if rank(level) > low else "below")
    assert lowest_level(f"{a}/{b}") == low


POLICY = """
name = "moments"
populations = [["po", "vo"]]

[dimensions.school]
column = "po.brin"
[dimensions.position]
column = "advice_position_lj3"
categories = ["below", "at", "above"]

[measures.pupils]
kind = "count"
[measures.growth]
kind = "mean"
column = "test_growth"
[measures.havo_vwo_lj3]
kind = "share"
condition = "vo.niveau@grade=3 in [havo, vwo]"

[derived.advice_position_lj3]
indicator = "advice_position"
inputs = { advice = "po.advies", level = "vo.niveau@grade=3" }
[derived.test_growth]
indicator = "change"
inputs = { first = "po.toets_score@grade=4", second = "po.toets_score@grade=8" }

[disclosure]
min_cell_count = 1
"""


def test_a_table_over_moments_and_indicators():
    policy = load_policy(POLICY, "moments")
    persons = pd.DataFrame({
        "person_id": ["a", "b", "c", "d"], "in_po": True, "in_vo": True,
        "po.brin": ["01AA", "01AA", "02BB", "02BB"], "po.advies": ["havo", "vmbo-gt/havo", "vwo", None],
        "vo.niveau@grade=3": ["havo", "havo", "havo", "vwo"],
        "po.toets_score@grade=4": [180, 190, None, 200], "po.toets_score@grade=8": [530, 536, 540, 545],
    })
    request = Request(policy="moments", purpose="t", population=["po", "vo"], dimensions=["position"],
                      measures=["pupils", "growth", "havo_vwo_lj3"])
    table = compute_table(persons, request, policy)
    assert table.categories == [["below", "at", "above"]]
    assert table.counts[0].tolist() == [1, 1, 1, 3]  # d has no advice: in no category
    assert table.sums["growth"][0].tolist() == [0.0, 350.0, 346.0, 696.0]


@pytest.mark.parametrize("change, message", [
    ('indicator = "advice_position"', "unknown indicator"),
    ('inputs = { advice = "po.advies" }', "takes the inputs"),
    ('level = "vo.niveau@grade=3"', "moment"),
])
def test_a_bad_derived_column_is_refused_naming_it(change, message):
    text = POLICY.replace('indicator = "advice_position"', 'indicator = "advice_position_x"') \
        if "indicator" in change else POLICY
    if change.startswith("inputs"):
        text = POLICY.replace('inputs = { advice = "po.advies", level = "vo.niveau@grade=3" }', change)
    if change.startswith("level"):
        text = POLICY.replace('level = "vo.niveau@grade=3"', 'level = "vo.niveau@grade"')
    with pytest.raises(PolicyError, match=message):
        load_policy(text, "moments")


def test_pooling_puts_k_consecutive_school_years_in_one_category_ending_with_the_newest():
    from policies.check import check_request

    text = POLICY.replace("[dimensions.position]", '[dimensions.year]\ncolumn = "po.school_year@grade=8"\n'
                                                   "[dimensions.position]")
    policy = load_policy(text, "moments")
    years = ["2016-2017", "2017-2018", "2018-2019", "2019-2020", "2020-2021", "2021-2022", "2022-2023"]
    persons = pd.DataFrame({"person_id": [f"p{i}" for i in range(7)], "in_po": True, "in_vo": True,
                            "po.brin": "01AA", "po.school_year@grade=8": years})
    request = Request(policy="moments", purpose="t", population=["po", "vo"], dimensions=["year"],
                      measures=["pupils"], pool={"year": 3})
    table = compute_table(persons, request, policy)
    assert table.categories == [["2016-2017", "2017-2018 to 2019-2020", "2020-2021 to 2022-2023"]]
    assert table.counts[0].tolist() == [1, 3, 3, 7]
    assert check_request(request, policy).ok
    bad = Request(policy="moments", purpose="t", population=["po", "vo"], dimensions=["year"],
                  measures=["pupils"], pool={"school": 3, "year": 1})
    assert {p.split(":")[0] for p in check_request(bad, policy).problems} == {"pool"}
    not_years = Request(policy="moments", purpose="t", population=["po", "vo"], dimensions=["school"],
                        measures=["pupils"], pool={"school": 2})
    with pytest.raises(RequestError, match="school year"):
        compute_table(persons, not_years, policy)


def test_repeats_says_whether_a_pupil_was_twice_in_one_grade():
    repeated = at_moment(RECORDS, parse_moment("vo.grade@repeats")).to_dict()
    assert repeated == {"p1": "ja", "p2": "nee", "p3": "nee"}
    with pytest.raises(PolicyError, match="grade@repeats"):
        parse_moment("vo.niveau@repeats")


def test_level_change_moves_up_and_down_by_the_lowest_level():
    from policies.indicators import level_change

    first = pd.Series(["havo/vwo", "havo/vwo", "vmbo-gt", "vwo", None])
    third = pd.Series(["vwo", "havo", "vmbo-k", "vwo", "havo"])
    assert level_change(first, third).tolist() == ["up", "same", "down", "same", None]


def test_early_leavers_follow_duos_vsv_and_not_merely_leaving_without_a_diploma():
    from policies.indicators import early_leavers

    rows = [  # person, year, source, level, diploma, born
        ("left", "2020-2021", "mbo", "2", "nee", 2003), ("back", "2020-2021", "mbo", "2", "nee", 2003),
        ("back", "2021-2022", "mbo", "1", "nee", 2003), ("qualified", "2020-2021", "mbo", "2", "ja", 2003),
        ("level1", "2020-2021", "mbo", "1", "ja", 2003), ("older", "2020-2021", "mbo", "3", "nee", 1990),
        ("from_vo", "2020-2021", "vo", "vmbo-b", None, 2005), ("stays", "2020-2021", "vo", "havo", None, 2006),
        ("stays", "2021-2022", "vo", "havo", None, 2006),
    ]
    records = pd.DataFrame(rows, columns=["person_id", "school_year", "source", "niveau", "diploma", "birth_year"])
    vsv = early_leavers(records, "2020-2021").to_dict()
    assert vsv == {"left": "ja", "back": "nee", "qualified": "nee", "level1": "ja", "older": "nee",
                   "from_vo": "ja", "stays": "nee"}
    assert early_leavers(records, "2021-2022").empty  # 2022-2023 was not delivered: cannot be told yet
    assert parse_moment("career.vsv@year=2020-2021").source == "career"
    for wrong in ("career.vsv@last", "career.switch@year=2020-2021", "career.crebo@first"):
        with pytest.raises(PolicyError, match="career"):
            parse_moment(wrong)


def test_the_first_mbo_year_vsv_and_switching_opleiding_of_starters_only():
    from policies.indicators import career_column, first_year_early_leavers, first_year_switch

    rows = [  # person, year, source, grade, crebo, level, diploma, born
        ("stays", "2020-2021", "vo", "3", None, "vmbo-k", None, 2005),
        ("stays", "2021-2022", "mbo", "1", "25256", "2", "nee", 2005),
        ("stays", "2022-2023", "mbo", "2", "25256", "2", "nee", 2005),
        ("switches", "2021-2022", "mbo", "1", "25256", "2", "nee", 2005),
        ("switches", "2022-2023", "mbo", "1", "25480", "3", "nee", 2005),
        ("leaves", "2021-2022", "mbo", "1", "25480", "3", "nee", 2005),
        ("second_year", "2021-2022", "mbo", "2", "25480", "3", "nee", 2004),  # started before the deliveries
        ("second_year", "2022-2023", "mbo", "3", "25491", "3", "nee", 2004),
        ("late", "2022-2023", "mbo", "1", "25604", "4", "nee", 2006),  # 2023-2024 not delivered: not known yet
    ]
    records = pd.DataFrame(rows, columns=["person_id", "school_year", "source", "grade", "crebo", "niveau",
                                          "diploma", "birth_year"])
    assert first_year_switch(records).to_dict() == {"stays": "nee", "switches": "ja", "leaves": "nee"}
    assert first_year_early_leavers(records).to_dict() == {"stays": "nee", "switches": "nee", "leaves": "ja"}
    assert career_column(records, "switch", "first", None).equals(first_year_switch(records))
    assert parse_moment("career.switch@first").attribute == "switch"
