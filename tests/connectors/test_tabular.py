"""CSV and XLSX through a profile: validation rules, quarantine, counts, and every bad-file kind."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors import ConnectorError, open_export, parse_profile
from connectors.record import iter_records

from .helpers import VVE_HEADER, read_all, vve_profile, write_csv

GOOD = "1;Linden, van der;;Jérôme;01-02-2020;M;1234 ab;111222333;ja"


def test_issue_example_profile_reads_cp1252(tmp_path):
    path = write_csv(tmp_path / "vve.csv", [GOOD, "2;van der Linden;;Anna;15-07-2019;V;;;nee"])
    export = open_export(path, profile=vve_profile())
    records, rejected, dropped, rows_read = read_all(export)
    assert (rows_read, rejected, dropped) == (2, [], {})
    first = records[0]
    assert first["given_names"] == "Jérôme" and first["family_name"] == "Linden, van der"
    assert records[1]["family_name"] == "van der Linden"
    assert (first["birth_date"], first["sex"], first["postcode"], first["bsn"]) == (
        "2020-02-01", "M", "1234AB", "111222333")
    assert (first["attr:birth_year"], first["attr:sex"], first["attr:sector"]) == ("2020", "M", "vve")
    assert first["attr:vve_indicatie"] == "ja" and first["export_file"] == "vve.csv" and first["school"] == ""
    assert [r["row_number"] for r in records] == [1, 2]
    assert export.sector == "vve" and export.files[0].name == "vve.csv" and len(export.files[0].sha256) == 64


def test_bad_values_are_dropped_and_counted_rows_stay(tmp_path):
    lines = [
        "1;A;;B;31-02-2020;Q;12345;111222334;x",   # bad date, sex, postcode, BSN check digit
        "2;A;;B;01-01-1985;M;1234AB;101234564;x",  # before 1990-01-01 (vve); an onderwijsnummer in the BSN column
        "3;A;;B;01-01-2999;F;1234AB;123456789;x",  # future date; BSN fails the 11-test
    ]
    records, rejected, dropped, rows_read = read_all(open_export(write_csv(tmp_path / "a.csv", lines),
                                                                 profile=vve_profile()))
    assert rows_read == 3 and len(records) == 3 and not rejected
    assert records[1]["onderwijsnummer"] == "101234564" and records[1]["bsn"] is None
    assert all(r[f] is None for r in records for f in ("birth_date",))
    assert records[0]["sex"] is None and records[0]["postcode"] is None and records[0]["bsn"] is None
    assert dropped == {
        ("birth_date", "unparseable date"): 1, ("birth_date", "before earliest_birth_date 1990-01-01"): 1,
        ("birth_date", "in the future"): 1, ("sex", "unknown sex code"): 1,
        ("postcode", "malformed postcode"): 1, ("bsn", "failed check digit"): 2,
    }


def test_missing_and_repeated_keys_are_quarantined_with_raw_values(tmp_path):
    lines = [GOOD, GOOD.replace("Jérôme", "Other"), ";A;;B;01-02-2020;M;;;", " ;A;;B;;;;;"]
    records, rejected, _, rows_read = read_all(open_export(write_csv(tmp_path / "a.csv", lines),
                                                           profile=vve_profile()), rows=1)
    assert rows_read == 4 and len(records) == 1
    assert [(r.row_number, r.reasons) for r in rejected] == [
        (2, ["duplicate record_key in export file"]), (3, ["missing record_key"]), (4, ["missing record_key"])]
    assert rejected[0].raw["Voornaam"] == "Other" and rejected[0].export_file == "a.csv"


def test_error_messages_never_carry_values(tmp_path):
    path = write_csv(tmp_path / "a.csv", [GOOD, "2;Jansen;;Piet;01-01-2000;M;1234AB;111222333;x;EXTRA;MORE"])
    export = open_export(path, profile=vve_profile())
    with pytest.raises(ConnectorError) as info:
        read_all(export)
    message = str(info.value)
    assert "line 3" in message and "Jansen" not in message and "111222333" not in message


def test_profile_mismatch_is_refused_before_any_row(tmp_path):
    path = write_csv(tmp_path / "a.csv", [GOOD], header=VVE_HEADER.replace("Postcode", "PC"))
    with pytest.raises(ConnectorError, match=r"fields\.postcode \('Postcode'\)"):
        open_export(path, profile=vve_profile())


def test_wrong_delimiter_is_refused(tmp_path):
    path = write_csv(tmp_path / "a.csv", [GOOD.replace(";", ",")], header=VVE_HEADER.replace(";", ","))
    with pytest.raises(ConnectorError, match="delimiter ';'"):
        open_export(path, profile=vve_profile())


def test_auto_delimiter_and_encoding_find_the_file_format(tmp_path):
    path = write_csv(tmp_path / "a.csv", [GOOD.replace(";", ",").replace("Linden, van der", "Linden")],
                     encoding="utf-8-sig", header=VVE_HEADER.replace(";", ","))
    profile = vve_profile(delimiter="auto", encoding="auto")
    records, *_ = read_all(open_export(path, profile=profile))
    assert records[0]["given_names"] == "Jérôme" and records[0]["record_key"] == "1"


def test_undecodable_file_is_refused(tmp_path):
    path = write_csv(tmp_path / "a.csv", [GOOD], encoding="cp1252")
    with pytest.raises(ConnectorError, match="cannot be decoded as utf-8"):
        open_export(path, profile=vve_profile(encoding="utf-8"))


@pytest.mark.parametrize("content, reason", [(b"", "empty"), (b"KindID\x00;\x01\x02", "binary"),
                                             (b"\r\n\r\n", "no header")])
def test_unreadable_csv_files_are_refused(tmp_path, content, reason):
    path = tmp_path / "a.csv"
    path.write_bytes(content)
    with pytest.raises(ConnectorError, match=reason):
        open_export(path, profile=vve_profile())


def test_unclosed_quote_raises_from_chunks(tmp_path):
    export = open_export(write_csv(tmp_path / "a.csv", [GOOD, '2;"Jansen;;;;;;;']), profile=vve_profile())
    with pytest.raises(ConnectorError, match="malformed CSV"):
        read_all(export)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ConnectorError, match="no such file"):
        open_export(tmp_path / "nope.csv", profile=vve_profile())


CODES_PROFILE = """
format = "csv"
delimiter = ","
encoding = "utf-8"
sector = "po"
attach_to = "po"
[fields]
record_key = "leerling"
brin = "brin"
school_year = "jaar"
[link_fields]
volgnummer = { column = "volgnr", kind = "number" }
[attributes]
school_advice = "advies"
vo_level = "niveau"
[attribute_codes.school_advice]
"HAVO/VWO" = "havo/vwo"
"PRO" = "praktijkonderwijs"
[attribute_codes.vo_level]
"VMBO-TL" = "vmbo-gt"
"""


def test_attach_to_builds_edexml_export_file_and_maps_codes(tmp_path):
    path = tmp_path / "eindtoets.csv"
    path.write_text(
        "leerling,brin,jaar,volgnr,advies,niveau\n"
        "1,12ab,2024-2025,12 34,havo/vwo,VMBO-TL\n"
        "2,12AB01,2024/2025,x,PRO,gymnasium\n"
        "3,,2024-2025,1,vwo,vwo\n"
        "1,12AB00,2024-2025,1,vwo,vwo\n",
        encoding="utf-8",
    )
    export = open_export(path, profile=parse_profile(CODES_PROFILE))
    records, rejected, dropped, rows_read = read_all(export)
    assert export.attach_to == "po" and export.link_kinds == {"volgnummer": "number"}
    assert [r["export_file"] for r in records] == ["12AB00/2024-2025", "12AB01/2024-2025"]
    assert [r["attr:school_advice"] for r in records] == ["havo/vwo", "praktijkonderwijs"]
    assert [r["attr:vo_level"] for r in records] == ["vmbo-gt", None]
    assert [r["link:volgnummer"] for r in records] == ["1234", None]
    assert [(r.row_number, r.reasons) for r in rejected] == [
        (3, ["missing brin"]), (4, ["duplicate record_key in export file"])]
    assert dropped == {("attr:vo_level", "not in code list"): 1, ("link:volgnummer", "not a number"): 1}
    assert rows_read == 4


def test_school_year_argument_fills_rows(tmp_path):
    path = write_csv(tmp_path / "a.csv", [GOOD])
    export = open_export(path, profile=vve_profile(), school_year="2025/2026")
    records, *_ = read_all(export)
    assert records[0]["school_year"] == "2025-2026" and export.school_year == "2025-2026"
    with pytest.raises(ConnectorError, match="school_year argument"):
        open_export(path, profile=vve_profile(), school_year="next year")


def test_records_conform_to_the_canonical_record(tmp_path):
    path = write_csv(tmp_path / "a.csv", [GOOD, "2;Smit;;;;X;;101234564;"])
    export = open_export(path, profile=vve_profile())
    chunk = next(export.chunks())
    models = list(iter_records(chunk.records))
    assert [m.record_key for m in models] == ["1", "2"]
    assert models[1].sex == "X" and models[1].onderwijsnummer == "101234564"
    assert models[0].attributes["vve_indicatie"] == "ja" and models[0].link_fields == {}


def test_xlsx_with_dates_numbers_and_a_bad_workbook(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(VVE_HEADER.split(";"))
    sheet.append([1, "Jansen", None, "Piet", dt.datetime(2019, 3, 4), "M", "1234AB", 111222333, "ja"])
    sheet.append([None, None, None, None, None, None, None, None, None])
    sheet.append([2, "Smit", None, "Els", "05-06-2019", "V", None, None, None])
    path = tmp_path / "vve.xlsx"
    book.save(path)
    profile = vve_profile(format="xlsx")
    records, rejected, dropped, rows_read = read_all(open_export(path, profile=profile))
    assert rows_read == 2 and not rejected and not dropped
    assert [r["birth_date"] for r in records] == ["2019-03-04", "2019-06-05"]
    assert records[0]["bsn"] == "111222333" and records[0]["record_key"] == "1"
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ConnectorError, match="not a readable XLSX"):
        open_export(broken, profile=profile)


def test_first_row_longer_than_header_is_refused_not_truncated(tmp_path):
    export = open_export(write_csv(tmp_path / "a.csv", [GOOD + ";extra", GOOD]), profile=vve_profile())
    with pytest.raises(ConnectorError, match="more fields than the header"):
        read_all(export)


def test_attribute_lists_put_any_attribute_name_on_a_canonical_list(tmp_path):
    text = CODES_PROFILE.replace("school_advice", "advies").replace(
        "[link_fields]", '[attribute_lists]\nadvies = "school_advice"\n[link_fields]')
    path = tmp_path / "eindtoets.csv"
    path.write_text("leerling,brin,jaar,volgnr,advies,niveau\n1,12AB,2024-2025,1,HAVO/VWO,vwo\n"
                    "2,12AB,2024-2025,1,gymnasium,vwo\n", encoding="utf-8")
    records, _, dropped, _ = read_all(open_export(path, profile=parse_profile(text)))
    assert [r["attr:advies"] for r in records] == ["havo/vwo", None]
    assert dropped == {("attr:advies", "not in code list"): 1}
    with pytest.raises(ConnectorError, match="attribute_codes.advies.PRO"):
        parse_profile(text.replace('"praktijkonderwijs"', '"pro"'))


@pytest.fixture
def small_limits(monkeypatch):
    """Limits small enough to reach in a test (the real ones are gigabytes and millions of rows)."""
    from connectors import limits

    small = limits.Limits(file_bytes=4_000, xlsx_bytes=20_000, xlsx_unpacked_bytes=60_000, rows=50, field_chars=100)
    monkeypatch.setattr(limits, "LIMITS", small)
    return small


def test_a_csv_past_the_limits_is_refused_in_one_line(tmp_path, small_limits):
    with pytest.raises(ConnectorError, match=r"^big.csv: file of [\d,]+ bytes is larger than the limit of 4,000"):
        open_export(write_csv(tmp_path / "big.csv", [GOOD] * 100), profile=vve_profile())
    rows = [GOOD.replace("1;", f"{i};", 1) for i in range(60)]
    export = open_export(write_csv(tmp_path / "rows.csv", rows), profile=vve_profile())
    with pytest.raises(ConnectorError, match=r"^rows.csv: more than 50 rows \(the limit for one file\)$"):
        read_all(export, rows=20)
    wide = GOOD.replace("Jérôme", "J" * 101)
    export = open_export(write_csv(tmp_path / "field.csv", [GOOD.replace("1;", "2;", 1), wide]), profile=vve_profile())
    with pytest.raises(ConnectorError, match=r"^field.csv: row 2: a field of 101 characters, more than the limit"):
        read_all(export)


def test_an_xlsx_past_the_limits_is_refused_in_one_line(tmp_path, small_limits):
    openpyxl = pytest.importorskip("openpyxl")
    profile = vve_profile(format="xlsx")

    def workbook(name: str, rows: list[list]) -> object:
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(VVE_HEADER.split(";"))
        for row in rows:
            sheet.append(row)
        path = tmp_path / name
        book.save(path)
        return path

    good = [1, "Jansen", None, "Piet", "04-03-2019", "M", "1234AB", None, "ja"]
    blank = [None] * 9
    many = workbook("many.xlsx", [good] + [blank] * 60)  # blank rows count too: a sheet of empties is no escape
    with pytest.raises(ConnectorError, match=r"^many.xlsx: more than 50 rows"):
        read_all(open_export(many, profile=profile))
    wide = workbook("wide.xlsx", [good, [2, "Smit", None, "E" * 101, None, "V", None, None, None]])
    with pytest.raises(ConnectorError, match=r"^wide.xlsx: row 2: a field of 101 characters"):
        read_all(open_export(wide, profile=profile))
    bomb = workbook("bomb.xlsx", [[3, "X" * 30_000, None, "Y" * 30_000, None, None, None, None, None]])
    assert bomb.stat().st_size < small_limits.xlsx_bytes
    with pytest.raises(ConnectorError, match=r"^bomb.xlsx: workbook unpacks to [\d,]+ bytes, more than the limit"):
        open_export(bomb, profile=profile)


def test_the_default_limits_hold_a_national_export_and_stop_a_hostile_one():
    from connectors.limits import LIMITS, XLSX_ROWS

    assert LIMITS.rows >= 2_000_000 and LIMITS.field_chars >= 1_000  # every mbo student; a long address
    assert LIMITS.field_chars < 60_000_000 // 1000 and min(LIMITS.rows, XLSX_ROWS) < 4_000_000
