"""The po exports are EDEXML 2.1 files that validate against the official schema and carry vendor extras."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.demo.exports import read_po
from ttp.demo import generate_cohort

SCHEMA = Path("/work/shared/edexml/EDEXML.structuur.xsd")


@pytest.fixture(scope="module")
def po_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("edexml")
    generate_cohort(out, persons=1500, seed=5)
    return out


def test_files_validate_against_the_edexml_schema(po_dir):
    etree = pytest.importorskip("lxml.etree")
    if not SCHEMA.exists():
        pytest.skip("the EDEXML schema is not on this machine")
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    files = sorted((po_dir / "po").glob("*.xml"))
    assert files
    for path in files:
        assert schema.validate(etree.parse(str(path))), f"{path.name}: {schema.error_log.last_error}"


def test_files_carry_what_real_exports_carry(po_dir):
    text = next((po_dir / "po").glob("*.xml")).read_text(encoding="utf-8")
    for element in ("<schooljaar>2018-2019</schooljaar>", "<brincode>", "<dependancecode>", "<leerkrachten>",
                    "<emailadres>", 'eckid="', "<gewicht_nieuw>", "<instroomdatum>", "<voorletters-1>"):
        assert element in text
    pupils = read_po(po_dir)
    assert any("toevoegingen" in p for p in pupils)
    assert {p["jaargroep"] for p in pupils} == {"8"}
    assert {p["gewicht_nieuw"] for p in pupils} == {"0", "0,3", "1,2"}
    assert all(p["file"] == f"{p['school']}_2018-2019.xml" for p in pupils)
