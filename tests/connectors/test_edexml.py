"""EDEXML reader: the official example, school header rules, safety against hostile XML, streaming."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors import ConnectorError, open_export
from connectors import edexml as edexml_module

from .helpers import FLEMISH_EXAMPLE, OFFICIAL_EXAMPLE, edexml, pupil, read_all

needs_shared = pytest.mark.skipif(
    not OFFICIAL_EXAMPLE.exists(), reason="official EDEXML example not available in /work/shared/edexml"
)


def _write(tmp_path: Path, text: str, name: str = "school.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@needs_shared
def test_official_example_parses_with_three_pupils():
    export = open_export(OFFICIAL_EXAMPLE, fmt="edexml")
    records, rejected, dropped, rows_read = read_all(export)
    assert rows_read == 3 and len(records) == 3 and rejected == []
    assert [r["record_key"] for r in records] == ["00001", "00002", "12345"]
    assert {r["export_file"] for r in records} == {"99ZZ00/2014-2015"}
    assert {r["school"] for r in records} == {"99ZZ00"}
    hof = records[2]
    assert (hof["family_name"], hof["name_prefix"], hof["bsn4"], hof["bsn"]) == ("Hof", "van 't", "2731", None)
    assert hof["attr:uitstroomdatum"] == "2014-07-18" and hof["attr:grade"] == "H"
    assert records[1]["postcode"] == "6971VB" and records[1]["attr:gewicht"] == "0.3"
    # the example's BSN fails the 11-test: dropped from the row and counted, the row stays
    assert dropped == {("bsn", "failed check digit"): 1}
    assert export.school_year == "2014-2015" and export.files[0].size == OFFICIAL_EXAMPLE.stat().st_size


@needs_shared
def test_official_flemish_example_is_refused():
    with pytest.raises(ConnectorError, match="Flemish"):
        open_export(FLEMISH_EXAMPLE, fmt="edexml")


def test_flemish_pupil_number_is_refused(tmp_path):
    path = _write(tmp_path, edexml(pupil("1", {"achternaam": "A", "rijksregisternummer": "13345678512"})))
    export = open_export(path, fmt="edexml")
    with pytest.raises(ConnectorError, match="Flemish"):
        read_all(export)


def test_school_year_after_the_schema_enumeration_is_accepted(tmp_path):
    path = _write(tmp_path, edexml(pupil("1", {"achternaam": "A"}), year="2025-2026"))
    records, *_ = read_all(open_export(path, fmt="edexml"))
    assert records[0]["school_year"] == "2025-2026" and records[0]["export_file"] == "12AB00/2025-2026"


def test_malformed_school_year_is_refused(tmp_path):
    path = _write(tmp_path, edexml(pupil("1"), year="2025-2027"))
    with pytest.raises(ConnectorError, match="schooljaar"):
        open_export(path, fmt="edexml")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE EDEX [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<EDEX><school><schooljaar>2024-2025</schooljaar><brincode>12AB</brincode></school>
<leerlingen><leerling key="1"><achternaam>&lol3;</achternaam></leerling></leerlingen></EDEX>
"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE EDEX [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<EDEX><school><schooljaar>2024-2025</schooljaar><brincode>12AB</brincode></school>
<leerlingen><leerling key="1"><achternaam>&xxe;</achternaam></leerling></leerlingen></EDEX>
"""


# the same entities used only inside the root's start tag (read before the first element event)
ATTRIBUTE_LAUGHS = BILLION_LAUGHS.replace("<EDEX>", '<EDEX x="&lol3;&lol3;&lol3;">').replace(
    "<achternaam>&lol3;</achternaam>", "")
QUADRATIC = (f'<?xml version="1.0"?>\n<!DOCTYPE EDEX [<!ENTITY a "{"x" * 50_000}">]>\n<EDEX><school><schooljaar>'
             f"2024-2025</schooljaar><brincode>12AB</brincode></school><leerlingen><leerling key=\"1\"><achternaam>"
             f"{'&a;' * 10_000}</achternaam></leerling></leerlingen></EDEX>\n")
