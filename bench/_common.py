"""Helpers shared by the benchmarks: run each tool in its own subprocess and print a table."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable


def child(run: Callable[[], dict]) -> None:
    """Run one tool in this process and print its figures (with peak memory) as one JSON line."""
    start = time.perf_counter()
    out = run()
    out.setdefault("seconds", round(time.perf_counter() - start, 2))
    out["peak_mb"] = round(peak_rss_kb() / 1024, 1)
    print("RESULT " + json.dumps(out))


def peak_rss_kb() -> int:
    """This process's own peak resident memory (kB). Linux's ru_maxrss carries over the spawning process's
    peak into a child started by vfork/fork and exec (a bench parent holding the records inflates every
    tool's figure); VmHWM is the high-water mark of the program's own address space."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def in_subprocess(script: str, args: list[str], timeout: float = 3600) -> dict:
    """Run `script args` in a fresh interpreter and parse its RESULT line (an error dict if it failed)."""
    proc = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"error": " | ".join(tail)}


def table(rows: list[tuple[str, dict]], columns: list[str]) -> str:
    head = "| tool | " + " | ".join(columns) + " |"
    sep = "| --- |" + " --- |" * len(columns)
    lines = [head, sep]
    for name, r in rows:
        if "error" in r:
            lines.append(f"| {name} | error: {r['error'][:150]} |")
            continue
        cells = []
        for c in columns:
            v = r.get(c, "")
            cells.append(f"{v:.4f}" if isinstance(v, float) and c in ("precision", "recall", "f1") else str(v))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pair_scores(predicted: set[tuple[str, str]], true: set[tuple[str, str]]) -> dict:
    tp = len(predicted & true)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(true) if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "pairs": len(predicted), "true_pairs": len(true)}
