"""Differencing between released groups: a published group against the published cells of another table
(or of another comparison group of the same request) that it contains, or that together contain it.

A *group* is the set of persons behind a published figure: the persons of a cell (its count), or those of
a cell meeting or missing a share's condition (the count times the share). Groups are compared in the data
(the cover's classes), whatever their definitions, so a school against its board or one year's delivery
against the next are compared too. For a group G and one level of cells of another table slice (its
interior cells, or one level of its margins, which are disjoint):

- the cells of that level inside G and published exactly leave G minus their sum, a group known exactly;
- when G lies inside the cells of that level it touches and all of them are published exactly, their sum
  minus G is a group known exactly.

Either difference must be 0 or at least the threshold. Rounded counts are not exact and are left to the
joint LP audit, as are differences through suppressed cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
from scipy import sparse

from policies.cover import Cover
from policies.published import is_number


@dataclass(frozen=True)
class Collision:
    """A published group of one entry whose difference with published cells of another is a small group."""

    entry: int  # the entry of the compared group G
    cell: int  # G's cell (flat index)
    family: str  # "" (persons of the cell), "share <m>", "complement <m>"
    other: int  # the entry whose cells are summed
    other_cells: tuple[int, ...]  # those cells (flat indices), published exactly
    persons: int  # the size of the difference (officer-only: never shown to a researcher)
    contains: bool  # True: G contains the other cells; False: the other cells contain G


@dataclass
class _Family:
    """Groups of one entry: per cell, the persons of the cell (condition None) or those meeting or missing
    a share's condition; weighted by the true persons per class; and which cells are published exactly."""

    name: str
    cells: sparse.csr_matrix
    weights: np.ndarray
    exact: np.ndarray
    condition: str | None = None
    meets: bool = True


def _families(cover: Cover, e: int) -> list[_Family]:
    entry = cover.entries[e]
    if entry.policy.disclosure.rounding_base:
        return []
    count_shown = None
    for name, measure in entry.table.measures.items():
        if measure.kind == "count":
            count_shown = np.array([is_number(v) for v in entry.published[name].ravel()])
            break
    if count_shown is None:
        return []
    out = [_Family("", cover.cells[e], cover.sizes, count_shown)]
    for name, measure in entry.table.measures.items():
        if measure.kind != "share":
            continue
        exact = count_shown & np.array([is_number(v) for v in entry.published[name].ravel()])
        hits = cover.hit_weights(e, name)
        key = f"{entry.frame}\x1f{measure.condition}"
        out.append(_Family(f"share {name}", cover.cells[e], hits, exact, key, True))
        out.append(_Family(f"complement {name}", cover.cells[e], cover.sizes - hits, exact, key, False))
    return out


def _shared_weights(a: _Family, b: _Family) -> np.ndarray | None:
    """The weights that count the persons in a group of `a` and a group of `b`; None when unknown."""
    if a.condition is None:
        return b.weights
    if b.condition is None:
        return a.weights
    if a.condition == b.condition and a.meets == b.meets:
        return a.weights
    return None


def _levels(cover: Cover, e: int) -> list[tuple[int, np.ndarray]]:
    """(slice, flat cells) of every level of every slice: the interior cells, or one level of margins."""
    table = cover.entries[e].table
    interior = table.interior_shape
    k = len(interior)
    out = []
    for g in range(table.shape[0]):
        for total in product((False, True), repeat=k):
            ranges = [range(interior[a], interior[a] + 1) if total[a] else range(interior[a]) for a in range(k)]
            coords = list(product(*ranges))
            if not coords:
                continue
            index = np.array([(g, *c) for c in coords]).T
            out.append((g, np.ravel_multi_index(tuple(index), table.shape)))
    return out


def collisions(cover: Cover, new: int) -> list[Collision]:
    """Every small exact difference between a published group and published cells where one side is the
    entry `new` (another group of the same request counts as another side)."""
    found: list[Collision] = []
    n = len(cover.entries)
    families = {e: _families(cover, e) for e in range(n)}
    levels = {e: _levels(cover, e) for e in range(n)}
    slices = {e: np.unravel_index(np.arange(cover.entries[e].table.n_cells), cover.entries[e].table.shape)[0]
              for e in range(n)}
    for a, b in [(new, b) for b in range(n)] + [(a, new) for a in range(n) if a != new]:
        threshold = max(cover.entries[a].policy.disclosure.min_cell_count,
                        cover.entries[b].policy.disclosure.min_cell_count)
        for fa in families[a]:
            g_cells = np.flatnonzero(fa.exact)
            if not len(g_cells):
                continue
            ga = fa.cells[g_cells]
            size_a = ga @ fa.weights
            keep = size_a > 0
            g_cells, ga, size_a = g_cells[keep], ga[keep], size_a[keep]
            for fb in families[b]:
                weights = _shared_weights(fa, fb)
                if weights is None or not len(g_cells):
                    continue
                weighted = (ga @ sparse.diags(weights)).tocsr()
                for gb, level in levels[b]:
                    rows = g_cells if a != b else g_cells[slices[a][g_cells] != gb]
                    if not len(rows):
                        continue
                    sel = np.searchsorted(g_cells, rows)
                    lb = fb.cells[level]
                    size_b = lb @ fb.weights
                    shared = (weighted[sel] @ lb.T).tocsr()
                    found += _compare(a, fa.name, rows, size_a[sel], b, level, size_b, fb.exact[level],
                                      shared, threshold)
    return _unique(found)


def _compare(a: int, family: str, rows: np.ndarray, size_a: np.ndarray, b: int, level: np.ndarray,
             size_b: np.ndarray, exact_b: np.ndarray, shared: sparse.csr_matrix, threshold: int) -> list[Collision]:
    out = []
    for r in range(shared.shape[0]):
        start, end = shared.indptr[r], shared.indptr[r + 1]
        cols, inter = shared.indices[start:end], shared.data[start:end]
        if not len(cols):
            continue
        g = float(size_a[r])
        inside = (np.abs(inter - size_b[cols]) < 0.5) & (size_b[cols] > 0) & exact_b[cols]
        if inside.any():
            difference = g - float(size_b[cols[inside]].sum())
            if 0.5 < difference < threshold - 0.5:
                out.append(Collision(a, int(rows[r]), family, b, tuple(int(c) for c in level[cols[inside]]),
                                     int(round(difference)), True))
        touching = inter > 0.5
        if abs(float(inter[touching].sum()) - g) < 0.5 and exact_b[cols[touching]].all():
            excess = float(size_b[cols[touching]].sum()) - g
            if 0.5 < excess < threshold - 0.5:
                out.append(Collision(a, int(rows[r]), family, b, tuple(int(c) for c in level[cols[touching]]),
                                     int(round(excess)), False))
    return out


def _unique(found: list[Collision]) -> list[Collision]:
    seen, out = set(), []
    for c in found:
        key = (c.entry, c.cell, c.family, c.other, c.other_cells)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out
