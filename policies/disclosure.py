"""Statistical disclosure control of a computed table: primary and secondary suppression, rounding,
percentage clamping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from policies.differencing import ReleasedTable, collisions
from policies.policy import Policy
from policies.secondary import suppress_secondary
from policies.table import Table

SUPPRESSED = "x"


@dataclass
class ProtectedTable:
    """A table after disclosure control: the suppression pattern, why each cell is suppressed, and the
    published value of every measure per cell (SUPPRESSED, None when not applicable, a number, or a
    clamped percentage such as "<5")."""

    table: Table
    suppressed: np.ndarray
    reasons: dict[tuple[int, ...], str]
    published: dict[str, np.ndarray]
    rules: dict[str, object] = field(default_factory=dict)

    def suppressions(self) -> list[dict[str, str]]:
        """Every suppressed cell with its reason, in cell order."""
        return [{"cell": self.table.label(index), "reason": self.reasons[index]}
                for index in sorted(self.reasons)]


def primary_reasons(table: Table, policy: Policy) -> dict[tuple[int, ...], list[str]]:
    """The primary rules each cell breaks (threshold, dominance, p-ratio, zeros)."""
    rules = policy.disclosure
    out: dict[tuple[int, ...], list[str]] = {}

    def mark(mask: np.ndarray, reason: str) -> None:
        for index in zip(*np.nonzero(mask), strict=True):
            out.setdefault(tuple(int(i) for i in index), []).append(reason)

    counts = table.counts
    few = rules.min_cell_count
    mark((counts > 0) & (counts < few), f"threshold: fewer than {few} persons")
    n, k, p = rules.dominance.n, rules.dominance.k, rules.p_ratio
    for name in table.sums:
        total, known, top = table.sums[name], table.known[name], table.tops[name]
        mark((known > 0) & (known < few) & (counts >= few), f"threshold: fewer than {few} values of {name}")
        positive = total > 0
        mark(positive & (top[..., :n].sum(axis=-1) > k / 100 * total), f"dominance ({n}, {k:g}%) on {name}")
        if p > 0:
            rest = total - top[..., 0] - top[..., 1]
            mark(positive & (rest < p / 100 * top[..., 0]) & (known >= 2), f"p-ratio {p:g}% on {name}")
    if rules.zeros == "suppress":
        mark(counts == 0, "zero cell (policy: zeros = suppress)")
    elif rules.zeros == "disclosive":
        mark(_disclosive_zeros(counts), "zero in a group where everyone shares one category")
    return out


def _disclosive_zeros(counts: np.ndarray) -> np.ndarray:
    """Interior zero cells on a line whose persons all fall in one other category."""
    out = np.zeros(counts.shape, dtype=bool)
    interior = tuple(slice(None) if a == 0 else slice(0, n - 1) for a, n in enumerate(counts.shape))
    for axis in range(1, counts.ndim):
        body = counts[interior]
        nonzero = (body > 0).sum(axis=axis, keepdims=True)
        out[interior] |= (body == 0) & (nonzero == 1)
    return out


def protect(table: Table, policy: Policy, earlier: Sequence[ReleasedTable] = ()) -> ProtectedTable:
    """Apply the policy's disclosure control; cells colliding with `earlier` releases (or with another
    group of the same request) are suppressed as primary."""
    rules = policy.disclosure
    reasons = {index: "primary: " + "; ".join(why) for index, why in primary_reasons(table, policy).items()}
    for collision in collisions(table, list(earlier), policy):
        reasons.setdefault(collision.index, "primary: " + collision.describe(table))
    primary = np.zeros(table.shape, dtype=bool)
    for index in reasons:
        primary[index] = True
    magnitudes = [(table.sums[name], rules.p_ratio / 100 * np.abs(table.sums[name])) for name in table.sums]
    pattern, protects = suppress_secondary(table.counts, primary, rules.protection_level, magnitudes)
    for cell, protected in protects.items():
        index = tuple(int(i) for i in np.unravel_index(cell, table.shape))
        target = tuple(int(i) for i in np.unravel_index(protected, table.shape))
        reasons.setdefault(index, f"secondary: protects {table.label(target)}")
    published = {name: _publish(table, policy, name, pattern) for name in table.measures}
    applied = {"min_cell_count": rules.min_cell_count, "dominance": [rules.dominance.n, rules.dominance.k],
               "p_ratio": rules.p_ratio, "percent_range": [rules.percent_min, rules.percent_max],
               "rounding_base": rules.rounding_base, "protection_level": rules.protection_level,
               "zeros": rules.zeros, "differencing": rules.differencing,
               "earlier_releases": [r.release_id for r in earlier]}
    return ProtectedTable(table, pattern, reasons, published, applied)


def round_count(value: int, base: int | None) -> int:
    """Round half up to a multiple of `base` (no rounding without a base)."""
    if not base:
        return int(value)
    return int(base * np.floor(value / base + 0.5))


def _publish(table: Table, policy: Policy, name: str, pattern: np.ndarray) -> np.ndarray:
    rules = policy.disclosure
    measure = table.measures[name]
    out = np.empty(table.shape, dtype=object)
    for index in np.ndindex(*table.shape):
        count = int(table.counts[index])
        if pattern[index]:
            out[index] = SUPPRESSED
        elif measure.kind == "count":
            out[index] = round_count(count, rules.rounding_base)
        elif measure.kind == "share":
            if count == 0:
                out[index] = None
                continue
            percent = 100.0 * int(table.numerators[name][index]) / count
            if percent < rules.percent_min:
                out[index] = f"<{rules.percent_min:g}"
            elif percent > rules.percent_max:
                out[index] = f">{rules.percent_max:g}"
            else:
                out[index] = round(percent, measure.decimals)
        else:
            known = int(table.known[name][index])
            if known == 0:
                out[index] = None
            elif measure.kind == "mean":
                out[index] = round(float(table.sums[name][index]) / known, measure.decimals)
            else:
                out[index] = round(float(table.medians[name][index]), measure.decimals)
    return out
