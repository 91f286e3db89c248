"""An attacker written for the tests, independent of the code under test: a dense cover table over every
combination of the attributes the releases name, and an LP over what the release files show.

It reads the released CSV files as a researcher receives them, knows each request (population, filters,
groups, dimensions) and the public school register (which municipality a school lies in), and knows the
conditions of the shares. For any group of persons defined on those attributes it finds the least and
greatest count consistent with every release file together.
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from policies.policy import Policy
from policies.request import Request


@dataclass
class Released:
    """One release as the attacker has it: the request, the policy and the CSV text."""

    request: Request
    policy: Policy
    csv_text: str


class Attacker:
    """Variables: the count of persons per combination of attribute values (`domains`), minus the
    combinations the register rules out (`allowed`)."""

    def __init__(self, domains: dict[str, list[str]], allowed=lambda combo: True):
        self.names = list(domains)
        combos = [dict(zip(self.names, values, strict=True)) for values in itertools.product(*domains.values())]
        self.combos = [c for c in combos if allowed(c)]
        self.rows: list[np.ndarray] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def mask(self, predicate) -> np.ndarray:
        return np.array([1.0 if predicate(c) else 0.0 for c in self.combos])

    def add(self, row: np.ndarray, lo: float, hi: float) -> None:
        self.rows.append(row)
        self.lower.append(lo)
        self.upper.append(hi)

    def interval(self, row: np.ndarray) -> tuple[float, float]:
        """Least and greatest value of row . x over every non-negative x meeting all constraints."""
        a = np.array(self.rows) if self.rows else np.zeros((0, len(self.combos)))
        lo, hi = np.array(self.lower), np.array(self.upper)
        a_ub = np.vstack([a[np.isfinite(hi)], -a[np.isfinite(lo)]]) if len(a) else None
        b_ub = np.concatenate([hi[np.isfinite(hi)], -lo[np.isfinite(lo)]]) if len(a) else None
        low = linprog(row, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
        high = linprog(-row, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
        assert low.status == 0, "the release files must be consistent"
        return float(low.fun), (float(-high.fun) if high.status == 0 else float("inf"))


def read_release(released: Released) -> list[dict]:
    """The cells of a release file: group, key per dimension (None = Total), and the shown values."""
    table = list(csv.reader(io.StringIO(released.csv_text)))
    header = table[0]
    body = []
    for row in table[1:]:
        if not row:
            break
        body.append(row)
    request = released.request
    offset = 1 if request.groups else 0
    cells = []
    for row in body:
        group = row[0] if request.groups else ""
        key = [None if v == "Total" else v for v in row[offset:offset + len(request.dimensions)]]
        shown = dict(zip(header[offset + len(request.dimensions):], row[offset + len(request.dimensions):],
                         strict=True))
        cells.append({"group": group, "key": key, "shown": shown})
    return cells


def predicate(released: Released, cell: dict, attribute_of: dict[str, str]):
    """Who is in a cell: the population, the request's filters, the group's filters and the cell's key."""
    request = released.request
    filters = {d: set(v) for d, v in request.filters.items()}
    if request.groups:
        for d, v in request.groups[cell["group"]].items():
            filters[d] = filters[d] & set(v) if d in filters else set(v)
    needs = [f"in_{s}" for s in request.population]

    def test(combo: dict) -> bool:
        if any(combo[n] != "1" for n in needs):
            return False
        for d, values in filters.items():
            if combo[attribute_of[d]] not in values:
                return False
        for d, k in zip(request.dimensions, cell["key"], strict=True):
            if k is not None and combo[attribute_of[d]] != k:
                return False
        return True

    return test
