"""The record the integrator keeps of every release (never released): what it showed, what disclosure
control decided and why, so that later releases are protected together with it and it verifies for ever."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from policies.cells import TOTAL_LABEL
from policies.cover import Entry
from policies.disclosure import ProtectedTable, primary_reasons, share_primary
from policies.errors import RequestError
from policies.policy import Measure, Policy
from policies.published import SUPPRESSED, publish
from policies.table import Table

FORMAT = 2  # 1: the first releases (pattern per cell, differencing per dimension set); 2: joint protection

Shown = str | int | float | None


class ReleaseRecord(BaseModel):
    """What a release showed per cell and measure (flat, in cell order), and how it was protected."""

    model_config = ConfigDict(extra="forbid")

    format: int = FORMAT
    release_id: str
    seq: int
    frame: str  # the link job the table was computed on
    shape: list[int]
    published: dict[str, list[Shown]]
    suppressed: list[int]  # cells hidden in every measure
    extra: list[tuple[str, int]] = []  # suppressions after the boxes, in order (replayed by release verify)
    reasons: list[dict[str, str]] = []  # for the privacy officer only
    constrained_by: list[str] = []  # earlier releases that forced suppressions (privacy officer only)
    round_table: str | None = None  # the table's name when its request is a round of several tables


def record(protected: ProtectedTable, release_id: str, seq: int, frame: str,
           round_table: str | None = None) -> ReleaseRecord:
    """The record of a release about to be written (`round_table`: which table of a round it is)."""
    return ReleaseRecord(
        release_id=release_id, seq=seq, frame=frame, shape=list(protected.table.shape),
        published={name: [_plain(v) for v in values.ravel()] for name, values in protected.published.items()},
        suppressed=[int(i) for i in np.flatnonzero(protected.suppressed.ravel())],
        extra=[(m, int(c)) for m, c in protected.extra], reasons=protected.suppressions(),
        constrained_by=list(protected.constrained_by), round_table=round_table)


def _plain(value: Any) -> Shown:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def entry(rec: ReleaseRecord, table: Table, policy: Policy, erased: bool = False) -> Entry:
    """The release as the history check sees it: its table recomputed on its frame, and what it showed.

    `erased`: persons were erased from its frame since it was made, so what it showed no longer adds up on
    what is left of them. The attacker is then taken to know what the erased persons added to every figure
    (their family may): the figures it showed become those it would show without them, under the same
    suppressions. That is the tightest the attacker can know about the persons still held, so the check
    stays sound; what the erased persons themselves added is no longer the integrator's to protect."""
    if list(table.shape) != rec.shape:
        raise RequestError(f"release {rec.release_id}: its table no longer has the shape it was released with "
                           f"({'x'.join(map(str, rec.shape))}); the data behind it changed")
    published = {}
    for name in table.measures:
        values = np.empty(len(rec.published[name]), dtype=object)
        values[:] = rec.published[name]
        published[name] = values.reshape(table.shape)
        if erased:
            hidden = np.array([v == SUPPRESSED for v in rec.published[name]], dtype=bool).reshape(table.shape)
            published[name] = publish(table, policy, name, hidden)
    suppressed = np.zeros(table.n_cells, dtype=bool)
    suppressed[rec.suppressed] = True
    primary = np.zeros(table.shape, dtype=bool)
    for index in primary_reasons(table, policy):
        primary[index] = True
    return Entry(rec.release_id, table, policy, published, suppressed.reshape(table.shape), primary,
                 share_primary(table, policy), rec.frame)


def shown(rec: ReleaseRecord, table: Table, policy: Policy) -> ProtectedTable:
    """A stored release as a ProtectedTable (what it showed), without recomputing its protection."""
    e = entry(rec, table, policy)
    shares = {name: (values == SUPPRESSED) & ~e.suppressed for name, values in e.published.items()
              if table.measures[name].kind == "share"}
    return ProtectedTable(table, e.suppressed, {}, e.published, {}, e.primary, e.share_primary, shares)


def from_first_format(stored: dict[str, Any], csv_bytes: bytes, table: Table, release_id: str, seq: int,
                      frame: str) -> ReleaseRecord:
    """A release made before joint protection (format 1): what it showed, read back from its table.csv."""
    rows = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8"))))
    width = (1 if table.request.groups else 0) + len(table.dimensions)
    body = rows[1:1 + table.n_cells]
    if len(body) != table.n_cells:
        raise RequestError(f"release {release_id}: its table.csv does not have {table.n_cells} cells")
    published: dict[str, list[Shown]] = {}
    for j, (name, measure) in enumerate(table.measures.items()):
        published[name] = [_parse(row[width + j], measure) for row in body]
    first = next(iter(published.values()))
    suppressed = [i for i, v in enumerate(first) if v == SUPPRESSED]
    del stored
    return ReleaseRecord(format=1, release_id=release_id, seq=seq, frame=frame, shape=list(table.shape),
                         published=published, suppressed=suppressed)


def _parse(text: str, measure: Measure) -> Shown:
    if text == "":
        return None
    if text == SUPPRESSED or text == TOTAL_LABEL or text[0] in "<>":
        return text
    return int(text) if measure.kind == "count" else float(text)
