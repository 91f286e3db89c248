"""What an opened export is: its files, its sector, and chunks of accepted records, rejects and drops."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class ExportFile:
    """One file of an export, with the fingerprint the shell records."""

    name: str
    sha256: str
    size: int


@dataclass
class RejectedRow:
    """A quarantined row: where it was, why, and its raw values (the shell encrypts them)."""

    export_file: str
    row_number: int
    reasons: list[str]
    raw: dict[str, str]


@dataclass
class Chunk:
    """A slice of an export: accepted records, quarantined rows, and per (field, reason) dropped values."""

    records: pd.DataFrame
    rejected: list[RejectedRow] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    rows_read: int = 0


@dataclass
class Export:
    """An export whose files and header passed the up-front checks; ``chunks()`` reads and validates rows."""

    sector: str
    files: list[ExportFile]
    school_year: str | None
    link_kinds: dict[str, str]
    attach_to: str | None
    _read: Callable[[int], Iterator[Chunk]] = field(repr=False)

    def chunks(self, rows: int = 100_000) -> Iterator[Chunk]:
        """Read the export from the start, ``rows`` rows at a time; ConnectorError on a bad file."""
        if rows < 1:
            raise ValueError("rows must be at least 1")
        return self._read(rows)
