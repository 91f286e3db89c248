"""Benchmark the audit log: appends per second in memory, and verify time at growing sizes (linear?).

Times are CPU seconds of this process (the machine is shared); wall seconds are printed beside them.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# Run as `python bench/audit.py`, this file's folder comes first on sys.path and would shadow the package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

from audit.checkpoint import sign_checkpoint  # noqa: E402
from audit.event import GENESIS, Event, chain_from_leaf_hash, leaf_bytes  # noqa: E402
from audit.merkle import CompactRange, leaf_hash  # noqa: E402
from audit.verify import verify_log  # noqa: E402

ORIGIN = "bench.ttp/audit"
KEY_NAME = "bench-audit-v1"
START = datetime(2025, 1, 1, tzinfo=UTC)


def build(n: int, key: Ed25519PrivateKey, every: int) -> tuple[list[dict], list[str], float]:
    """Append n events as the log does (event, leaf bytes, chain, tree); returns rows, checkpoints, secs."""
    rows, checkpoints, prev, state = [], [], GENESIS, CompactRange()
    began = time.process_time()
    for seq in range(1, n + 1):
        event = Event(seq=seq, time=START + timedelta(seconds=seq), actor="operator1", role="operator",
                      action="batch.import", batch_id=f"b{seq // 100}", key_id="linkage-v1", key_version=1,
                      counts={"rows": 1000, "rejected": seq % 7}, details={"source": "po", "files": 1})
        lh = leaf_hash(leaf_bytes(event))
        digest = chain_from_leaf_hash(prev, lh)
        state.append(lh)
        row = event.to_dict()
        row["prev_hash"], row["hash"] = prev, digest
        rows.append(row)
        prev = digest
        if seq % every == 0 or seq == n:
            checkpoints.append(sign_checkpoint(ORIGIN, seq, state.root(), START, key, KEY_NAME))
    return rows, checkpoints, time.process_time() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--checkpoint-every", type=int, default=10_000)
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    rows, checkpoints, secs = build(args.events, key, args.checkpoint_every)
    print(f"append: {args.events:,} events in {secs:.2f} s = {args.events / secs:,.0f} events/s "
          f"(event model + canonical JSON + chain + tree, {len(checkpoints)} signed checkpoints)")
    keys = {KEY_NAME: key.public_key()}
    # The bench holds every row in memory, which a log read from the database does not; keep the
    # collector from rescanning those million dicts during each verify.
    gc.freeze()
    print(f"{'events':>10} {'verify s':>9} {'us/event':>9} {'wall s':>7}")
    for n in sorted({args.events // 4, args.events // 2, args.events}):
        subset = [c for c in checkpoints if int(c.split("\n")[1]) <= n]
        began, wall = time.process_time(), time.perf_counter()
        result = verify_log(rows[:n], subset, keys)
        secs, wall = time.process_time() - began, time.perf_counter() - wall
        assert result.ok, result.problems[:3]
        print(f"{n:>10,} {secs:>9.2f} {secs / n * 1e6:>9.1f} {wall:>7.2f}")


if __name__ == "__main__":
    main()
