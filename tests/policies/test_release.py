import csv
import hashlib
import io
import json
import zipfile

import pytest
from openpyxl import load_workbook

from policies.disclosure import protect
from policies.factsheet import render_factsheet
from policies.release import render
from policies.table import compute_table
from tests.policies.helpers import pdf_words, persons, policy, request

META = {"policy_hash": "ab" * 32, "created": "2024-06-01T12:00:00", "release_id": "R-9", "audit_event": 17}


@pytest.fixture(scope="module")
def protected():
    frame = persons(400, 6, seed=2, skew=3)
    frame.loc[frame["po.brin"] == "05XY00", "po.brin"] = "=HYPERLINK(1)"
    pol = policy()
    return protect(compute_table(frame, request(["school", "year"], ["pupils", "havo_vwo", "score"]), pol), pol)


def test_render_is_byte_for_byte_deterministic(protected):
    first, second = render(protected, META), render(protected, dict(META))
    assert sorted(first) == ["SHA256SUMS", "metadata.json", "table.csv", "table.xlsx"]
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first["table.xlsx"])) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2024, 6, 1, 12, 0, 0)}
    assert b"2024-06-01T12:00:00" in zipfile.ZipFile(io.BytesIO(first["table.xlsx"])).read("docProps/core.xml")


def test_sha256sums_lists_every_other_file(protected):
    files = render(protected, META)
    lines = files["SHA256SUMS"].decode().splitlines()
    assert lines == [f"{hashlib.sha256(files[n]).hexdigest()}  {n}" for n in ("metadata.json", "table.csv",
                                                                              "table.xlsx")]


def test_csv_and_xlsx_show_suppressed_cells_as_x_with_a_footnote_and_neutralise_formulas(protected):
    files = render(protected, META)
    rows = list(csv.reader(io.StringIO(files["table.csv"].decode())))
    assert rows[0] == ["school", "year", "pupils", "havo_vwo", "score"]
    n_cells = protected.table.n_cells
    body = rows[1:1 + n_cells]
    assert sum(r[2] == "x" for r in body) == int(protected.suppressed.sum()) > 0
    assert any(r and r[0].startswith("x = not shown") for r in rows[n_cells + 1:])
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)
    assert any(r[0] == "'=HYPERLINK(1)" for r in body)
    sheet = load_workbook(io.BytesIO(files["table.xlsx"])).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == rows[0]
    assert [str(v) for v in values[1][:2]] == body[0][:2]
    assert not any(isinstance(v, str) and v.startswith("=") for row in values for v in row)


def test_metadata_says_how_many_cells_are_suppressed_never_why(protected):
    files = render(protected, META)
    meta = json.loads(files["metadata.json"])
    assert meta["policy_hash"] == META["policy_hash"]
    assert meta["release"]["audit_event"] == 17 and meta["release"]["release_id"] == "R-9"
    assert meta["suppressed_cells"] == int(protected.suppressed.sum()) > 0
    assert meta["rules"]["min_cell_count"] == 10 and meta["request"]["dimensions"] == ["school", "year"]
    assert "suppressions" not in meta and "earlier_releases" not in meta["rules"]
    everything = b"".join(files.values())
    for word in (b"primary", b"secondary", b"threshold", b"fewer than", b"protects"):
        assert word not in everything, word
    assert protected.suppressions() and all(s["reason"].startswith(("primary", "secondary"))
                                            for s in protected.suppressions())


def test_factsheet_is_a_deterministic_pdf_showing_suppression(protected):
    pdf = render_factsheet(protected, {"title": "School report", "release_id": "R-9"})
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert pdf == render_factsheet(protected, {"title": "School report", "release_id": "R-9"})
    words = pdf_words(pdf)
    assert "School report" in words and "x (not shown)" in words
