"""Benchmark of connectors ingest: rows/s and peak memory for CSV and EDEXML exports (prints figures)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROFILE = """
format = "csv"
delimiter = ";"
encoding = "utf-8"
date_format = "%d-%m-%Y"
sector = "po"
[fields]
record_key = "LeerlingID"
bsn = "BSN"
family_name = "Achternaam"
name_prefix = "Tussenvoegsel"
given_names = "Voornamen"
preferred_name = "Roepnaam"
birth_date = "Geboortedatum"
sex = "Geslacht"
postcode = "Postcode"
[attributes]
grade = "Leerjaar"
school_advice = "Advies"
"""
FAMILY = np.array(
    ["Jansen", "de Vries", "Bakker", "Linden, van der", "Yılmaz", "El Amrani", "Visser", "Smit"]
)
GIVEN = np.array(["Emma", "Noah", "Julia", "Liam", "Mila", "Sem", "Saar", "Daan", "Zoë", "Ahmed"])
ADVICE = np.array(["havo", "vwo", "havo/vwo", "vmbo-gt", "vmbo-k", "pro"])


def _bsns(rng: np.random.Generator, n: int) -> np.ndarray:
    """Nine-digit numbers, about 90% passing the 11-test (the rest are realistic typos)."""
    digits = rng.integers(0, 10, size=(n, 8))
    digits[:, 0] = rng.integers(1, 10, size=n)
    check = (digits * np.arange(9, 1, -1)).sum(axis=1) % 11
    numbers = (digits * (10 ** np.arange(8, 0, -1))).sum(axis=1) + np.where(check == 10, 0, check)
    return np.char.zfill(numbers.astype(str), 9)


def make_csv(path: Path, rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 3650, size=rows)
    birth = (pd.Timestamp("2008-01-01") + pd.to_timedelta(days, unit="D")).strftime("%d-%m-%Y")
    postcode = np.char.add(rng.integers(1000, 10000, size=rows).astype(str), "AB")
    frame = pd.DataFrame({
        "LeerlingID": np.arange(1, rows + 1).astype(str),
        "BSN": _bsns(rng, rows),
        "Achternaam": FAMILY[rng.integers(0, len(FAMILY), rows)],
        "Tussenvoegsel": "",
        "Voornamen": GIVEN[rng.integers(0, len(GIVEN), rows)],
        "Roepnaam": GIVEN[rng.integers(0, len(GIVEN), rows)],
        "Geboortedatum": birth,
        "Geslacht": np.array(["M", "V"])[rng.integers(0, 2, rows)],
        "Postcode": postcode,
        "Leerjaar": rng.integers(1, 9, rows).astype(str),
        "Advies": ADVICE[rng.integers(0, len(ADVICE), rows)],
    })
    frame.to_csv(path, sep=";", index=False)


def make_edexml(folder: Path, pupils: int, per_school: int = 1000, seed: int = 2) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    bsn = _bsns(rng, pupils)
    for school in range(0, pupils, per_school):
        brin = f"{10 + school // per_school % 90:02d}{'ABCDEFGH'[school // per_school // 90 % 8]}X"
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>\n<EDEX><school><schooljaar>2025-2026</schooljaar>'
            f"<brincode>{brin}</brincode><dependancecode>00</dependancecode></school><leerlingen>"
        ]
        for i in range(school, min(pupils, school + per_school)):
            lines.append(
                f'<leerling key="{i % per_school}"><achternaam>{FAMILY[i % len(FAMILY)].replace(",", "")}'
                f"</achternaam><voornamen>{GIVEN[i % len(GIVEN)]}</voornamen>"
                f"<roepnaam>{GIVEN[i % 7]}</roepnaam>"
                f"<geboortedatum>{2012 + i % 6}-{1 + i % 12:02d}-{1 + i % 28:02d}</geboortedatum>"
                f"<geslacht>{1 + i % 2}</geslacht><jaargroep>{1 + i % 8}</jaargroep>"
                f"<emailadres>x@example.org</emailadres><bsn>{bsn[i]}</bsn>"
                f"<postcodenl>{1000 + i % 9000}AB</postcodenl><instroomdatum>2020-08-20</instroomdatum>"
                "</leerling>"
            )
        lines.append("</leerlingen></EDEX>\n")
        (folder / f"school{school // per_school:04d}.xml").write_text("".join(lines), encoding="utf-8")


def _status_mb(field: str) -> int:
    """A memory figure of this process from /proc (VmHWM resets on exec, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024)
    return -1


