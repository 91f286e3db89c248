"""Tables from outside: the layout is read or refused in one line, and the threshold rule holds on every cell."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.errors import RequestError
from policies.external import disclosure_problems, parse_external

labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz/-", min_size=1, max_size=12)


@st.composite
def tables(draw):
    groups = draw(st.lists(labels, min_size=1, max_size=8, unique=True))
    rows = []
    for group in groups:
        n = draw(st.integers(0, 200))
        rows.append((group, n, draw(st.integers(0, n))))
    return rows


@given(rows=tables(), threshold=st.integers(1, 20))
def test_a_table_reads_back_and_the_rule_finds_exactly_the_small_cells(rows, threshold):
    text = "advies,n,n_havo_vwo\n" + "".join(f"{g},{n},{k}\n" for g, n, k in rows)
    table = parse_external(text.encode())
    assert [(r[1][0], *r[2]) for r in table.rows] == rows
    small = sum((0 < n < threshold) + (0 < k < threshold) + (0 < n - k < threshold and not 0 < k < threshold)
                for _, n, k in rows)
    assert len(disclosure_problems(table, threshold)) == small


@given(st.binary(max_size=200))
def test_any_bytes_are_a_table_or_one_request_error(data):
    try:
        parse_external(data)
    except RequestError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize("text, words", [
    ("advies,n\nvwo,-3\n", "not a whole number"),
    ("advies,n,n_x\nvwo,3,4\n", "larger than n"),
    ("advies,n\nvwo,3\nvwo,4\n", "same labels"),
    ("n\n3\n", "label columns"),
    ("advies,n,pct\nvwo,3,4\n", "not a count column"),
    ("advies,n\n,3\n", "a label is empty"),
    ("advies,n\n", "no rows"),
])
def test_bad_layouts_name_the_problem(text, words):
    with pytest.raises(RequestError, match=words):
        parse_external(text.encode())
