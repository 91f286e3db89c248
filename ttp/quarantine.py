"""Quarantined rows: listed by row, field and reason; exported in plaintext only on purpose."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from . import db
from .app import Acting
from .errors import TTPError
from .ingest import open_quarantine


def _batch(act: Acting, batch_id: str) -> db.Batch:
    batch = act.session.get(db.Batch, batch_id)
    if batch is None:
        raise TTPError(f"unknown batch {batch_id!r}: `ttp batches list` shows them")
    return batch


def quarantined_rows(act: Acting, batch_id: str) -> list[dict]:
    """The batch's rejected rows, opened with the quarantine key."""
    batch = _batch(act, batch_id)
    act.objects["batch"] = batch.id
    return open_quarantine(act.app.keystore, batch, act.app.settings.batch_dir(batch.id))


def export_rows(act: Acting, batch_id: str, out: Path) -> int:
    """Write the original rows as CSV (the one deliberate plaintext output); returns the row count."""
    supplier = _batch(act, batch_id).supplier
    if supplier is not None:
        raise TTPError(f"batch {batch_id} is a delivery of {supplier}: its rejected rows stayed there "
                       "(`ttp supplier quarantine` opens them at the supplier); `ttp quarantine show` lists reasons")
    rows = quarantined_rows(act, batch_id)
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row["raw"] if c not in columns)
    tmp = out.with_name(out.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["export_file", "row_number", "reasons", *columns])
        for row in rows:
            writer.writerow([row["export_file"], row["row_number"], "; ".join(row["reasons"]),
                             *[row["raw"].get(c, "") for c in columns]])
    tmp.replace(out)
    act.counts["rows"] = len(rows)
    return len(rows)
