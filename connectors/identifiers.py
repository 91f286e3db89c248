"""Checks of single identifying values (stdnum for Dutch numbers); each returns (clean value, reason)."""

from __future__ import annotations

import re

import numpy as np
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError
from stdnum.nl import brin as stdnum_brin
from stdnum.nl import bsn as stdnum_bsn
from stdnum.nl import onderwijsnummer as stdnum_onr
from stdnum.nl import postcode as stdnum_postcode

Checked = tuple[str | None, str | None]
_SCHOOL_YEAR = re.compile(r"^(\d{4})\s*[-/]\s*(\d{2}|\d{4})$")
_FOUR_DIGITS = re.compile(r"^\d{4}$")


def _reason(exc: ValidationError) -> str:
    if isinstance(exc, InvalidChecksum):
        return "failed check digit"
    if isinstance(exc, InvalidLength):
        return "wrong length"
    return "invalid format"


def check_number(value: str) -> tuple[str | None, str | None, str | None]:
    """Classify a number from a BSN or onderwijsnummer column: (kind 'bsn'|'onr' or None, number, reason)."""
    try:
        return "bsn", stdnum_bsn.validate(value), None
    except ValidationError as exc:
        reason = _reason(exc)
    try:
        return "onr", stdnum_onr.validate(value), None
    except ValidationError:
        return None, None, reason


# A valid postcode as exports write it ('1234AB' or '1234 AB'): stdnum's rule (first digit not 0, letters
# not SA, SD or SS), for which stdnum's validate (~20 µs a value) would give the same compact result.
_PLAIN_POSTCODE = re.compile(r"([1-9][0-9]{3}) ?((?!SA|SD|SS)[A-Z]{2})")


def check_postcode(value: str) -> Checked:
    """A Dutch postcode, compact as '1234AB'."""
    plain = _PLAIN_POSTCODE.fullmatch(value)
    if plain:
        return plain[1] + plain[2], None
    try:
        return stdnum_postcode.validate(value).replace(" ", ""), None
    except ValidationError:
        return None, "malformed postcode"


def check_brin(value: str) -> Checked:
    """BRIN plus dependancecode (6 characters); a bare 4-character BRIN gets dependance '00'."""
    try:
        number = stdnum_brin.validate(value)
    except ValidationError:
        return None, "malformed brin"
    return (number + "00" if len(number) == 4 else number), None


def check_school_year(value: str) -> Checked:
    """A school year 'YYYY-YYYY' (also accepts 'YYYY/YYYY' and 'YYYY-YY'); any year, not only the XSD's."""
    match = _SCHOOL_YEAR.match(value)
    if match:
        first = int(match.group(1))
        second = match.group(2)
        if (len(second) == 4 and int(second) == first + 1) or (
            len(second) == 2 and int(second) == (first + 1) % 100
        ):
            return f"{first:04d}-{first + 1:04d}", None
    return None, "malformed school year"


def check_bsn4(value: str) -> Checked:
    """The last four digits of a BSN or onderwijsnummer."""
    return (value, None) if _FOUR_DIGITS.match(value) else (None, "not four digits")


def check_link_number(value: str) -> Checked:
    """A numeric link field: digits only after removing spaces, dots and dashes."""
    compact = re.sub(r"[\s.\-]", "", value)
    return (compact, None) if compact.isdigit() and compact.isascii() else (None, "not a number")


_WEIGHTS = np.arange(9, 1, -1)

NONE = np.array(None, dtype=object)
"""None as a 0-d object array: `np.where(c, x, NONE)` is exactly `np.where(c, x, None)`, in terms numpy's type
stubs accept (they take no bare None there)."""


def classify_plain_numbers(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``check_number`` for many strings of exactly nine ASCII digits at once (numpy, same rules as stdnum).

    The 11-test of stdnum.nl.bsn (checksum 0) and stdnum.nl.onderwijsnummer (prefix 10, checksum 5), done
    vectorised because BSNs are distinct per row so a per-value cache does not help; tests prove it agrees
    with stdnum on every input. Returns (kind, number, reason) arrays like ``check_number``.
    """
    n = len(numbers)
    digits = np.asarray(numbers, dtype="U9").view(np.uint32).reshape(n, 9).astype(np.int64) - 48
    checksum = ((digits[:, :8] * _WEIGHTS).sum(axis=1) - digits[:, 8]) % 11
    positive = digits.any(axis=1)
    is_bsn = positive & (checksum == 0)
    is_onr = positive & ~is_bsn & (digits[:, 0] == 1) & (digits[:, 1] == 0) & (checksum == 5)
    kind = np.full(n, None, dtype=object)
    kind[is_bsn] = "bsn"
    kind[is_onr] = "onr"
    number = np.where(is_bsn | is_onr, numbers, NONE)
    reason = np.where(is_bsn | is_onr, NONE, np.where(positive, "failed check digit", "invalid format"))
    return kind, number, reason.astype(object)
