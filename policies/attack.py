"""The linear-programming attack: the feasible interval of every suppressed cell given what is published."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components


def lines(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Additivity lines of a table with margins, per dimension: rows of flat indices, the total last.

    Axis 0 holds independent slices (comparison groups): it has no margin and no lines.
    """
    flat = np.arange(int(np.prod(shape))).reshape(shape)
    out = []
    for axis in range(1, len(shape)):
        moved = np.moveaxis(flat, axis, -1)
        out.append(moved.reshape(-1, shape[axis]))
    return out


def intervals(values: np.ndarray, suppressed: np.ndarray, table_lines: list[np.ndarray],
              only: set[int] | None = None) -> dict[int, tuple[float, float]]:
    """Min and max of every suppressed cell (flat index; or of the cells in `only`) over all non-negative
    tables that agree with the published cells and satisfy every additivity line. `hi` is `inf` when
    unbounded."""
    values = np.asarray(values, dtype=float).ravel()
    suppressed = np.asarray(suppressed, dtype=bool).ravel()
    cells = np.flatnonzero(suppressed)
    if len(cells) == 0:
        return {}
    rows, edges_a, edges_b = [], [], []
    for group in table_lines:
        hit = suppressed[group].any(axis=1)
        for line in group[hit]:
            rows.append(line)
            members = line[suppressed[line]]
            edges_a.extend(members[:-1])
            edges_b.extend(members[1:])
    n = len(values)
    graph = coo_matrix((np.ones(len(edges_a)), (edges_a, edges_b)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    result: dict[int, tuple[float, float]] = {}
    by_component: dict[int, list[int]] = {}
    for cell in cells:
        if only is not None and int(cell) not in only:
            continue
        by_component.setdefault(int(label[cell]), []).append(int(cell))
    line_component: dict[int, list[np.ndarray]] = {}
    for line in rows:
        first = line[suppressed[line]][0]
        line_component.setdefault(int(label[first]), []).append(line)
    for comp, wanted in by_component.items():
        members = [int(c) for c in cells if label[c] == comp]
        result.update(_solve(values, suppressed, members, wanted, line_component.get(comp, [])))
    return result


def _solve(values: np.ndarray, suppressed: np.ndarray, members: list[int], wanted: list[int],
           comp_lines: list[np.ndarray]) -> dict[int, tuple[float, float]]:
    if not comp_lines:
        return {cell: (0.0, float("inf")) for cell in wanted}
    position = {cell: i for i, cell in enumerate(members)}
    data, row_idx, col_idx, rhs = [], [], [], []
    for r, line in enumerate(comp_lines):
        sign = np.ones(len(line))
        sign[-1] = -1.0
        known = 0.0
        for cell, s in zip(line, sign, strict=True):
            if suppressed[cell]:
                data.append(s)
                row_idx.append(r)
                col_idx.append(position[int(cell)])
            else:
                known += s * values[cell]
        rhs.append(-known)
    a_eq = csr_matrix((data, (row_idx, col_idx)), shape=(len(comp_lines), len(members)))
    b_eq = np.asarray(rhs)
    out = {}
    objective = np.zeros(len(members))
    for cell in wanted:
        i = position[cell]
        objective[i] = 1.0
        low = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        high = linprog(-objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        objective[i] = 0.0
        lo = low.fun if low.status == 0 else 0.0
        hi = -high.fun if high.status == 0 else float("inf")
        out[cell] = (float(lo), float(hi))
    return out
