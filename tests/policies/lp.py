"""An independent LP attack for the tests: every cell a variable, published cells fixed."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog


def attack(values: np.ndarray, suppressed: np.ndarray, index: tuple[int, ...]) -> tuple[float, float]:
    """Min and max of cell `index` over non-negative tables with the published cells and all margins."""
    shape = values.shape
    n = values.size
    flat = np.arange(n).reshape(shape)
    rows = []
    for axis in range(1, len(shape)):
        for line in np.moveaxis(flat, axis, -1).reshape(-1, shape[axis]):
            row = np.zeros(n)
            row[line[:-1]] = 1.0
            row[line[-1]] = -1.0
            rows.append(row)
    a_eq = np.array(rows) if rows else None
    b_eq = np.zeros(len(rows)) if rows else None
    bounds = [(0, None) if s else (float(v), float(v)) for v, s in zip(values.ravel(), suppressed.ravel(),
                                                                        strict=True)]
    c = np.zeros(n)
    c[np.ravel_multi_index(index, shape)] = 1.0
    low = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    high = linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    assert low.status == 0, "the published table must be consistent"
    return low.fun, (-high.fun if high.status == 0 else float("inf"))
