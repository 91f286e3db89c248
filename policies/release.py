"""Release artefacts of a protected table: CSV, XLSX, metadata JSON and SHA256SUMS, byte-for-byte
deterministic for the same input."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from datetime import datetime
from typing import Any

from openpyxl import Workbook

from policies.cells import footnotes, header, rows, text
from policies.disclosure import ProtectedTable

FIXED_TIME = datetime(2000, 1, 1)


def release_time(metadata: dict[str, Any]) -> datetime:
    """The time written into the XLSX (metadata["created"], ISO 8601), else a fixed date."""
    created = metadata.get("created")
    if not created:
        return FIXED_TIME
    moment = datetime.fromisoformat(str(created))
    return moment.replace(tzinfo=None, microsecond=0)


def render_csv(protected: ProtectedTable) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header(protected))
    writer.writerows([text(v) for v in row] for row in rows(protected))
    notes = footnotes(protected)
    if notes:
        writer.writerow([])
        writer.writerows([note] for note in notes)
    return buffer.getvalue().encode("utf-8")


def render_xlsx(protected: ProtectedTable, moment: datetime) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook has one worksheet, and it is active
    sheet.title = "table"
    sheet.append(header(protected))
    for row in rows(protected):
        sheet.append(row)
    notes = footnotes(protected)
    if notes:
        sheet.append([])
        for note in notes:
            sheet.append([note])
    for line in sheet.iter_rows():
        for cell in line:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never a formula, whatever the text
    props = workbook.properties
    props.created = props.modified = moment
    props.creator = props.lastModifiedBy = "ttp"
    raw = io.BytesIO()
    workbook.save(raw)
    return fix_zip(raw.getvalue(), moment)


def fix_zip(data: bytes, moment: datetime) -> bytes:
    """Rewrite a zip with one fixed timestamp and fixed attributes on every entry."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=moment.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            entry.create_system = 0
            body = source.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps `modified` with the clock at save
                stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rb"\g<1>" + stamp + rb"\g<2>",
                              body)
            target.writestr(entry, body)
    return out.getvalue()


def release_metadata(protected: ProtectedTable, metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata document: request, rules applied, how many cells are suppressed, the integrator's fields.

    It never says why a cell is suppressed (a primary cell is one of 1..threshold-1 persons: a bound an
    attacker would use) nor which other releases were taken into account."""
    table = protected.table
    return {
        "request": table.request.model_dump(mode="json"),
        "policy_hash": metadata.get("policy_hash"),
        "rules": protected.rules,
        "cells": table.n_cells,
        "suppressed_cells": int(protected.suppressed.sum()),
        "suppressed_shares": {name: int(mask.sum()) for name, mask in sorted(protected.share_suppressed.items())},
        "release": {k: v for k, v in sorted(metadata.items()) if k != "policy_hash"},
    }


def render(protected: ProtectedTable, metadata: dict[str, Any]) -> dict[str, bytes]:
    """Release files: table.csv, table.xlsx, metadata.json and SHA256SUMS (names sorted).

    `metadata` is JSON-able; recognised keys: policy_hash, created (ISO time written into the XLSX),
    and whatever the integrator records (release id, audit event id, checkpoint, link job)."""
    files = {
        "table.csv": render_csv(protected),
        "table.xlsx": render_xlsx(protected, release_time(metadata)),
        "metadata.json": (json.dumps(release_metadata(protected, metadata), indent=2, sort_keys=True,
                                     ensure_ascii=False) + "\n").encode("utf-8"),
    }
    files["SHA256SUMS"] = "".join(f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n"
                                  for name in sorted(files)).encode("ascii")
    return dict(sorted(files.items()))
