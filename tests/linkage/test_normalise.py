"""Normalisation: Dutch family names with particles, given names, dates, postcodes; idempotence."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.nl import postcode as nl_postcode

from linkage import normalise as nz

NAMES = st.text(alphabet="abcdefghijklmnoprstuvwyzë", min_size=2, max_size=10).filter(
    lambda s: nz.fold(s) not in nz.PARTICLES and nz.fold(s).strip("'") not in nz.ABBREVIATIONS
)
PREFIXES = st.sampled_from(["van", "van der", "van den", "de", "den", "ter", "ten", "te", "in 't", "op de",
                            "op 't", "van 't", "van de", "la", "le", "du", "d'"])
ACCENTS = str.maketrans({"e": "é", "a": "á", "o": "ö", "i": "ï", "u": "ü"})


@pytest.mark.parametrize(
    ("written", "prefix_column"),
    [("van der Linden", None), ("Linden, van der", None), ("Linden van der", None), ("vd Linden", None),
     ("v.d. Linden", None), ("V.D.Linden", None), ("v/d Linden", None), ("Linden", "van der"),
     ("Linden", "v.d."), ("VAN DER  LINDEN", None), ("van der Lindén", None)],
)
def test_ways_to_write_van_der_linden(written, prefix_column):
    assert nz.family_name(written, prefix_column) == nz.FamilyName("van der", ("linden",), ("van der",))


def test_double_surname_keeps_parts_and_particles():
    assert nz.family_name("Jansen-de Vries") == nz.FamilyName("", ("jansen", "vries"), ("", "de"))
    assert nz.family_name("de Vries - van Dijk").parts == ("vries", "dijk")
    assert nz.family_name("de Vries - van Dijk").part_prefixes == ("de", "van")


def test_apostrophe_particles_and_names():
    assert nz.family_name("in 't Veld") == nz.FamilyName("in 't", ("veld",), ("in 't",))
    assert nz.family_name("d'Ancona").prefix == "d'"
    assert nz.family_name("D’Ancona") == nz.family_name("d'Ancona")
    assert nz.family_name("O'Brien").name == nz.family_name("OBrien").name == "obrien"


def test_particle_only_name_keeps_last_word_and_missing_is_none():
    assert nz.family_name("De").parts == ("de",)
    assert nz.family_name("  ") is None
    assert nz.family_name(None) is None
    assert nz.family_name(float("nan")) is None


@given(prefix=PREFIXES, name=NAMES, style=st.sampled_from(["lead", "comma", "trail", "column"]),
       upper=st.booleans(), accents=st.booleans(), spaces=st.integers(1, 3))
@settings(max_examples=150)
def test_family_name_insensitive_to_how_it_is_written(prefix, name, style, upper, accents, spaces):
    expected = nz.family_name(f"{prefix} {name}")
    gap = " " * spaces
    shown = name.translate(ACCENTS) if accents else name
    written, column = {
        "lead": (f"{prefix}{gap}{shown}" if not prefix.endswith("'") else f"{prefix}{shown}", None),
        "comma": (f"{shown},{gap}{prefix}", None),
        "trail": (f"{shown}{gap}{prefix}", None),
        "column": (shown, prefix),
    }[style]
    if upper:
        written, column = written.upper(), column.upper() if column else None
    got = nz.family_name(written, column)
    assert got == expected
    assert got.parts == (nz.fold(name),) and got.prefix == prefix


@given(st.text(max_size=30))
@settings(max_examples=200)
def test_fold_is_idempotent(text):
    assert nz.fold(nz.fold(text)) == nz.fold(text)


@given(st.text(max_size=30), st.one_of(st.none(), PREFIXES))
@settings(max_examples=300)
def test_family_name_is_idempotent(text, prefix):
    once = nz.family_name(text, prefix)
    if once is not None:
        assert nz.family_name(once.written) == once
        assert all(nz.fold(part) == part for part in once.parts)


def test_fold_rules():
    assert nz.fold("Çelik-Øster  Straße") == "celik oster strasse"
    assert nz.fold("ĲSSELMUIDEN") == "ijsselmuiden"
    assert nz.fold("Zoë’s") == "zoe's"


def test_given_names():
    g = nz.given_names("Anne-Marie Johanna")
    assert (g.names, g.first, g.initials) == (("annemarie", "johanna"), "annemarie", "aj")
    assert nz.given_names("J.P.").names == () and nz.given_names("J.P.").initials == "jp"
    assert nz.given_names(None, "J. P.").initials == "jp"
    assert nz.given_names("Zoë  jan") == nz.given_names("ZOE JAN")
    assert nz.given_names("") is None


@given(st.dates())
@settings(max_examples=200)
def test_birth_date_parts_and_swap(date):
    parsed = nz.birth_date(date.isoformat())
    assert (parsed.year, parsed.month, parsed.day) == (date.year, date.month, date.day)
    swapped = parsed.swapped
    if date.day <= 12 and date.day != date.month:
        assert (swapped.month, swapped.day) == (date.day, date.month)
        assert swapped.swapped == parsed
    else:
        assert swapped is None


def test_birth_date_rejects_invalid():
    assert nz.birth_date("2012-02-30") is None
    assert nz.birth_date("30-01-2012") is None
    assert nz.birth_date("2012-01-30T00:00:00").iso == "2012-01-30"


def test_postcode():
    assert nz.postcode("1234 ab") == ("1234AB", "1234")
    assert nz.postcode("1234") == (None, "1234")
    assert nz.postcode("1234SS") == (None, "1234")
    assert nz.postcode("0123AB") == (None, None)
    assert nz.postcode(None) == (None, None)


@given(st.text(alphabet="0123456789ABSDZab", max_size=8))
@settings(max_examples=300)
def test_postcode_rule_agrees_with_stdnum(text):
    assert (nz.postcode(text)[0] is not None) == nl_postcode.is_valid(text)


def test_digits_and_codes():
    assert nz.digits("12345678") == "012345678"
    assert nz.digits("1234.56.782") == "123456782"
    assert nz.digits("abc") is None
    assert nz.code(" ab-12.c ") == "AB12C"


def test_per_distinct_calls_once_per_value():
    calls = []
    results, codes = nz.per_distinct(["b", "a", None, "b", float("nan"), "a"], lambda v: calls.append(v) or v)
    assert sorted(calls) == ["a", "b"]
    assert [results[c] if c >= 0 else None for c in codes] == ["b", "a", None, "b", None, "a"]
