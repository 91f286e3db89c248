"""Benchmark a release: 1,000,000 persons, three dimensions (~5,000 cells), compute_table -> protect ->
render. Prints time and peak memory per stage.

With --history: a regional monitor's history (bench/history.py: 300 schools, five school years, 25
school-level releases, each protected with all before it), then the joint check of one more release
against all 25; prints the time of each release, the cover (classes) and the LP (variables, rows) and
the time of the last check, wall and CPU (the target: under 60 s on a 2-core machine), and the LPs solved."""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from policies.disclosure import protect
from policies.factsheet import render_factsheet
from policies.policy import load_policy
from policies.release import render
from policies.request import Request
from policies.table import compute_table

POLICY = Path(__file__).parents[1] / "policies" / "examples" / "monitor.toml"
LEVELS = ["vmbo-b", "vmbo-k", "vmbo-gt", "havo", "vwo"]
YEARS = ["2019-2020", "2020-2021", "2021-2022", "2022-2023", "2023-2024"]


def persons(n: int, schools: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic persons: school sizes vary widely (log-normal), so some cells are small."""
    rng = np.random.default_rng(seed)
    size = rng.lognormal(0, 1.0, schools)
    brin = np.array([f"{i:02d}{chr(65 + i // 100 % 26)}{chr(65 + i % 26)}00" for i in range(schools)])
    level_p = np.array([0.15, 0.15, 0.25, 0.25, 0.2])
    return pd.DataFrame({
        "person_id": np.char.add("p", np.arange(n).astype(str)),
        "in_po": True,
        "in_vo": rng.random(n) < 0.95,
        "po.brin": brin[rng.choice(schools, n, p=size / size.sum())],
        "po.school_year": np.array(YEARS)[rng.integers(0, len(YEARS), n)],
        "vo.niveau": np.array(LEVELS)[rng.choice(len(LEVELS), n, p=level_p)],
        "po.toets_score": rng.integers(501, 551, n).astype(str),
    }).astype({"po.brin": object, "po.school_year": object, "vo.niveau": object, "po.toets_score": object})


def history(schools: int, releases: int) -> None:
    """Release the history one by one, then time the joint check of the last request."""
    import history as region

    from policies.cover import Entry

    frame = region.region(schools)
    policy = region.policy()
    print(f"persons: {len(frame):,}  schools: {schools}  school years: {len(region.YEARS)}")
    entries: list[Entry] = []
    for number, request in enumerate(region.requests()[:releases], start=1):
        start = time.perf_counter()
        table = compute_table(frame, request, policy)
        protected = protect(table, policy, entries, frame="job")
        seconds = time.perf_counter() - start
        print(f"release {number:2d} {'x'.join(request.dimensions):28s} {table.n_cells:6,} cells "
              f"{int(protected.suppressed.sum()):6,} hidden  {seconds:7.2f} s"
              + (f"  REFUSED: {protected.refusal[:80]}" if protected.refusal else ""), flush=True)
        if protected.refusal is None:
            entries.append(Entry(f"R{number}", table, policy, protected.published, protected.suppressed,
                                 protected.primary, protected.share_primary, "job"))
    request = region.last_request()
    start, cpu = time.perf_counter(), time.process_time()
    table = compute_table(frame, request, policy)
    protected = protect(table, policy, entries, frame="job")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    stats = protected.stats
    print(f"joint check of {'x'.join(request.dimensions)} ({table.n_cells:,} cells) against {len(entries)} "
          f"earlier releases: {seconds:.2f} s ({cpu:.2f} s CPU, all threads); "
          f"{int(protected.suppressed.sum()):,} cells hidden"
          + (f"; REFUSED: {protected.refusal[:100]}" if protected.refusal else ""))
    print(f"  LP: {stats.variables:,} variables (classes and sums), {stats.rows:,} constraints, "
          f"{stats.functionals:,} sensitive quantities; {stats.rounds} audit rounds, "
          f"{stats.components:,} parts solved, {stats.solves:,} LPs solved")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max RSS {rss:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--schools", type=int, default=200)
    parser.add_argument("--no-trace", action="store_true", help="time without tracemalloc (no peak figures)")
    parser.add_argument("--history", action="store_true", help="the release history benchmark (see above)")
    parser.add_argument("--releases", type=int, default=25, help="earlier releases in --history (at most 25)")
    args = parser.parse_args()
    if args.history:
        history(args.schools if args.schools != 200 else 300, args.releases)
        return
    policy = load_policy(POLICY.read_text(), "monitor")
    request = Request(policy="monitor", purpose="benchmark", population=["po", "vo"],
                      dimensions=["school", "school_year", "vo_level"],
                      measures=["pupils", "havo_vwo", "test_mean"])
    frame = persons(args.persons, args.schools)
    print(f"persons: {len(frame):,}  schools: {args.schools}")
    if not args.no_trace:
        tracemalloc.start()
    stages = [
        ("compute_table", lambda _: compute_table(frame, request, policy)),
        ("protect", lambda table: protect(table, policy)),
        ("render", lambda protected: (protected, render(protected, {"created": "2024-01-01T00:00:00"}))),
        ("factsheet", lambda pair: render_factsheet(pair[0], {"title": "benchmark"})),
    ]
    value = None
    total = 0.0
    for name, stage in stages:
        if tracemalloc.is_tracing():
            tracemalloc.reset_peak()
        start = time.perf_counter()
        value = stage(value)
        seconds = time.perf_counter() - start
        total += seconds
        _, peak = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
        print(f"{name:14s} {seconds:8.2f} s   peak traced {peak / 2**20:8.1f} MiB")
        if name == "compute_table":
            interior = int(np.prod([len(c) for c in value.categories]))
            print(f"  cells (with margins): {value.n_cells:,}  interior: {interior:,}")
        if name == "protect":
            primary = sum(r.startswith("primary") for r in value.reasons.values())
            print(f"  suppressed: {int(value.suppressed.sum()):,} (primary {primary:,})")
        if name == "render":
            print("  files: " + ", ".join(f"{k} {len(v):,} B" for k, v in value[1].items()))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total          {total:8.2f} s   max RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
