"""How large an export may be: file size, unpacked XLSX size, rows per file and characters per field.

The limits keep a hostile or broken export (an XLSX of millions of empty rows, a zip bomb, one field of
60 MB) from filling memory or disk before anything is checked; each refusal is one line naming the file.
They are far above the largest real export of one source (all Dutch mbo students fit in one file).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ConnectorError


@dataclass(frozen=True)
class Limits:
    """The limits an export is read under."""

    file_bytes: int = 2 << 30  # 2 GiB: a CSV or EDEXML file
    xlsx_bytes: int = 256 << 20  # 256 MiB: an XLSX file as stored (zipped)
    xlsx_unpacked_bytes: int = 2 << 30  # 2 GiB: its members unpacked (a zip bomb stops here)
    rows: int = 5_000_000  # rows in one file (an XLSX also stops at Excel's own limit, XLSX_ROWS)
    field_chars: int = 10_000  # characters in one field (names, codes and attributes are far shorter)


LIMITS = Limits()  # read at each check, so a test can set smaller ones
XLSX_ROWS = 1_048_576  # rows in one worksheet, by the format's own definition (ECMA-376, Excel)


def check_file_size(path: Path, size: int) -> None:
    """Refuse a file larger than its format allows."""
    limits = LIMITS
    most = limits.xlsx_bytes if path.suffix.lower() == ".xlsx" else limits.file_bytes
    if size > most:
        raise ConnectorError(f"{path.name}: file of {size:,} bytes is larger than the limit of {most:,} bytes")


def check_xlsx_unpacked(path: Path) -> None:
    """Refuse an XLSX whose members unpack to more than the limit (read from the zip directory, nothing
    unpacked). A file that is no zip is left to the workbook reader, which says so."""
    limits = LIMITS
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    if unpacked > limits.xlsx_unpacked_bytes:
        raise ConnectorError(f"{path.name}: workbook unpacks to {unpacked:,} bytes, more than the limit of "
                             f"{limits.xlsx_unpacked_bytes:,}")


def check_rows(path: Path, rows: int, xlsx: bool = False) -> None:
    """Refuse a file once it has more rows (blank ones too) than the limit."""
    most = min(LIMITS.rows, XLSX_ROWS) if xlsx else LIMITS.rows
    if rows > most:
        raise ConnectorError(f"{path.name}: more than {most:,} rows (the limit for one file)")


def check_field(path: Path, row_number: int, chars: int) -> None:
    """Refuse a field longer than the limit (the message names the row, never the value)."""
    if chars > LIMITS.field_chars:
        raise ConnectorError(f"{path.name}: row {row_number}: a field of {chars:,} characters, more than the "
                             f"limit of {LIMITS.field_chars:,}")
