"""Read a generated cohort back the way its profiles describe it (test helper, plain csv and ElementTree)."""

from __future__ import annotations

import csv
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

CSV_SOURCES = ("vve", "vo", "mbo")


def profile(out_dir: Path, name: str) -> dict:
    return tomllib.loads((out_dir / f"{name}.toml").read_text(encoding="utf-8"))


def read_csv(out_dir: Path, name: str) -> tuple[dict, list[dict[str, str]]]:
    """The profile and the rows of `<name>.csv`, decoded with the profile's encoding and delimiter."""
    prof = profile(out_dir, name)
    text = (out_dir / f"{name}.csv").read_bytes().decode(prof["encoding"])
    return prof, list(csv.DictReader(text.splitlines(), delimiter=prof["delimiter"]))


def read_po(out_dir: Path) -> list[dict[str, str]]:
    """One dict per leerling: its child elements' text, plus `key` and `school` (BRIN + dependancecode)."""
    pupils = []
    for path in sorted((out_dir / "po").glob("*.xml")):
        root = ET.parse(path).getroot()
        school = root.findtext("school/brincode") + root.findtext("school/dependancecode")
        for leerling in root.iter("leerling"):
            row = {child.tag: (child.text or "") for child in leerling}
            row.update(key=leerling.get("key"), school=school, file=path.name)
            pupils.append(row)
    return pupils


def read_truth(out_dir: Path) -> list[dict[str, str]]:
    with (out_dir / "truth.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
