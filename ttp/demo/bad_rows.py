"""The deliberately broken rows each export carries, so quarantine and dropped-value counts get exercised."""

from __future__ import annotations

import math
import random
from collections import Counter

BAD_ROW_RATE = 0.002
KINDS = ("missing_key", "invalid_bsn", "impossible_date", "malformed_postcode")


def plan_bad_rows(rows: int, rng: random.Random, kinds: tuple[str, ...] = KINDS,
                  has_bsn: list[bool] | None = None) -> dict[int, str]:
    """Row index -> kind of damage, for about 0.2% of `rows` (at least one per kind-cycle when rows > 0).

    `invalid_bsn` only lands on rows that carry a BSN (`has_bsn`)."""
    if rows == 0:
        return {}
    count = min(rows, max(1, math.ceil(rows * BAD_ROW_RATE)))
    plan: dict[int, str] = {}
    chosen = rng.sample(range(rows), count)
    with_bsn = [i for i in range(rows) if has_bsn is None or has_bsn[i]]
    for n, row in enumerate(chosen):
        kind = kinds[n % len(kinds)]
        if kind == "invalid_bsn":
            candidates = [i for i in rng.sample(with_bsn, min(len(with_bsn), 20)) if i not in plan]
            if not candidates:
                continue
            row = candidates[0]
        while row in plan:
            row = rng.randrange(rows)
        plan[row] = kind
    return plan


def count_kinds(plan: dict[int, str]) -> dict[str, int]:
    return dict(Counter(plan.values()))
