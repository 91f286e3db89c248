"""Secondary suppression by the hypercube method: every suppressed cell is a corner of a box of
suppressed cells along which the table can shift by at least the protection level, so the LP attack
cannot narrow it below that; the LP attack then verifies small tables."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np

from policies.attack import intervals, lines

Magnitude = tuple[np.ndarray, np.ndarray]  # (cell values, required interval width per cell)
VERIFY_CELLS = 2_000  # tables up to this many cells are also verified by the LP attack
PARTNERS = 12  # along a long axis, boxes use the margin and this many of the most promising positions


def boxes(shape: tuple[int, ...], cell: tuple[int, ...], choices: list[np.ndarray] | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    """All boxes with `cell` as a corner (its other corners at `choices` along each axis, default every
    other position): flat corner indices (boxes, 2^k) and the sign of each corner's shift (+1 moves with
    the cell, -1 against it). Axis 0 (groups) is fixed."""
    k = len(shape) - 1
    if choices is None:
        choices = [np.array([q for q in range(shape[a]) if q != cell[a]]) for a in range(1, k + 1)]
    if k == 0 or any(len(c) == 0 for c in choices):
        return np.zeros((0, 1), dtype=np.int64), np.zeros((0, 1))
    grids = [g.ravel() for g in np.meshgrid(*choices, indexing="ij")]
    n_boxes = len(grids[0])
    masks = list(product((0, 1), repeat=k))
    corners = np.empty((n_boxes, len(masks)), dtype=np.int64)
    signs = np.ones((n_boxes, len(masks)))
    for j, mask in enumerate(masks):
        coords = [np.full(n_boxes, cell[0])]
        for a, use in enumerate(mask, start=1):
            if use:
                q = grids[a - 1]
                coords.append(q)
                both_interior = (q < shape[a] - 1) & (cell[a] < shape[a] - 1)
                signs[:, j] *= np.where(both_interior, -1.0, 1.0)
            else:
                coords.append(np.full(n_boxes, cell[a]))
        corners[:, j] = np.ravel_multi_index(tuple(coords), shape)
    return corners, signs


def box_widths(values: np.ndarray, corners: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """How far each box can shift: the least value moving down plus the least value moving up."""
    corner_values = values.ravel()[corners]
    down = np.where(signs > 0, corner_values, np.inf).min(axis=1)
    up = np.where(signs < 0, corner_values, np.inf).min(axis=1)
    return down + up


def suppress_secondary(counts: np.ndarray, primary: np.ndarray, level: float,
                       magnitudes: Sequence[Magnitude] = (), verify: bool | None = None,
                       start: np.ndarray | None = None, forbidden: np.ndarray | None = None
                       ) -> tuple[np.ndarray, dict[int, int]]:
    """Complete a primary suppression pattern. Returns the full pattern (bool, table shape) and, for every
    secondary cell, the flat index of the suppressed cell it protects.

    `counts` of every cell in `primary` get an interval at least `level` wide; each magnitude (cell values)
    an interval at least its required width at those cells. `start` (default: `primary`) is the pattern
    to complete: cells suppressed already, for other reasons, that boxes may use for free. Cells in
    `forbidden` are never added (their value is public already: hiding them protects nothing). With `verify`
    (default: tables up to VERIFY_CELLS cells) the single-table LP attack checks the result."""
    shape = counts.shape
    suppressed = (primary if start is None else start | primary).ravel().copy()
    protects: dict[int, int] = {}
    protect_cells(np.flatnonzero(primary.ravel()), counts, suppressed, level, magnitudes, protects, forbidden)
    if verify if verify is not None else counts.size <= VERIFY_CELLS:
        cost = counts.ravel().astype(float)
        for cell in sorted(failing_cells(suppressed.reshape(shape), lines(shape), counts, level,
                                         magnitudes, primary.ravel())):
            _protect(cell, shape, suppressed, cost, level, magnitudes, protects, margins_only=True)
    return suppressed.reshape(shape), protects


def protect_cells(cells: Sequence[int] | np.ndarray, counts: np.ndarray, suppressed: np.ndarray, level: float,
                  magnitudes: Sequence[Magnitude], protects: dict[int, int],
                  forbidden: np.ndarray | None = None) -> None:
    """Give each cell (flat index) a box of suppressed cells, updating `suppressed` (flat) in place."""
    cost = counts.ravel().astype(float)
    banned = None if forbidden is None else forbidden.ravel()
    for cell in cells:
        _protect(int(cell), counts.shape, suppressed, cost, level, magnitudes, protects, banned=banned)


def _protect(cell: int, shape: tuple[int, ...], suppressed: np.ndarray, cost: np.ndarray, level: float,
             magnitudes: Sequence[Magnitude], protects: dict[int, int], margins_only: bool = False,
             banned: np.ndarray | None = None) -> None:
    """Suppress the cheapest box that protects `cell` (nothing when one is already suppressed)."""
    index = tuple(int(i) for i in np.unravel_index(cell, shape))
    partners = _partners(shape, index, suppressed, cost, level)
    if _hidden_box(cell, shape, index, partners, suppressed, cost, level, magnitudes, margins_only):
        return
    corners, signs = boxes(shape, index, partners)
    if len(corners) == 0:
        return
    ok = _qualifies(cell, corners, signs, cost, level, magnitudes, margins_only)
    new = ~suppressed[corners]
    price = np.where(new, cost[corners] + 1.0, 0.0).sum(axis=1)
    if banned is not None:
        ok &= ~(new & banned[corners]).any(axis=1)
    price = np.where(ok, price, np.inf)
    best = int(np.argmin(price))
    if not np.isfinite(price[best]):
        best = int(np.argmax((signs > 0).all(axis=1)))  # the box of margins: unbounded upwards
    for corner in corners[best][new[best]]:
        suppressed[corner] = True
        protects[int(corner)] = cell


def _qualifies(cell: int, corners: np.ndarray, signs: np.ndarray, cost: np.ndarray, level: float,
               magnitudes: Sequence[Magnitude], margins_only: bool) -> np.ndarray:
    """Per box: whether it lets `cell` move by as much as it needs."""
    ok = box_widths(cost, corners, signs) >= level - 1e-9
    for values, required in magnitudes:
        ok &= box_widths(values, corners, signs) >= required.ravel()[cell] - 1e-9
    if margins_only:
        ok &= (signs > 0).all(axis=1)
    return ok


def _hidden_box(cell: int, shape: tuple[int, ...], index: tuple[int, ...], partners: list[np.ndarray],
                suppressed: np.ndarray, cost: np.ndarray, level: float, magnitudes: Sequence[Magnitude],
                margins_only: bool) -> bool:
    """Whether a box among `partners` whose corners are all suppressed already protects `cell` (the search
    over every box would then add nothing). Such a box only uses positions whose neighbour of `cell` on the
    axis is suppressed, so only those are tried: a few boxes instead of hundreds."""
    strides = np.cumprod((shape[1:] + (1,))[::-1])[::-1]
    hidden = [q[suppressed[cell + (q - index[a]) * int(strides[a])]] for a, q in enumerate(partners, start=1)]
    if not hidden or any(len(q) == 0 for q in hidden):
        return False
    corners, signs = boxes(shape, index, hidden)
    whole = suppressed[corners].all(axis=1)
    if not whole.any():
        return False
    corners, signs = corners[whole], signs[whole]
    return bool(_qualifies(cell, corners, signs, cost, level, magnitudes, margins_only).any())


def _partners(shape: tuple[int, ...], index: tuple[int, ...], suppressed: np.ndarray, cost: np.ndarray,
              level: float) -> list[np.ndarray]:
    """Per axis, the positions a box through `index` may use: all on a short axis; on a long one (300
    schools) the margin, the largest cells hidden already (free) and the cheapest cells that can move by
    `level` (the boxes a search over every position would pick in practice, at a fraction of the cost)."""
    here = int(np.ravel_multi_index(index, shape))
    strides = np.cumprod((shape[1:] + (1,))[::-1])[::-1]
    out = []
    for a in range(1, len(shape)):
        positions = np.array([q for q in range(shape[a]) if q != index[a]])
        if len(positions) <= PARTNERS:
            out.append(positions)
            continue
        line = here + (positions - index[a]) * int(strides[a])
        hidden, value = suppressed[line], cost[line]
        margin = positions[positions == shape[a] - 1]
        free = positions[hidden][np.argsort(-value[hidden], kind="stable")][: PARTNERS // 2]
        able = ~hidden & (value >= level)
        cheap = positions[able][np.argsort(value[able], kind="stable")][: PARTNERS // 2]
        out.append(np.unique(np.concatenate([margin, free, cheap])))
    return out


def failing_cells(suppressed: np.ndarray, table_lines: list[np.ndarray], counts: np.ndarray, level: float,
                  magnitudes: Sequence[Magnitude] = (), primary: np.ndarray | None = None) -> dict[int, float]:
    """Suppressed cells whose LP-attack interval is narrower than required, with the width required.
    Magnitude requirements apply to the `primary` cells only (all suppressed cells when None)."""
    failing: dict[int, float] = {}
    sensitive = suppressed.ravel() if primary is None else primary.ravel()
    checks = [(counts, np.full(counts.shape, float(level)), suppressed.ravel())]
    checks += [(values, required, sensitive) for values, required in magnitudes]
    for values, required, which in checks:
        need = required.ravel()
        wanted = {int(c) for c in np.flatnonzero(which & suppressed.ravel())}
        for cell, (lo, hi) in intervals(values, suppressed, table_lines, only=wanted).items():
            if hi - lo < need[cell] - 1e-9:
                failing[cell] = max(failing.get(cell, 0.0), float(need[cell]))
    return failing