PARAMETER = """<?xml version="1.0"?>
<!DOCTYPE EDEX [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<EDEX><school><schooljaar>2024-2025</schooljaar><brincode>12AB</brincode></school><leerlingen/></EDEX>
"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, XXE, ATTRIBUTE_LAUGHS, QUADRATIC, PARAMETER],
                         ids=["billion-laughs", "xxe", "laughs-in-root-attribute", "quadratic-blowup",
                              "external-parameter-entity"])
def test_entity_tricks_are_refused_not_expanded(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(ConnectorError, match="refused") as info:
        open_export(path, fmt="edexml")
    assert "lol" not in str(info.value) and "passwd" not in str(info.value)
    # the pupils stream refuses it too, before yielding anything
    with pytest.raises(ConnectorError, match="refused"):
        next(edexml_module.pupils(path))


def test_external_dtd_is_refused_and_never_loaded(tmp_path):
    """An entity from an unloaded DTD would be left unexpanded (a silently empty value): refused instead."""
    (tmp_path / "evil.dtd").write_text('<!ENTITY name "FROM-THE-DTD">', encoding="utf-8")
    doctype = f'<!DOCTYPE EDEX SYSTEM "{(tmp_path / "evil.dtd").as_uri()}">\n<EDEX>'
    for body in ({"achternaam": "Jansen"}, {"achternaam": "&name;"}):
        path = _write(tmp_path, edexml(pupil("1", body)).replace("<EDEX>", doctype, 1))
        with pytest.raises(ConnectorError, match="refused") as info:
            open_export(path, fmt="edexml")
        assert "FROM-THE-DTD" not in str(info.value)
        with pytest.raises(ConnectorError, match="refused"):
            next(edexml_module.pupils(path))


def test_comments_processing_instructions_and_cdata_read_as_text(tmp_path):
    body = ('<leerling key="1"><achternaam>Jan<!-- a comment -->sen</achternaam><voornamen>A<?pi x?>nna'
            '</voornamen><roepnaam><![CDATA[Ank & co]]></roepnaam></leerling>')
    records, *_ = read_all(open_export(_write(tmp_path, edexml(body)), fmt="edexml"))
    assert (records[0]["family_name"], records[0]["given_names"], records[0]["preferred_name"]) == (
        "Jansen", "Anna", "Ank & co")


def test_only_pupils_of_the_pupil_section_are_read(tmp_path):
    """A <leerling> elsewhere (under a teacher, a nested section, inside a pupil, under the root) is no pupil."""
    text = edexml(pupil("1", {"achternaam": "A"}).replace("</leerling>", '<leerling key="n"/></leerling>'))
    text = text.replace("</leerlingen>", '</leerlingen><leerkrachten><leerkracht key="T"><leerling key="t"/>'
                        '</leerkracht></leerkrachten><x><leerlingen><leerling key="x"/></leerlingen></x>'
                        '<leerling key="r"/>')
    records, *_ = read_all(open_export(_write(tmp_path, text), fmt="edexml"))
    assert [r["record_key"] for r in records] == ["1"]


def test_truncated_file_is_refused_up_front(tmp_path):
    text = edexml(pupil("1", {"achternaam": "A"}) * 1)
    path = _write(tmp_path, text[: len(text) // 2 + 20])
    with pytest.raises(ConnectorError, match="truncated"):
        open_export(path, fmt="edexml")


def test_broken_xml_inside_raises_from_chunks(tmp_path):
    path = _write(tmp_path, edexml('<leerling key="1"><achternaam>A</voornamen></leerling>'))
    export = open_export(path, fmt="edexml")
    with pytest.raises(ConnectorError, match="not well-formed XML"):
        read_all(export)


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "empty"), (b"\x00\x01\x02binary", "binary"), (b"<html><body/></html>", "truncated or not EDEXML"),
     (b"<foo/></EDEX>", "not an EDEXML"), (b"<EDEX><leerlingen/></EDEX>", "no <school> header")],
)
def test_unreadable_files_are_refused(tmp_path, content, reason):
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    with pytest.raises(ConnectorError, match=reason):
        open_export(path, fmt="edexml")


def test_dropped_elements_are_never_stored(tmp_path):
    secret = "SECRET-VALUE"
    body = pupil(
        "1",
        {"achternaam": "Jansen", "gebruikersnaam": secret, "emailadres": secret, "etniciteit": secret,
         "land": secret, "land_vader": secret, "bsn": "111222333", "postcodenl": "1234AB"},
    )
    extra_teacher = f'<leerkrachten><leerkracht key="T"><achternaam>{secret}</achternaam></leerkracht></leerkrachten>'
    text = edexml(body).replace("</leerlingen>", "</leerlingen>" + extra_teacher)
    text = text.replace('<leerling key="1">', f'<leerling key="1" eckid="{secret}">')
    records, *_ = read_all(open_export(_write(tmp_path, text), fmt="edexml"))
    assert secret not in repr(records)
    assert records[0]["bsn"] == "111222333"


def test_keys_repeat_across_schools_but_not_within_one(tmp_path):
    a = _write(tmp_path, edexml(pupil("1", {"achternaam": "A"}) + pupil("1", {"achternaam": "B"})), "a.xml")
    _write(tmp_path, edexml(pupil("1", {"achternaam": "C"}), brin="34CD"), "b.xml")
    records, rejected, dropped, rows_read = read_all(open_export(tmp_path, fmt="edexml"), rows=1)
    assert rows_read == 3 and len(records) == 2
    assert [(r.export_file, r.row_number, r.reasons) for r in rejected] == [
        ("12AB00/2024-2025", 2, ["duplicate record_key in export file"])
    ]
    assert rejected[0].raw == {"key": "1", "achternaam": "B"}
    assert a.exists()


def test_bsn4_is_kept_weak_and_sex_codes_follow_iso_5218(tmp_path):
    body = (
        pupil("1", {"achternaam": "A", "geslacht": "2", "bsn_ondwnr-4": "1234"})
        + pupil("2", {"achternaam": "B", "geslacht": "9", "onderwijsnummer": "101234564"})
        + pupil("3", {"achternaam": "C", "geslacht": "0", "sofinummer": "111222333"})
        + pupil("4", {"achternaam": "D", "geslacht": "7", "bsn_ondwnr-4": "12a4"})
    )
    records, _, dropped, _ = read_all(open_export(_write(tmp_path, edexml(body)), fmt="edexml"))
    assert [r["sex"] for r in records] == ["F", "X", None, None]
    assert [r["bsn4"] for r in records] == ["1234", None, None, None]
    assert records[0]["bsn"] is None and records[1]["onderwijsnummer"] == "101234564"
    assert records[2]["bsn"] == "111222333"
    assert dropped == {("sex", "unknown sex code"): 1, ("bsn4", "not four digits"): 1}


def test_grade_from_group_when_pupil_has_no_jaargroep(tmp_path):
    groups = '<groepen><groep key="G7"><naam>7</naam><jaargroep>7</jaargroep></groep></groepen>'
    body = '<leerling key="1"><achternaam>A</achternaam><groep key="G7"/></leerling>'
    records, *_ = read_all(open_export(_write(tmp_path, edexml(body, extra=groups)), fmt="edexml"))
    assert records[0]["attr:grade"] == "7"
