"""The privacy scanner's fast search (token lookups) finds exactly what its plain regular expressions find."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.privacy import Identifiers

PIECES = ["Vranken", "vranken", "VRANKEN", "Müller", "mueller", "123456782", "1234567820", "6213CA", "6213 ca",
          "6213 CA", "6213ca", "2015-03-04", "04-03-2015", "4-3-2015", "20150304", "04/03/2015", "x", "7", "-", "/",
          " ", "\n", ",", "a1", "é", "van", "Janssen-Vranken", "12-04-03-2015"]


def identifiers() -> Identifiers:
    ids = Identifiers()
    ids.add_name("Janssen-Vranken")
    ids.add_name("Müller")
    ids.add_number("bsn", "123456782")
    ids.add_number("onderwijsnummer", "1234567820")
    ids.add_date(date(2015, 3, 4))
    ids.add_postcode("6213 CA")
    return ids


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=12))
def test_the_fast_search_agrees_with_the_regular_expressions(pieces):
    ids = identifiers()
    blob = "".join(pieces).encode("utf-8")
    slow = {kind for kind, rx in ids.patterns() if rx.search(blob)}
    assert ids.finder().kinds(blob) == slow


def test_the_fast_search_finds_each_kind():
    finder = identifiers().finder()
    assert finder.kinds(b"pupil VRANKEN, 123456782; 1234567820 at 6213 CA on 04-03-2015") == {
        "name", "bsn", "onderwijsnummer", "postcode", "birth date"}
    assert finder.kinds(b"9123456782 Vrankens 20150304x 6213cab") == set()


def test_base64_fields_are_scanned_as_the_bytes_they_encode_and_plaintext_as_it_stands(tmp_path):
    import base64

    from tests.privacy import scan

    ids = identifiers()
    chance = "AAAA" + "Vranken" + "A" * 25  # base64 text in which a name shows by chance: 36 characters
    assert len(base64.b64decode(chance, validate=True)) == 27
    sealed = tmp_path / "identities.csv"
    sealed.write_text(f"pseudonym,source,identity\np1,po,{chance}\n", encoding="ascii")
    assert scan(ids, [sealed]) == []
    leaked = tmp_path / "leak.csv"
    leaked.write_text(f"pseudonym,source,identity\np1,po,{chance}\np2,po,Vranken\n", encoding="ascii")
    assert [h.kind for h in scan(ids, [leaked])] == ["name"]
    hidden = tmp_path / "hidden.csv"  # a plaintext name inside a base64 field is found once decoded
    hidden.write_text("pseudonym,source,identity\np1,po," + base64.b64encode(b"bsn 123456782 " * 3).decode() + "\n",
                      encoding="ascii")
    assert [h.kind for h in scan(ids, [hidden])] == ["bsn"]


def test_keyed_values_of_one_child_are_found_as_whole_tokens():
    ids = Identifiers()
    ids.add_keyed(-4611686018427387904)
    ids.add_keyed("0a1b2c3d4e5f60718293a4b5c6d7e8f9")
    finder = ids.finder()
    assert finder.kinds(b"bsn\n4611686018427387904\n") == {"keyed"}
    assert finder.kinds(b"record_id,x\n0a1b2c3d4e5f60718293a4b5c6d7e8f9,1\n") == {"keyed"}
    assert finder.kinds(b"46116860184273879041 x0a1b2c3d4e5f60718293a4b5c6d7e8f9") == set()
