"""Secondary suppression: add the cheapest complementary cells until the LP attack cannot narrow any
suppressed cell below the protection level."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from policies.attack import box_width, intervals, lines

Magnitude = tuple[np.ndarray, np.ndarray]  # (cell values, required interval width per cell)


def _candidate(line: np.ndarray, suppressed: np.ndarray, cost: np.ndarray, need: float) -> int | None:
    """The cheapest unsuppressed cell of a line whose value is at least `need`, else the largest one."""
    free = line[~suppressed[line]]
    if len(free) == 0:
        return None
    enough = free[cost[free] >= need]
    if len(enough):
        return int(enough[np.lexsort((enough, cost[enough]))[0]])
    return int(free[np.lexsort((free, -cost[free]))[0]])


def _close_singletons(table_lines: list[np.ndarray], suppressed: np.ndarray, cost: np.ndarray, need: float,
                      protects: dict[int, int]) -> None:
    """Until no line has exactly one suppressed cell (which would equal total minus the others)."""
    changed = True
    while changed:
        changed = False
        for group in table_lines:
            single = suppressed[group].sum(axis=1) == 1
            for line in group[single]:
                if suppressed[line].sum() != 1:
                    continue
                protected = int(line[suppressed[line]][0])
                cell = _candidate(line, suppressed, cost, need)
                if cell is not None:
                    suppressed[cell] = True
                    protects[cell] = protected
                    changed = True


def failing_cells(suppressed: np.ndarray, table_lines: list[np.ndarray], counts: np.ndarray, level: float,
                  magnitudes: Sequence[Magnitude] = ()) -> dict[int, float]:
    """Suppressed cells whose attack interval is narrower than required, with the width still needed."""
    failing: dict[int, float] = {}
    checks = [(counts, np.full(counts.shape, float(level)))] + list(magnitudes)
    shape = suppressed.shape
    for values, required in checks:
        need = required.ravel()
        doubtful = {int(c) for c in np.flatnonzero(suppressed)
                    if box_width(values, suppressed, np.unravel_index(c, shape)) < need[c] - 1e-9}
        if not doubtful:
            continue
        for cell, (lo, hi) in intervals(values, suppressed, table_lines, only=doubtful).items():
            if hi - lo < need[cell] - 1e-9:
                failing[cell] = max(failing.get(cell, 0.0), float(need[cell]))
    return failing


def suppress_secondary(counts: np.ndarray, primary: np.ndarray, level: float,
                       magnitudes: Sequence[Magnitude] = ()) -> tuple[np.ndarray, dict[int, int]]:
    """Complete a primary suppression pattern. Returns the full pattern (flat, bool) and, for every
    secondary cell, the flat index of the suppressed cell it protects."""
    shape = counts.shape
    cost = counts.ravel().astype(float)
    suppressed = primary.ravel().copy()
    table_lines = lines(shape)
    line_of: dict[int, list[np.ndarray]] = {}
    for group in table_lines:
        for line in group:
            for cell in line:
                line_of.setdefault(int(cell), []).append(line)
    protects: dict[int, int] = {}
    while True:
        _close_singletons(table_lines, suppressed, cost, level, protects)
        failing = failing_cells(suppressed.reshape(shape), table_lines, counts, level, magnitudes)
        if not failing:
            return suppressed.reshape(shape), protects
        added = False
        for cell, need in sorted(failing.items()):
            options = [(_candidate(line, suppressed, cost, need), line) for line in line_of.get(cell, [])]
            options = [c for c, _ in options if c is not None]
            if not options:
                options = _fallback(cell, suppressed, cost, need, line_of)
            if options:
                best = min(options, key=lambda c: (cost[c] < need, cost[c], c))
                suppressed[best] = True
                protects[best] = cell
                added = True
        if not added:
            return suppressed.reshape(shape), protects


def _fallback(cell: int, suppressed: np.ndarray, cost: np.ndarray, need: float,
              line_of: dict[int, list[np.ndarray]]) -> list[int]:
    """Candidates on lines through any suppressed cell reachable from `cell` along suppressed lines."""
    seen, todo, found = {cell}, [cell], []
    while todo and not found:
        current = todo.pop()
        for line in line_of.get(current, []):
            choice = _candidate(line, suppressed, cost, need)
            if choice is not None:
                found.append(choice)
            for other in line[suppressed[line]]:
                if int(other) not in seen:
                    seen.add(int(other))
                    todo.append(int(other))
    return found
