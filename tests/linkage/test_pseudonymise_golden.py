"""Pinned output: the feature frame of a fixed input must stay bit-for-bit identical (features are stored).

The digest below was taken from the per-row implementation before the throughput work; a change means every
stored batch would stop linking with new ones. Never update it to make a test pass: find the regression.
"""

import hashlib
import itertools

import numpy as np
import pandas as pd

from linkage.pseudonymise import make_features

SECRET = hashlib.sha256(b"ttp golden test key").digest()

FAMILY = ["van der Linden", "Linden, v.d.", "LINDEN", "Lindén", "Jansen-de Vries", "de Vries", "O'Brien",
          "Øster", "v/d Berg", "Berg van den", "De", "in 't Veld", "d'Ancona", "Müller-Lüdenscheidt", "  ",
          "", None, np.nan, "ter Horst - van Dijk", "Çelik", "Nguyễn", "vd Hoek", "'t Hart", "Smit,Jan"]
PREFIX = [None, "van der", "vd", "de", "xyz", "", "i.t."]
GIVEN = ["Jan", "Anne-Marie Els", "J.", "P J", "Émile", "Ønne", "  ", None, "jan  pieter", "Ĳsbrand", "ß"]
INITIALS = [None, "J.P.", "a", ""]
PREFERRED = ["Jan", "anne marie", None, "", "Ø", "D'Artagnan"]
DATES = ["2012-03-04", "2012-04-03", "2012-03-13", "2012-02-31", "2012-3-4", "2012-05-05T10:00", "bad",
         None, "", "2000-02-29", "1999-02-29"]
POSTCODES = ["1234 AB", "1234AC", "1234-ab", "0123AB", "1234SA", "12", "1234", None, "", "9999 zz"]
BSNS = ["123456782", "12345678", "1234-5678-2", None, "", "abc", np.nan]
SEX = ["M", "F", "V", "X", "m", None, "", "?"]
CODES = ["ab.12", "AB 12", "x-y_z", None, "", "Ⅻ"]


def golden_records() -> pd.DataFrame:
    """A deterministic mix of every column's awkward cases (no random generator: stable across versions)."""
    rows = []
    combos = itertools.product(range(len(FAMILY)), range(len(GIVEN)))
    for i, (f, g) in enumerate(combos):
        rows.append({
            "export_file": f"file{i % 3}.csv" if i % 17 else None, "school": ["12AB00", "", None][i % 3],
            "row_number": i + 1, "record_key": f"k{i % 200}" if i % 5 else i * 7,
            "bsn": BSNS[i % len(BSNS)], "onderwijsnummer": BSNS[(i // 3) % len(BSNS)],
            "bsn4": CODES[(i // 2) % len(CODES)],
            "family_name": FAMILY[f], "name_prefix": PREFIX[i % len(PREFIX)],
            "given_names": GIVEN[g], "initials": INITIALS[i % len(INITIALS)],
            "preferred_name": PREFERRED[i % len(PREFERRED)], "birth_date": DATES[i % len(DATES)],
            "sex": SEX[i % len(SEX)], "postcode": POSTCODES[(i // 2) % len(POSTCODES)],
            "link:naam": GIVEN[(i // 5) % len(GIVEN)], "link:nr": CODES[(i // 7) % len(CODES)],
            "link:cat": PREFERRED[(i // 3) % len(PREFERRED)],
        })
    return pd.DataFrame(rows)


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 over column names, dtypes and every value (type-tagged, length-prefixed), plus the attrs."""
    h = hashlib.sha256()
    for column in frame.columns:
        values = frame[column].to_numpy()
        h.update(f"{column}|{values.dtype.str}|{len(values)}|".encode())
        if values.dtype != object:
            h.update(np.ascontiguousarray(values).tobytes())
            continue
        for value in values:
            if value is None:
                h.update(b"N")
            else:
                data = value if isinstance(value, bytes) else str(value).encode()
                h.update(type(value).__name__.encode() + len(data).to_bytes(4, "big") + data)
    h.update(repr(sorted(frame.attrs.items())).encode())
    return h.hexdigest()


def golden_features(**kw) -> pd.DataFrame:
    return make_features(golden_records(), source="po", secret=SECRET, key_version=3,
                         link_kinds={"naam": "string", "nr": "number", "cat": "code"}, **kw)


def test_feature_frame_is_unchanged():
    assert frame_digest(golden_features()) == GOLDEN


def test_feature_frame_without_bloom_filters_is_unchanged():
    assert frame_digest(golden_features(bloom_filters=False)) == GOLDEN_NO_BLOOM


def test_digest_sees_a_single_changed_value():
    frame = golden_features(bloom_filters=False)
    before = frame_digest(frame)
    frame.loc[5, "fam"] += 1
    assert frame_digest(frame) != before


GOLDEN = "d4e28fa121e74c4b74f07f3330ad596f85ce63916f25e8a1c9ff6bbac891a4db"
GOLDEN_NO_BLOOM = "533a8b37fb53b41b5cdc73cdbb4e79ff10f55ffe04d25eff50bd627ea85f1df7"
