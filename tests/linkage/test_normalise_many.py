"""The batch normalisers (`*_many`) give exactly the single-value results, on awkward text included."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from linkage import normalise as nz

# letters, particles' pieces, every kind of separator the rules treat specially, and odd Unicode
AWKWARD = st.text(alphabet=st.sampled_from(list("aAbdeéIjlnrtvVzØß'’`.,/-‐–— \t\u00a0\u3000\u2028\x1c¨ǅΣς̈ "
                                                "0123456789")), max_size=16)
WORDS = st.sampled_from(["van", "der", "de", "Jansen", "vd", "v.d.", "in 't", "d'Ancona", "O'Brien", "Linden",
                         "Anne-Marie", "J.", "Ĳsbrand", "-", " ", ""])
PHRASES = st.lists(WORDS, max_size=4).map(" ".join) | st.lists(WORDS, max_size=3).map("-".join)
VALUES = AWKWARD | PHRASES | st.sampled_from([None, float("nan"), 12, "  "])


@given(st.lists(st.tuples(VALUES, st.sampled_from([None, "van der", "vd", "", "xyz", "de"]) | AWKWARD),
                max_size=12))
@settings(max_examples=200, deadline=None)
def test_family_name_many_equals_family_name(pairs):
    values, prefixes = [p[0] for p in pairs], [p[1] for p in pairs]
    assert nz.family_name_many(values, prefixes) == [nz.family_name(v, p) for v, p in pairs]


@given(st.lists(st.tuples(VALUES, st.sampled_from([None, "J.P.", "a", ""]) | AWKWARD), max_size=12))
@settings(max_examples=200, deadline=None)
def test_given_name_fields_many_equals_given_names(pairs):
    values, initials = [p[0] for p in pairs], [p[1] for p in pairs]
    want = []
    for v, i in pairs:
        g = nz.given_names(v, i)
        want.append((" ".join(g.names) or None if g else None, g.first if g else None,
                     g.initials[0] if g and g.initials else None))
    assert list(zip(*nz.given_name_fields_many(values, initials), strict=True)) == want


@given(st.lists(st.text(alphabet="0123456789ABSDZab -", max_size=9) | st.sampled_from([None, math.nan, 1234]),
                max_size=12))
@settings(max_examples=200, deadline=None)
def test_postcode_many_equals_postcode(values):
    pcs, areas = nz.postcode_many(values)
    assert list(zip(pcs, areas, strict=True)) == [nz.postcode(v) for v in values]


@given(st.lists(st.text(alphabet="0123456789 .-a١", max_size=11) | st.sampled_from([None, math.nan, 12345678]),
                max_size=12))
@settings(max_examples=200, deadline=None)
def test_digits_many_equals_digits(values):
    assert nz.digits_many(values) == [nz.digits(v) for v in values]


def test_batch_normalisers_keep_the_documented_examples():
    names = nz.family_name_many(["van der Linden", "Jansen-de Vries", "v.d. Berg"], [None, None, "van"])
    assert [n.name for n in names] == ["linden", "jansen vries", "berg"]
    assert [n.prefix for n in names] == ["van der", "", "van"]
    assert nz.given_name_fields_many(["Anne-Marie Els", "  "], [None, "J.P."]) == (
        ["annemarie els", None], ["annemarie", None], ["a", "j"])
