"""The EDEXML reader validates its columns without building a frame and without stripping them again: the
chunk is the same as validating the frame the old way (hypothesis over pupil tuples)."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import edexml
from connectors.codes import EDEXML_SEX_CODES
from connectors.validate import Rules, Validator

SAMPLES = ["", "Jansen", "van der", "Anne-Marie", "2012-03-04", "2012-02-31", "1", "2", "M", "0,3", "1,2", "X",
           "123456782", "111222333", "1234AB", "0123AB", "1234 AB", "H", "2014-07-18", "Ø"]
VALUE = st.one_of(st.none(), st.sampled_from(SAMPLES), st.text(max_size=6).map(str.strip))
KEY = st.one_of(st.sampled_from(["", "1", " 2 ", "k"]), st.text(max_size=4))


def _rules() -> Rules:
    tables = {name: edexml.WEIGHT_CODES if name == "gewicht" else None for name in edexml.PAYLOAD}
    return Rules(sector="po", date_format="%Y-%m-%d", sex_codes=EDEXML_SEX_CODES, attribute_tables=tables,
                 keys_per_school=True)


@st.composite
def pupils(draw: st.DrawFn) -> list[tuple]:
    n = draw(st.integers(1, 30))
    return [(draw(KEY), *(draw(VALUE) for _ in edexml.SLOTS[1:])) for _ in range(n)]


@given(pupils())
@settings(max_examples=80, deadline=None)
def test_columns_without_a_frame_validate_the_same(raws):
    schools = [edexml._School(path=None, brin="12AB00", school_year="2024-2025")] * len(raws)  # type: ignore[arg-type]
    numbers = list(range(1, len(raws) + 1))
    columns = edexml._frame_columns(raws, schools, numbers)
    old = Validator(_rules()).validate(pd.DataFrame(columns), lambda i: edexml.raw_values(raws[i]))
    new = Validator(_rules()).validate_columns(columns, len(raws), lambda i: edexml.raw_values(raws[i]),
                                               edexml.STRIPPED)
    pd.testing.assert_frame_equal(old.records, new.records)
    assert old.rejected == new.rejected and old.dropped == new.dropped and old.rows_read == new.rows_read
