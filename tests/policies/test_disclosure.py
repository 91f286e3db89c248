import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from policies.disclosure import SUPPRESSED, primary_reasons, protect, round_count
from policies.request import Request
from policies.table import compute_table
from tests.policies.helpers import persons, policy, request
from tests.policies.lp import attack

DIMENSION_SETS = [["school"], ["school", "year"], ["school", "level"], ["school", "year", "level"],
                  ["gemeente", "band"], []]


def assert_protected(protected, level):
    table = protected.table
    counts = table.counts
    published = ~protected.suppressed
    small = (counts > 0) & (counts < 10)
    assert not (small & published).any(), "a released cell is below the threshold"
    for index in zip(*np.nonzero(protected.suppressed), strict=True):
        lo, hi = attack(counts.astype(float), protected.suppressed, index)
        assert hi - lo >= level - 1e-6, f"{table.label(index)} narrowed to [{lo}, {hi}]"
        if not protected.reasons[index].startswith("primary"):
            continue
        for name, sums in table.sums.items():
            lo, hi = attack(sums, protected.suppressed, index)
            assert hi - lo >= 0.1 * sums[index] - 1e-6, f"{name} at {table.label(index)}"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(0, 300), schools=st.integers(1, 7), seed=st.integers(0, 10_000),
       skew=st.floats(0.5, 4.0), dims=st.sampled_from(DIMENSION_SETS),
       zeros=st.sampled_from(["publish", "disclosive", "suppress"]), vo=st.booleans())
def test_no_released_cell_below_threshold_and_every_suppression_survives_the_lp_attack(
        n, schools, seed, skew, dims, zeros, vo):
    frame = persons(n, schools, seed, skew)
    pol = policy(zeros=zeros)
    req = request(dims, ["pupils", "score"], population=["po", "vo"] if vo else ["po"])
    table = compute_table(frame, req, pol)
    assume(all(table.categories))  # a dimension without categories leaves nothing to protect
    protected = protect(table, pol)
    assert_protected(protected, pol.disclosure.protection_level)
    for name, values in protected.published.items():
        assert ((values == SUPPRESSED) == protected.suppressed).all(), name


def test_table_counts_and_margins_match_the_frame():
    frame = persons(500, 4, seed=3)
    table = compute_table(frame, request(["school", "year"]), policy())
    crosstab = pd.crosstab(frame["po.brin"], frame["po.school_year"], margins=True)
    assert (table.counts[0] == crosstab.to_numpy()).all()
    assert table.categories[0] == sorted(frame["po.brin"].unique())


def test_magnitudes_dominance_and_p_ratio():
    frame = pd.DataFrame({"in_po": True, "po.brin": ["A"] * 12 + ["B"] * 12, "po.school_year": "2022-2023",
                          "vo.niveau": "havo", "po.gemeente": "G",
                          "po.toets_score": ["1"] * 10 + ["500", "400"] + ["10"] * 12})
    table = compute_table(frame, request(["school"], ["pupils", "score"]), policy())
    reasons = primary_reasons(table, policy())
    assert any("dominance (2, 90%)" in r for r in reasons[(0, 0)])
    assert any("p-ratio" in r for r in reasons[(0, 0)])
    assert (0, 1) not in reasons
    protected = protect(table, policy())
    assert protected.suppressed[0, 0] and protected.suppressed[0, 1]
    assert protected.reasons[(0, 1)] == "secondary: protects school=A"


def test_every_suppressed_cell_has_a_reason():
    frame = persons(300, 6, seed=5, skew=3)
    protected = protect(compute_table(frame, request(["school", "level"]), policy()), policy())
    assert protected.suppressed.sum() > 0
    assert set(protected.reasons) == {tuple(map(int, i)) for i in zip(*np.nonzero(protected.suppressed),
                                                                      strict=True)}
    assert all(r.startswith(("primary: ", "secondary: protects ")) for r in protected.reasons.values())


@pytest.mark.parametrize(("value", "base", "expected"), [(0, 5, 0), (2, 5, 0), (3, 5, 5), (12, 5, 10),
                                                         (13, 5, 15), (47, 10, 50), (47, None, 47)])
def test_rounding(value, base, expected):
    assert round_count(value, base) == expected


def test_rounded_release_only_publishes_multiples_of_the_base():
    frame = persons(800, 5, seed=1)
    pol = policy(rounding_base=5)
    protected = protect(compute_table(frame, request(["school", "year"]), pol), pol)
    shown = [v for v in protected.published["pupils"].flat if v != SUPPRESSED]
    assert shown and all(v % 5 == 0 for v in shown)


def test_a_share_is_shown_only_when_both_meeting_and_missing_reach_the_threshold_and_clamped():
    """NCO: a share with its denominator is a count of both sides; "<5" of 12 pupils can only be 0 of 12."""
    rng = np.random.default_rng(2)
    n = 260 + 12 + 40 + 30
    frame = persons(n, 4, seed=2)
    frame["po.brin"] = ["00XY00"] * 260 + ["01XY00"] * 12 + ["02XY00"] * 40 + ["03XY00"] * 30
    levels = ["havo"] * 11 + ["vmbo"] * 249 + ["vmbo"] * 12 + list(rng.permutation(["havo"] * 15 + ["vmbo"] * 25))
    levels += ["havo"] * 10 + ["vmbo"] * 20  # the cheapest partner to hide with 0 of 12
    frame["vo.niveau"] = levels
    pol = policy()
    protected = protect(compute_table(frame, request(["school"], ["pupils", "havo_vwo"]), pol), pol)
    shares, counts = protected.published["havo_vwo"][0], protected.published["pupils"][0]
    assert shares[0] == "<5", "11 of 260: both sides reach 10, shown clamped"
    assert shares[1] == SUPPRESSED and counts[1] == 12, "0 of 12: the share is hidden, the count is not"
    assert protected.share_primary["havo_vwo"][0, 1]
    assert shares[2] == 37.5
    assert shares[3] == SUPPRESSED and counts[3] == 30, "hidden so that 0 of 12 cannot be recomputed"
    assert all(isinstance(v, float) and 5 <= v <= 95 or v in ("<5", ">95", SUPPRESSED) for v in shares)


def test_zero_policies():
    frame = persons(400, 3, seed=4)
    frame["vo.niveau"] = np.where(frame["po.brin"] == "00XY00", "vwo", frame["vo.niveau"])
    req = request(["school", "level"])
    for zeros, suppressed_zero in (("publish", False), ("disclosive", True), ("suppress", True)):
        pol = policy(zeros=zeros)
        protected = protect(compute_table(frame, req, pol), pol)
        assert bool(protected.suppressed[0, 0, 0]) is suppressed_zero, zeros
        assert_protected(protected, pol.disclosure.protection_level)


def test_filters_and_missing_values():
    frame = persons(300, 4, seed=6)
    frame.loc[frame.index[:20], "po.brin"] = None
    frame.loc[frame.index[20:30], "po.brin"] = ""
    req = Request(policy="test", purpose="p", population=["po"], dimensions=["school"], measures=["pupils"],
                  filters={"year": ["2021-2022"]})
    table = compute_table(frame, req, policy())
    expected = frame[(frame["po.school_year"] == "2021-2022") & frame["po.brin"].fillna("").ne("")]
    assert table.counts[0, -1] == len(expected)
