"""Property tests: mutated and random files never raise anything but ConnectorError, and counts reconcile."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors import ConnectorError, open_export
from connectors.identifiers import check_number, classify_plain_numbers

from .helpers import edexml, pupil, read_all, vve_profile

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID_CSV = (
    "KindID;Achternaam;Tussenvoegsel;Voornaam;Geboortedatum;Geslacht;Postcode;BSN;VVE-indicatie\r\n"
    "1;Linden, van der;;Jérôme;01-02-2020;M;1234 ab;111222333;ja\r\n"
    "2;\"Jansen; Smit\";van;Piet;31-12-2019;V;9999ZZ;101234564;nee\r\n"
    "3;Bakker;;Els;01-01-1985;X;;123456789;\r\n"
).encode("cp1252")
VALID_XML = edexml(
    pupil("1", {"achternaam": "Jansen", "voorvoegsel": "van", "geboortedatum": "2015-03-04",
                "geslacht": "2", "bsn": "111222333", "postcodenl": "1234AB"})
    + pupil("2", {"roepnaam": "Wim", "geslacht": "1", "bsn_ondwnr-4": "1234", "gewicht": "0.30"})
).encode("utf-8")


@st.composite
def mutated(draw, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "replace" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from([b";", b'"', b"\n", b"<", b"&"]))
        elif kind == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[pos:]
    return bytes(data)


def _read(content: bytes, name: str, **kwargs) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        try:
            export = open_export(path, **kwargs)
            records, rejected, dropped, rows_read = read_all(export, rows=2)
        except ConnectorError as exc:
            assert "\n" not in str(exc)
            return
        assert rows_read == len(records) + len(rejected)
        assert all(n > 0 for n in dropped.values())


@FUZZ
@given(mutated(VALID_CSV) | st.binary(max_size=300))
def test_csv_reader_survives_mutations_and_random_bytes(content):
    _read(content, "vve.csv", profile=vve_profile(encoding="auto"))


@FUZZ
@given(mutated(VALID_XML) | st.binary(max_size=300))
@example(content=b'<?xml version="1.0" encoding="TF-8"?><a/>')  # an unknown encoding: LookupError escaped
def test_edexml_reader_survives_mutations_and_random_bytes(content):
    _read(content, "school.xml", fmt="edexml")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=9, max_size=9) | st.sampled_from(["000000000", "101234564"]))
def test_vectorised_eleven_test_agrees_with_stdnum(number):
    kind, value, reason = classify_plain_numbers([number])
    assert (kind[0], value[0], reason[0]) == check_number(number)