def run_case(kind: str, path: str, profile: str | None, chunk_rows: int) -> dict:
    """Read one export fully (in this process) and report rows, seconds and peak RSS."""
    import connectors

    base_rss = _status_mb("VmRSS")
    start = time.perf_counter()
    cpu_start = time.process_time()
    if kind == "csv":
        export = connectors.open_export(path, profile=connectors.load_profile(profile))
    else:
        export = connectors.open_export(path, fmt="edexml")
    rows = accepted = rejected = dropped = 0
    for chunk in export.chunks(chunk_rows):
        rows += chunk.rows_read
        accepted += len(chunk.records)
        rejected += len(chunk.rejected)
        dropped += sum(chunk.dropped.values())
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    assert rows == accepted + rejected
    return {"rows": rows, "accepted": accepted, "rejected": rejected, "dropped_values": dropped,
            "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds),
            "cpu_seconds": round(cpu, 2), "rows_per_cpu_s": round(rows / cpu),
            "peak_rss_mb": _status_mb("VmHWM"), "rss_after_imports_mb": base_rss}


def measure(kind: str, path: Path, profile: Path | None, chunk_rows: int) -> dict:
    cmd = [sys.executable, __file__, "--case", kind, "--path", str(path), "--chunk", str(chunk_rows)]
    if profile:
        cmd += ["--profile", str(profile)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _row(case: str, r: dict) -> None:
    print(f"{case:<30}{r['rows']:>9}{r['seconds']:>9}{r['rows_per_s']:>9}{r['rows_per_cpu_s']:>11}"
          f"{r['peak_rss_mb']:>9}{r['rss_after_imports_mb']:>9}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="CSV rows of the large case")
    parser.add_argument("--pupils", type=int, default=100_000, help="EDEXML pupils of the large case")
    parser.add_argument("--chunk", type=int, default=100_000, help="rows per chunk (the shell's default)")
    parser.add_argument("--only", choices=["csv", "edexml"], help="run one kind of case")
    parser.add_argument("--case", choices=["csv", "edexml"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.path, args.profile, args.chunk)))
        return
    with tempfile.TemporaryDirectory(prefix="ttp-bench-") as tmp:
        work = Path(tmp)
        profile = work / "bench.toml"
        profile.write_text(PROFILE, encoding="utf-8")
        print("rows/s is wall clock; rows/cpu-s counts only this process's CPU time (fair on a busy machine)")
        print(f"{'case':<30}{'rows':>9}{'seconds':>9}{'rows/s':>9}{'rows/cpu-s':>11}{'peak MB':>9}{'base MB':>9}")
        print(f"chunks of {args.chunk} rows")
        for rows in (args.rows // 4, args.rows) if args.only != "edexml" else ():
            path = work / f"pupils-{rows}.csv"
            make_csv(path, rows)
            r = measure("csv", path, profile, args.chunk)
            path.unlink()
            _row("CSV parse+validate", r)
        for pupils in (args.pupils // 4, args.pupils) if args.only != "csv" else ():
            folder = work / f"edexml-{pupils}"
            make_edexml(folder, pupils)
            r = measure("edexml", folder, None, args.chunk)
            _row("EDEXML folder parse+validate", r)


if __name__ == "__main__":
    main()
