"""Benchmark of the export limits: how soon a hostile XLSX (rows upon blank rows) is refused (prints figures).

Without the row limit the reader walked every row of such a sheet; with it, the refusal comes at the
format's own 1,048,576 rows whatever the sheet claims to hold.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import openpyxl

from connectors import ConnectorError, open_export, parse_profile

PROFILE = """
format = "xlsx"
sector = "vve"
[fields]
record_key = "KindID"
family_name = "Achternaam"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_200_000, help="blank rows after one data row")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "hostile.xlsx"
        start = time.perf_counter()
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(["KindID", "Achternaam"])
        sheet.append(["1", "Jansen"])
        for _ in range(options.rows):
            sheet.append([None, ""])
        book.save(path)
        made = time.perf_counter() - start
        size = path.stat().st_size
        export = open_export(path, profile=parse_profile(PROFILE, "bench.toml"))
        start = time.perf_counter()
        read = 0
        try:
            for chunk in export.chunks(50_000):
                read += chunk.rows_read
            outcome = "read to the end"
        except ConnectorError as exc:
            outcome = f"refused: {exc}"
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"xlsx with 1 data row and {options.rows:,} blank rows: {size / 1e6:.1f} MB "
          f"(written in {made:.1f} s)", file=sys.stdout)
    print(f"{outcome} after {seconds:.1f} s; peak memory {peak:.0f} MB")


if __name__ == "__main__":
    main()
