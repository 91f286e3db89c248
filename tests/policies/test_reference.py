"""The background-adjusted reference (indirect standardisation): expected_share and its mean per school."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.errors import PolicyError
from policies.indicators import expected_share
from policies.policy import load_policy
from policies.request import Request
from policies.table import compute_table

POLICY = """
name = "ref"
populations = [["po", "vo"]]
[dimensions.school]
column = "po.brin"
[measures.pupils]
kind = "count"
[measures.havo_vwo]
kind = "share"
condition = "vo.niveau in [havo, vwo]"
[measures.expected]
kind = "mean"
column = "havo_vwo_expected"
[derived.havo_vwo_expected]
indicator = "expected_share"
inputs = { background = "po.gewicht" }
condition = "vo.niveau in [havo, vwo]"
[disclosure]
min_cell_count = 1
"""


@given(st.lists(st.tuples(st.sampled_from(["0", "0.3", "1.2", None]), st.sampled_from(["havo", "vmbo-b", None])),
                min_size=1, max_size=60))
def test_each_person_gets_the_rate_of_their_background_among_known_outcomes(rows):
    background = pd.Series([b for b, _ in rows], dtype=object)
    level = pd.Series([v for _, v in rows], dtype=object)
    hit, known = level.eq("havo").to_numpy(), level.notna().to_numpy()
    expected = expected_share(background, hit, known)
    for key in {b for b, _ in rows}:
        mine = (background == key).to_numpy() if key is not None else background.isna().to_numpy()
        counted = mine & known
        if key is None or not counted.any():
            assert expected[mine].isna().all()
        else:
            assert np.allclose(expected[mine], 100.0 * hit[counted].mean())
    # over everyone whose background and outcome are known, the expected and the observed agree (the
    # reference of the whole population is the population itself)
    both = background.notna().to_numpy() & known
    if both.any():
        assert np.isclose(expected[both].mean(), 100.0 * hit[both].mean())


def test_a_school_of_heavy_weights_gets_a_lower_reference_than_its_raw_province_share():
    policy = load_policy(POLICY, "ref")
    persons = pd.DataFrame({
        "person_id": list("abcdefgh"), "in_po": True, "in_vo": True,
        "po.brin": ["A", "A", "A", "A", "B", "B", "B", "B"],
        "po.gewicht": ["1.2", "1.2", "1.2", "0", "0", "0", "0", "1.2"],
        "vo.niveau": ["vmbo-b", "havo", "vmbo-b", "vwo", "vwo", "havo", "vmbo-b", "vmbo-b"],
    })
    request = Request(policy="ref", purpose="t", population=["po", "vo"], dimensions=["school"],
                      measures=["pupils", "havo_vwo", "expected"])
    table = compute_table(persons, request, policy)
    means = table.sums["expected"][0] / table.known["expected"][0]
    # weight 1.2: 1 of 4 reach havo/vwo (25%); weight 0: 3 of 4 (75%)
    assert np.allclose(means, [(3 * 25 + 75) / 4, (3 * 75 + 25) / 4, 50.0])


@pytest.mark.parametrize("change, message", [
    ('condition = "vo.niveau in [havo, vwo]"\n[disclosure]', "needs a condition"),
    ('indicator = "expected_share"', "takes no condition"),
])
def test_expected_share_needs_its_outcome_and_others_take_none(change, message):
    if "needs" in message:
        text = POLICY.replace('inputs = { background = "po.gewicht" }\ncondition = "vo.niveau in [havo, vwo]"',
                              'inputs = { background = "po.gewicht" }')
    else:
        text = POLICY.replace('indicator = "expected_share"\ninputs = { background = "po.gewicht" }',
                              'indicator = "change"\ninputs = { first = "a", second = "b" }')
    with pytest.raises(PolicyError, match=message):
        load_policy(text, "ref")
