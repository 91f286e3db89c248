"""Tables made elsewhere (CBS remote access, after its output check): read in one layout, checked with ttp's rules.

Layout (docs/nco.md): UTF-8 CSV, comma-separated, one header line. Label columns first (any names, values
not empty), then count columns: `n` (the persons in the row's group, required) and any `n_<name>` (the
persons of that group with property <name>). Counts are whole numbers >= 0 and `n_<name>` <= `n`. The rules:
every count is 0 or at least the policy's threshold, and so is what a share leaves (`n - n_<name>`), as NCO
counts a share as a count of both sides.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from policies.errors import RequestError

MAX_ROWS = 100_000
_COUNT = re.compile(r"^n(_[a-z0-9][a-z0-9_]*)?$")


@dataclass(frozen=True)
class ExternalTable:
    """A parsed external table: label columns, count columns, and its rows (line number, labels, counts)."""

    labels: tuple[str, ...]
    counts: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...], tuple[int, ...]], ...]


def parse_external(data: bytes) -> ExternalTable:
    """Read a table in the layout; the first problem is a `RequestError` naming its line and column."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RequestError("the table is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise RequestError("the table is empty: a header line and rows are expected")
    header = [h.strip() for h in header]
    first_count = next((i for i, h in enumerate(header) if _COUNT.match(h)), None)
    if first_count is None or header[first_count] != "n":
        raise RequestError("line 1: the first count column must be `n` (the persons in each group)")
    labels, counts = tuple(header[:first_count]), tuple(header[first_count:])
    if not labels or any(not h for h in labels):
        raise RequestError("line 1: label columns (named) come before the count columns")
    for name in counts:
        if not _COUNT.match(name):
            raise RequestError(f"line 1: column {name[:40]!r} after `n` is not a count column (n_<name>)")
    if len(set(header)) != len(header):
        raise RequestError("line 1: a column is named twice")
    rows: list[tuple[int, tuple[str, ...], tuple[int, ...]]] = []
    for number, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(rows) >= MAX_ROWS:
            raise RequestError(f"more than {MAX_ROWS} rows")
        if len(row) != len(header):
            raise RequestError(f"line {number}: {len(row)} fields, the header has {len(header)}")
        cells = [cell.strip() for cell in row]
        if any(not cell for cell in cells[: len(labels)]):
            raise RequestError(f"line {number}: a label is empty")
        values = []
        for name, cell in zip(counts, cells[len(labels):], strict=True):
            if not cell.isascii() or not cell.isdigit():
                raise RequestError(f"line {number}: column {name} is not a whole number of persons")
            values.append(int(cell))
        if any(v > values[0] for v in values[1:]):
            raise RequestError(f"line {number}: a count is larger than n of its group")
        rows.append((number, tuple(cells[: len(labels)]), tuple(values)))
    if not rows:
        raise RequestError("the table has a header but no rows")
    if len({labels_ for _, labels_, _ in rows}) != len(rows):
        raise RequestError("two rows have the same labels")
    return ExternalTable(labels, counts, tuple(rows))


def disclosure_problems(table: ExternalTable, threshold: int) -> list[str]:
    """Where the table breaks the threshold rule, one line each naming line and column, never the figure."""
    problems = []
    for number, _, values in table.rows:
        n = values[0]
        for name, value in zip(table.counts, values, strict=True):
            if 0 < value < threshold:
                problems.append(f"line {number}: column {name} is below the threshold of {threshold}")
            elif name != "n" and 0 < n - value < threshold:
                problems.append(f"line {number}: column {name} leaves fewer than {threshold} of n "
                                f"(a share is a count of both sides)")
    return problems
