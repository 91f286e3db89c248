"""Benchmark school feedback: the four tables of a feedback round for a region of N primary schools (the
monitor's policy, computed and protected on synthetic pupils), then every school's report as a PDF.
Prints the time to make the round and the time per report and in total (the target: 100 schools < 60 s).

    python bench/feedback.py --schools 100 [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from policies.disclosure import protect
from policies.feedback import SchoolInfo, build_report, read_released
from policies.feedback_pages import report_pdf
from policies.policy import load_policy
from policies.release import render
from policies.round import load_round

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "examples" / "monitor.toml"
ROUND = Path(__file__).resolve().parents[1] / "policies" / "examples" / "requests" / "feedback_round.toml"
YEARS = ["2016-2017", "2017-2018", "2018-2019", "2019-2020", "2020-2021"]
ADVICE = ["praktijkonderwijs", "vmbo-b", "vmbo-k", "vmbo-gt", "vmbo-gt/havo", "havo", "havo/vwo", "vwo"]
LEVELS = ["praktijkonderwijs", "vmbo-b", "vmbo-k", "vmbo-gt", "havo", "vwo"]


def region(schools: int, seed: int = 1) -> tuple[pd.DataFrame, list[SchoolInfo]]:
    """Pupils of `schools` primary schools over five cohorts (groep 8 sizes 10-60), 8 schools a board,
    12 a municipality; the level in leerjaar 3 near the advice, lower for pupils with a weight."""
    rng = np.random.default_rng(seed)
    infos = [SchoolInfo(f"{i:02d}{chr(65 + i // 26 % 26)}{chr(65 + i % 26)}00", f"BASISSCHOOL {i}", "VENLO",
                        str(10000 + i // 8), f"{900 + i // 12:04d}", f"GEMEENTE {i // 12}", "LIMBURG")
             for i in range(schools)]
    sizes = np.clip(rng.lognormal(np.log(25), 0.45, (schools, len(YEARS))), 10, 60).astype(int)
    rows = []
    for s, info in enumerate(infos):
        for y, year in enumerate(YEARS):
            n = sizes[s, y]
            weight = rng.choice(["0", "0.3", "1.2"], n, p=[0.8, 0.12, 0.08])
            advice = rng.integers(0, len(ADVICE), n)
            rank = np.array([LEVELS.index(ADVICE[a].split("/")[0]) for a in advice])
            shift = rng.choice([-1, 0, 1], n, p=[0.08, 0.8, 0.12]) - (weight == "1.2") * (rng.random(n) < 0.3)
            level = np.clip(rank + shift, 0, len(LEVELS) - 1)
            rows.append(pd.DataFrame({
                "po.brin@grade=8": info.code, "po.bestuur@grade=8": info.board,
                "po.gemeente@grade=8": info.municipality, "po.school_year@grade=8": year,
                "po.advies@grade=8": [ADVICE[a] for a in advice], "vo.niveau@grade=3": [LEVELS[v] for v in level],
                "po.gewicht": weight}))
    persons = pd.concat(rows, ignore_index=True)
    persons.insert(0, "person_id", [f"p{i}" for i in range(len(persons))])
    persons["in_po"], persons["in_vo"] = True, True
    return persons.astype({c: object for c in persons.columns if c.startswith(("po.", "vo."))}), infos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=100)
    parser.add_argument("--out", type=Path, help="write the reports here (default: time them only)")
    args = parser.parse_args()
    from policies.table import compute_table

    persons, infos = region(args.schools)
    policy = load_policy(POLICY.read_text(encoding="utf-8"), "monitor")
    start = time.perf_counter()
    tables = []
    for name, request in load_round(ROUND.read_text(encoding="utf-8")).requests():
        files = render(protect(compute_table(persons, request, policy), policy), {"release_id": name})
        tables.append(read_released(name, name, json.loads(files["metadata.json"]), files["table.csv"].decode()))
    made = time.perf_counter() - start
    print(f"pupils: {len(persons):,}  schools: {args.schools}  round of {len(tables)} tables made "
          f"(each protected on its own) in {made:.1f} s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    pages = 0
    for info in infos:
        pdf = report_pdf(build_report(info, tables))
        pages += pdf.count(b"/Type /Page\n") or pdf.count(b"/Type /Page ")
        if args.out:
            (args.out / f"{info.code}.pdf").write_bytes(pdf)
    took = time.perf_counter() - start
    print(f"feedback reports: {len(infos)} in {took:.1f} s ({took / len(infos):.2f} s a school; "
          f"target for 100 schools: < 60 s)")


if __name__ == "__main__":
    main()
