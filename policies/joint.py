"""The joint LP audit of linked tables: the feasible interval of every sensitive quantity given everything
published, per connected component of the cover, solved with HiGHS (warm-started between objectives).

Most quantities are proved wide enough without an LP of their own: every point the solver visits is a
feasible table, so a quantity whose values over the visited points already differ by the width it needs
is safe. A few solves with random objectives visit many extremes at once; only the quantities still
unproved get their own min and max.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from policies.cover import Functionals, Rows

TOLERANCE = 1e-6
RANDOM_ROUNDS = 8
_banner_lock = threading.Lock()
_banner_shown = False


def _solver():
    """A silent HiGHS instance (the library prints a banner on stdout at its first construction)."""
    global _banner_shown
    import highspy

    with _banner_lock:
        if not _banner_shown:
            sys.stdout.flush()
            saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            try:
                highs = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(null)
            _banner_shown = True
        else:
            highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    highs.setOptionValue("random_seed", 0)
    return highs


@dataclass
class Failure:
    """A sensitive quantity whose feasible interval is narrower than it must be."""

    functional: int
    lo: float
    hi: float
    binding: np.ndarray  # rows (indices into the audited Rows) that bound it at its min or max


class _Component:
    """One connected part of the LP: its variables and rows, and a HiGHS model of them."""

    def __init__(self, variables: np.ndarray, rows: np.ndarray, all_rows: Rows, free_lower: np.ndarray):
        import highspy

        self.variables, self.rows = variables, rows
        sub = all_rows.matrix[rows][:, variables].tocsc()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = len(variables), len(rows)
        lp.col_cost_ = np.zeros(len(variables))
        lp.col_lower_ = free_lower[variables]
        lp.col_upper_ = np.full(len(variables), highspy.kHighsInf)
        inf = highspy.kHighsInf
        lp.row_lower_ = np.where(np.isfinite(all_rows.lower[rows]), all_rows.lower[rows], -inf)
        lp.row_upper_ = np.where(np.isfinite(all_rows.upper[rows]), all_rows.upper[rows], inf)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(variables), len(rows)
        lp.a_matrix_.start_ = sub.indptr.astype(np.int32)
        lp.a_matrix_.index_ = sub.indices.astype(np.int32)
        lp.a_matrix_.value_ = sub.data.astype(float)
        self.highs = _solver()
        self.highs.passModel(lp)
        self.n = len(variables)
        self.all_columns = np.arange(self.n, dtype=np.int32)
        self.solves = 0

    def solve(self, cost: np.ndarray, maximise: bool) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """Optimum of cost . x (inf when unbounded), the point and the row duals."""
        import highspy

        h = self.highs
        h.changeColsCost(self.n, self.all_columns, cost.astype(float))
        h.changeObjectiveSense(highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize)
        h.run()
        self.solves += 1
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            solution = h.getSolution()
            return (float(h.getInfo().objective_function_value), np.asarray(solution.col_value),
                    np.asarray(solution.row_dual))
        if status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return (np.inf if maximise else -np.inf), None, None
        raise ArithmeticError(f"the joint LP could not be solved ({h.modelStatusToString(status)})")


@dataclass
class AuditStats:
    """What one audit cost: components, solves and the LP size."""

    variables: int = 0
    rows: int = 0
    functionals: int = 0
    audited: int = 0
    components: int = 0
    solves: int = 0


def audit(rows: Rows, funcs: Functionals, truth: np.ndarray, lower: np.ndarray, new_entries: set[int],
          stats: AuditStats | None = None) -> list[Failure]:
    """Sensitive quantities narrower than they must be, among those the entries in `new_entries` can
    change: their own, and those of any component that holds one of their rows. `lower` is each
    variable's lower bound (0 for counts, -inf for sums)."""
    stats = stats if stats is not None else AuditStats()
    n_vars, n_rows = rows.matrix.shape[1], rows.matrix.shape[0]
    stats.variables, stats.rows, stats.functionals = n_vars, n_rows, funcs.matrix.shape[0]
    if funcs.matrix.shape[0] == 0:
        return []
    coo = rows.matrix.tocoo()
    graph = sparse.csr_matrix((np.ones(len(coo.data)), (coo.col, n_vars + coo.row)),
                              shape=(n_vars + n_rows, n_vars + n_rows))
    _, label = connected_components(graph, directed=False)
    var_label = label[:n_vars]
    in_rows = np.zeros(n_vars, dtype=bool)
    in_rows[coo.col] = True
    new_rows = np.isin(rows.entry, list(new_entries))
    hot = set(np.unique(label[n_vars + np.flatnonzero(new_rows)]).tolist())

    f = funcs.matrix.tocsr()
    values = f @ truth
    audited = []
    for i in range(f.shape[0]):
        cols = f.indices[f.indptr[i]:f.indptr[i + 1]]
        coef = f.data[f.indptr[i]:f.indptr[i + 1]]
        if ((~in_rows[cols]) & (coef != 0)).any():
            continue  # a variable no published figure constrains: the interval is unbounded
        if funcs.entry[i] in new_entries or any(int(c) in hot for c in np.unique(var_label[cols])):
            audited.append(i)
    stats.audited = len(audited)
    if not audited:
        return []

    # Pieces: each audited functional restricted to each component it touches.
    pieces: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
    for i in audited:
        cols = f.indices[f.indptr[i]:f.indptr[i + 1]]
        coef = f.data[f.indptr[i]:f.indptr[i + 1]]
        for comp in np.unique(var_label[cols]):
            sel = var_label[cols] == comp
            pieces.setdefault(int(comp), []).append((i, cols[sel], coef[sel]))
    components: dict[int, _Component] = {}
    local: dict[int, np.ndarray] = {}  # component -> its variables (global index), sorted
    row_label = label[n_vars:]
    piece_cost: dict[tuple[int, int], np.ndarray] = {}
    seen_lo: dict[tuple[int, int], float] = {}
    seen_hi: dict[tuple[int, int], float] = {}
    for comp, items in pieces.items():
        variables = np.flatnonzero(var_label == comp)
        local[comp] = variables
        for i, cols, coef in items:
            cost = np.zeros(len(variables))
            cost[np.searchsorted(variables, cols)] = coef
            piece_cost[(i, comp)] = cost
            value = float(cost @ truth[variables])
            seen_lo[(i, comp)] = seen_hi[(i, comp)] = value

    need = funcs.need
    by_functional: dict[int, list[int]] = {}
    for comp, items in pieces.items():
        for i, _, _ in items:
            by_functional.setdefault(i, []).append(comp)

    def width(i: int) -> float:
        return sum(seen_hi[(i, c)] - seen_lo[(i, c)] for c in by_functional[i])

    def unproved() -> list[int]:
        return [i for i in audited if width(i) < need[i] - TOLERANCE]

    def component(comp: int) -> _Component:
        if comp not in components:
            components[comp] = _Component(local[comp], np.flatnonzero(row_label == comp), rows, lower)
        return components[comp]

    def visit(comp: int, point: np.ndarray) -> None:
        for i, _, _ in pieces[comp]:
            value = float(piece_cost[(i, comp)] @ point)
            key = (i, comp)
            if value < seen_lo[key]:
                seen_lo[key] = value
            if value > seen_hi[key]:
                seen_hi[key] = value

    rng = np.random.default_rng(0)
    waiting = unproved()
    for _ in range(RANDOM_ROUNDS):
        if not waiting:
            break
        todo = set(waiting)
        for comp, items in sorted(pieces.items()):
            mine = [(i, piece_cost[(i, comp)]) for i, _, _ in items if i in todo]
            if not mine:
                continue
            cost = np.zeros(len(local[comp]))
            for i, c in mine:
                cost += rng.choice((-1.0, 1.0)) * c / max(float(need[i]), 1.0)
            _, point, _ = component(comp).solve(cost, maximise=False)
            if point is not None:
                visit(comp, point)
        still = unproved()
        if len(still) > 0.9 * len(waiting):
            waiting = still
            break
        waiting = still

    failures = []
    for i in waiting:
        if width(i) >= need[i] - TOLERANCE:
            continue
        lo = hi = 0.0
        binding: list[np.ndarray] = []
        for comp in by_functional[i]:
            part = component(comp)
            cost = piece_cost[(i, comp)]
            for maximise in (True, False):
                value, point, duals = part.solve(cost, maximise)
                if point is not None:
                    visit(comp, point)
                if duals is not None:
                    binding.append(part.rows[np.abs(duals) > 1e-9])
                if maximise:
                    hi += value
                else:
                    lo += value
        if hi - lo < need[i] - TOLERANCE:
            failures.append(Failure(i, lo, hi, np.unique(np.concatenate(binding)) if binding
                                    else np.zeros(0, np.int64)))
    stats.components = len(components)
    stats.solves = sum(c.solves for c in components.values())
    _ = values
    return failures
