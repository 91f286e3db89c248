"""What a released table shows per cell: counts (rounded if the policy says so), shares (clamped), means
and medians, or the suppression mark; and what each shown value tells about the true figures."""

from __future__ import annotations

import numpy as np

from policies.policy import Policy
from policies.table import Table

SUPPRESSED = "x"


def round_count(value: int, base: int | None) -> int:
    """Round half up to a multiple of `base` (no rounding without a base)."""
    if not base:
        return int(value)
    return int(base * np.floor(value / base + 0.5))


def publish(table: Table, policy: Policy, name: str, pattern: np.ndarray) -> np.ndarray:
    """The value shown for measure `name` in every cell under suppression `pattern` (object array)."""
    rules = policy.disclosure
    measure = table.measures[name]
    out = np.empty(table.shape, dtype=object)
    counts = table.counts
    if measure.kind == "count":
        if rules.rounding_base:
            shown = rules.rounding_base * np.floor(counts / rules.rounding_base + 0.5)
        else:
            shown = counts
        out[...] = shown.astype(np.int64).astype(object)
    elif measure.kind == "share":
        with np.errstate(invalid="ignore", divide="ignore"):
            percent = 100.0 * table.numerators[name] / counts
        for index in zip(*np.nonzero(counts > 0), strict=True):
            value = float(percent[index])
            if value < rules.percent_min:
                out[index] = f"<{rules.percent_min:g}"
            elif value > rules.percent_max:
                out[index] = f">{rules.percent_max:g}"
            else:
                out[index] = round(value, measure.decimals)
    else:
        known = table.known[name]
        for index in zip(*np.nonzero(known > 0), strict=True):
            if measure.kind == "mean":
                out[index] = round(float(table.sums[name][index]) / int(known[index]), measure.decimals)
            else:
                out[index] = round(float(table.medians[name][index]), measure.decimals)
    out[pattern] = SUPPRESSED
    return out


def clamp_bound(value: str) -> tuple[str, float] | None:
    """A clamped share such as "<5" or ">95" as (op, percent); None for anything else."""
    if isinstance(value, str) and len(value) > 1 and value[0] in "<>":
        try:
            return value[0], float(value[1:])
        except ValueError:
            return None
    return None


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
