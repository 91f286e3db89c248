"""Shared builders for connector tests: profiles, CSV files and EDEXML documents."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from connectors import Export, parse_profile

EDEXML_DIR = Path(__file__).resolve().parents[3] / "shared/edexml"
OFFICIAL_EXAMPLE = EDEXML_DIR / "EDEXML.Voorbeeld.2.1.xml"
FLEMISH_EXAMPLE = EDEXML_DIR / "EDEXML.Voorbeeld.2.1-Vla.xml"

VVE_PROFILE = """
format = "csv"
delimiter = ";"
encoding = "cp1252"
date_format = "%d-%m-%Y"
sector = "vve"
[fields]
record_key = "KindID"
family_name = "Achternaam"
name_prefix = "Tussenvoegsel"
given_names = "Voornaam"
birth_date = "Geboortedatum"
sex = "Geslacht"
postcode = "Postcode"
bsn = "BSN"
[attributes]
vve_indicatie = "VVE-indicatie"
"""
VVE_HEADER = "KindID;Achternaam;Tussenvoegsel;Voornaam;Geboortedatum;Geslacht;Postcode;BSN;VVE-indicatie"


def vve_profile(**overrides: str):
    text = VVE_PROFILE
    for key, value in overrides.items():
        text = text.replace(f'{key} = "', f'{key} = "{value}" #', 1)
    return parse_profile(text, "vve.toml")


def write_csv(path: Path, lines: list[str], encoding: str = "cp1252", header: str = VVE_HEADER) -> Path:
    path.write_bytes(("\r\n".join([header, *lines]) + "\r\n").encode(encoding))
    return path


def read_all(export: Export, rows: int = 100_000):
    """All chunks of an export merged: (records list of dicts, rejected, dropped, rows_read)."""
    records, rejected, dropped, rows_read = [], [], Counter(), 0
    for chunk in export.chunks(rows):
        assert chunk.rows_read == len(chunk.records) + len(chunk.rejected)
        records.extend(chunk.records.to_dict(orient="records"))
        rejected.extend(chunk.rejected)
        dropped.update(chunk.dropped)
        rows_read += chunk.rows_read
    return records, rejected, dropped, rows_read


def edexml(pupils: str, year: str = "2024-2025", brin: str = "12AB", dep: str = "00", extra: str = "") -> str:
    """A minimal Dutch EDEXML 2.1 document around the given <leerling> elements."""
    dependance = f"<dependancecode>{dep}</dependancecode>" if dep else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<EDEX>'
        f"<school><schooljaar>{year}</schooljaar><brincode>{brin}</brincode>{dependance}</school>"
        f"{extra}<leerlingen>{pupils}</leerlingen></EDEX>\n"
    )


def pupil(key: str, elements: dict[str, str] | None = None) -> str:
    """A <leerling> with the given child elements (by EDEXML name) in order."""
    body = "".join(f"<{name}>{value}</{name}>" for name, value in (elements or {}).items())
    return f'<leerling key="{key}">{body}</leerling>'
