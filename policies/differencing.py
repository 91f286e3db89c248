"""Differencing between tables: nested populations whose difference is a small group.

Rule: two table slices are compared when they have the same set of dimensions, come from the same
policy, and their domains (population x filters) are equal or nested by definition (every filter of the
larger domain is also a filter of the smaller one with a subset of its values, and the smaller domain
requires at least the larger one's sources). For every cell key both have, the difference of the true
counts must be 0 or at least the minimum cell count; otherwise the new cell would reveal a group
smaller than the threshold.

Within one request, comparison groups are compared when one group's persons include the other's in the
data (a school and its board); the cell of the larger group is suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict

from policies.table import Table

if TYPE_CHECKING:
    from policies.disclosure import ProtectedTable
    from policies.policy import Policy
    from policies.request import Filters, Request


class ReleasedCell(BaseModel):
    """One cell of an earlier release: its key (None = margin), true count and whether it was published."""

    model_config = ConfigDict(extra="forbid")

    group: str = ""
    key: list[str | None]
    count: int
    published: bool


class ReleasedTable(BaseModel):
    """What the integrator keeps (internally, never released) of every release, as JSON."""

    model_config = ConfigDict(extra="forbid")

    release_id: str
    policy: str
    population: list[str]
    dimensions: list[str]
    filters: dict[str, list[str]] = {}
    groups: dict[str, dict[str, list[str]]] = {}
    cells: list[ReleasedCell]


@dataclass(frozen=True)
class Collision:
    """A cell of the new table whose count differs from a compared cell by fewer than the threshold."""

    index: tuple[int, ...]
    release_id: str  # "" when the compared slice is another group of the same request
    other_group: str

    def describe(self, table: Table) -> str:
        source = f"release {self.release_id}" if self.release_id else "this request"
        group = f" group {self.other_group}" if self.other_group else ""
        return f"differencing with {source}{group} at {table.label(self.index)}"


def released_table(protected: ProtectedTable, release_id: str) -> ReleasedTable:
    """The record of a release to keep for later differencing checks."""
    table = protected.table
    request = table.request
    cells = []
    for index in table.indices():
        group, key = table.key(index)
        cells.append(ReleasedCell(group=group, key=list(key), count=int(table.counts[index]),
                                  published=not bool(protected.suppressed[index])))
    return ReleasedTable(release_id=release_id, policy=request.policy, population=list(request.population),
                         dimensions=list(request.dimensions), filters=request.filters, groups=request.groups,
                         cells=cells)


def _slices(population: list[str], filters: dict[str, list[str]], groups: dict[str, dict[str, list[str]]]
            ) -> list[tuple[str, frozenset[str], Filters]]:
    from policies.request import Request

    request = Request(policy="-", purpose="-", population=population, measures=["-"], filters=filters,
                      groups=groups)
    return [(name, frozenset(population), f) for name, f in request.slices()]


def contains(big: tuple[frozenset[str], Filters], small: tuple[frozenset[str], Filters]) -> bool:
    """True when by definition every person of domain `small` is in domain `big`."""
    big_pop, big_filters = big
    small_pop, small_filters = small
    if not big_pop <= small_pop:
        return False
    return all(dim in small_filters and small_filters[dim] <= values for dim, values in big_filters.items())


def related(a: tuple[frozenset[str], Filters], b: tuple[frozenset[str], Filters]) -> bool:
    return contains(a, b) or contains(b, a)


def definitional_risks(request: Request, earlier: list[ReleasedTable]) -> list[str]:
    """Ids of earlier releases of the same policy a table of this request could be differenced with."""
    mine = _slices(request.population, request.filters, request.groups)
    out = []
    for release in earlier:
        if release.policy != request.policy or set(release.dimensions) != set(request.dimensions):
            continue
        theirs = _slices(release.population, release.filters, release.groups)
        if any(related((p, f), (q, g)) for _, p, f in mine for _, q, g in theirs):
            out.append(release.release_id)
    return out


def collisions(table: Table, earlier: list[ReleasedTable], policy: Policy) -> list[Collision]:
    """Cells of `table` that differ by 1..threshold-1 persons from a published cell of a related earlier
    slice, or from a cell of a related other group of the same request."""
    threshold = policy.disclosure.min_cell_count
    request = table.request
    mine = _slices(request.population, request.filters, request.groups)
    found: list[Collision] = []
    for release in earlier:
        if release.policy != request.policy or set(release.dimensions) != set(table.dimensions):
            continue
        theirs = {name: (p, f) for name, p, f in _slices(release.population, release.filters, release.groups)}
        perm = [release.dimensions.index(d) for d in table.dimensions]
        cells: dict[tuple[str, tuple[str | None, ...]], ReleasedCell] = {}
        for cell in release.cells:
            cells[(cell.group, tuple(cell.key[i] for i in perm))] = cell
        for g, (_, pop, filters) in enumerate(mine):
            for other, domain in theirs.items():
                if not related((pop, filters), domain):
                    continue
                for index in _slice_indices(table, g):
                    cell = cells.get((other, table.key(index)[1]))
                    if cell is None or not cell.published:
                        continue
                    if _small(int(table.counts[index]), cell.count, threshold):
                        found.append(Collision(index, release.release_id, other))
    for g, h in sorted(table.inclusions):
        if not (g > h and (h, g) in table.inclusions):  # equal slices: compare once
            name_h = table.groups[h]
            for index in _slice_indices(table, g):
                if _small(int(table.counts[index]), int(table.counts[(h, *index[1:])]), threshold):
                    found.append(Collision(index, "", name_h))
    return found


def _small(new: int, old: int, threshold: int) -> bool:
    return new >= threshold and 0 < abs(new - old) < threshold


def _slice_indices(table: Table, g: int) -> list[tuple[int, ...]]:
    return [(g, *rest) for rest in np.ndindex(*table.shape[1:])]
