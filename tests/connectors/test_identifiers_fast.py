"""The fast path of check_postcode gives exactly what python-stdnum's validate gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.exceptions import ValidationError
from stdnum.nl import postcode as stdnum_postcode

from connectors.identifiers import check_postcode

POSTCODEISH = st.text(alphabet="0123456789 ABDSZNLab-\n\t", max_size=9) | st.from_regex(
    r"[0-9]{4} ?[A-Z]{2}", fullmatch=True)


def _stdnum(value: str) -> tuple[str | None, str | None]:
    try:
        return stdnum_postcode.validate(value).replace(" ", ""), None
    except ValidationError:
        return None, "malformed postcode"


@given(POSTCODEISH)
@settings(max_examples=400)
def test_check_postcode_equals_stdnum(value):
    assert check_postcode(value) == _stdnum(value)


def test_examples():
    assert check_postcode("1234AB") == ("1234AB", None) and check_postcode("1234 AB") == ("1234AB", None)
    for bad in ("0123AB", "1234SA", "1234SD", "1234SS", "1234 ab "):
        assert check_postcode(bad) == _stdnum(bad)
