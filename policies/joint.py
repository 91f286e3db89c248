"""The joint LP audit of linked tables: the feasible interval of every sensitive quantity given everything
published, solved with HiGHS (warm-started between objectives).

Two passes keep it fast at the size of a real monitor:

1. Locally. The variables are split into neighbourhoods joined by hidden groups (a suppressed cell links
   the classes in it); a quantity is solved within its neighbourhood with every other class fixed at its
   true count. That is a sub-problem of the attacker's, so a width proved there holds for the attacker
   too. A quantity narrower than it must be locally is repaired from the local solution (suppressing
   what binds it locally widens it locally, and so globally).
2. Exactly. A quantity that only figures of earlier releases bind locally is solved again on its whole
   connected component before anything is concluded from it.

Most quantities need no LP of their own: every point a solver visits is a feasible table, so a quantity
whose values over the visited points already differ by the width it needs is proved. A few solves with
random objectives visit many extremes at once; only what stays unproved gets its own max and min.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from policies.cover import Functionals, Rows

TOLERANCE = 1e-6
THREADS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
RANDOM_ROUNDS = 8
RANDOM_AT_LEAST = 6  # random objectives only where at least this many quantities are still unproved
# Neighbourhoods are kept to about this many variables (smaller hidden groups link them). At 10,000 the first
# round of the monitor bench fails 4 quantities instead of 7,278, but the history it builds hides less, and
# the last check then costs 3x the CPU (LPs of 10,000 variables) and is refused on a share earlier releases
# pin in its wider neighbourhood: 600 stays until the wide passes are cheaper.
LOCAL_PART = 600
EXACT_VARIABLES = 3000  # an LP this small is solved exactly, without neighbourhoods
EXACT_COMPONENT = 20_000  # a failure in a neighbourhood is solved on its whole component up to this size
WIDE_PART = 30_000  # beyond it, in a neighbourhood this large
# what no figure of the new table binds in that neighbourhood is solved on its whole component up to this size
# (the new table may pin it through classes outside the neighbourhood); only beyond is it taken as left as it was
EXACT_FALLBACK = 250_000
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
    # Only the objective changes between solves, so the last optimal basis stays primal feasible: primal
    # simplex goes on from it, where the default (dual simplex) first repairs dual feasibility (4-5x slower).
    highs.setOptionValue("simplex_strategy", 4)
    return highs


@dataclass
class Failure:
    """A sensitive quantity whose feasible interval is narrower than it must be."""

    functional: int
    lo: float
    hi: float
    binding: np.ndarray  # rows (indices into the audited Rows) that bound it at its min or max
    exact: bool = False  # solved on its whole component (else within its neighbourhood only)


@dataclass
class AuditStats:
    """What one audit cost: the LP size, the parts solved and the solves."""

    variables: int = 0
    rows: int = 0
    functionals: int = 0
    audited: int = 0
    components: int = 0
    solves: int = 0
    rounds: int = 0  # audits run (one per round of suppressions)


class _Part:
    """Variables solved together, the rows that touch them, every other variable fixed at `fixed`."""

    def __init__(self, variables: np.ndarray, rows: Rows, columns: sparse.csc_matrix, lower: np.ndarray,
                 fixed: np.ndarray):
        import highspy

        self.variables = variables
        touched = columns[:, variables]
        self.rows = np.unique(touched.indices)
        sub = touched[self.rows].tocsc()
        outside = fixed.copy()
        outside[variables] = 0.0
        shift = rows.matrix[self.rows] @ outside
        inf = highspy.kHighsInf
        lo, hi = rows.lower[self.rows] - shift, rows.upper[self.rows] - shift
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = len(variables), len(self.rows)
        lp.col_cost_ = np.zeros(len(variables))
        lp.col_lower_ = lower[variables]
        lp.col_upper_ = np.full(len(variables), inf)
        lp.row_lower_ = np.where(np.isfinite(lo), lo, -inf)
        lp.row_upper_ = np.where(np.isfinite(hi), hi, inf)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(variables), len(self.rows)
        lp.a_matrix_.start_ = sub.indptr.astype(np.int32)
        lp.a_matrix_.index_ = sub.indices.astype(np.int32)
        lp.a_matrix_.value_ = sub.data.astype(float)
        self.highs = _solver()
        self.highs.passModel(lp)
        self.n = len(variables)
        self.costed = np.zeros(0, dtype=np.int32)
        self.solves = 0

    def solve(self, columns: np.ndarray, cost: np.ndarray, maximise: bool, duals: bool = False
              ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """Optimum of cost . x over the given columns (every other cost 0; inf when unbounded), the point
        and, when asked, the row duals."""
        import highspy

        h = self.highs
        # only the columns costed last time and now are touched: a part's objectives are sparse
        if len(self.costed):
            h.changeColsCost(len(self.costed), self.costed, np.zeros(len(self.costed)))
        self.costed = columns.astype(np.int32)
        h.changeColsCost(len(self.costed), self.costed, cost.astype(float))
        h.changeObjectiveSense(highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize)
        h.run()
        self.solves += 1
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            solution = h.getSolution()
            return (float(h.getObjectiveValue()), np.asarray(solution.col_value),
                    np.asarray(solution.row_dual) if duals else None)
        if status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return (np.inf if maximise else -np.inf), None, None
        raise ArithmeticError(f"the joint LP could not be solved ({h.modelStatusToString(status)})")


def _components(rows: Rows, n_vars: int) -> np.ndarray:
    """The connected components of the variables through the rows (exact: nothing else links them)."""
    coo = rows.matrix.tocoo()
    n_rows = rows.matrix.shape[0]
    graph = sparse.csr_matrix((np.ones(len(coo.data)), (coo.col, n_vars + coo.row)),
                              shape=(n_vars + n_rows, n_vars + n_rows))
    return connected_components(graph, directed=False)[1][:n_vars]


def _neighbourhoods(funcs: Functionals, n_vars: int, sigma_class: np.ndarray, part: int = 0) -> np.ndarray:
    """Variables joined by the hidden groups (sensitive quantities) they share, a sum variable with its
    class; groups are admitted smallest first while the largest neighbourhood stays near `part`
    (LOCAL_PART by default)."""
    part = part or LOCAL_PART
    f = funcs.matrix.tocsr()
    size = np.diff(f.indptr)
    sigma = np.flatnonzero(sigma_class >= 0)
    limit = min(int(size.max()) if len(size) else 1, part)  # a larger group would overfill a part anyway

    def labels_at(limit: int) -> np.ndarray:
        small = np.flatnonzero((size > 1) & (size <= limit))
        sub = f[small].tocoo()
        first = f.indices[f.indptr[small]]
        a = np.concatenate([first[sub.row], sigma])
        b = np.concatenate([sub.col, sigma_class[sigma]])
        graph = sparse.csr_matrix((np.ones(len(a)), (a, b)), shape=(n_vars, n_vars))
        return connected_components(graph, directed=False)[1]

    # The limits tried are halved down to 1; the first (largest) that keeps every neighbourhood within `part`
    # is wanted. Admitting more groups only joins neighbourhoods, so the test is monotone: bisect it.
    limits = [limit]
    while limits[-1] > 1:
        limits.append(limits[-1] // 2)
    fits: dict[int, np.ndarray] = {}
    low, high = 0, len(limits) - 1  # the answer lies in limits[low..high]; the last one always does
    while low < high:
        middle = (low + high) // 2
        labels = labels_at(limits[middle])
        if np.bincount(labels).max() <= part:
            fits[middle] = labels
            high = middle
        else:
            low = middle + 1
    labels = fits[low] if low in fits else labels_at(limits[low])
    return _bundle(labels, part)


def _bundle(labels: np.ndarray, part: int = 0) -> np.ndarray:
    """Join small neighbourhoods into parts of about LOCAL_PART variables: one LP and its random objectives
    then serve many of them (a larger neighbourhood only gives an attacker's sub-problem more room)."""
    part = part or LOCAL_PART
    sizes = np.bincount(labels)
    order = np.argsort(sizes, kind="stable")
    bundle_of = np.empty(len(sizes), dtype=np.int64)
    current, filled = 0, 0
    for label in order:
        if filled and filled + sizes[label] > part:
            current, filled = current + 1, 0
        bundle_of[label] = current
        filled += sizes[label]
    return bundle_of[labels]


def audit(rows: Rows, funcs: Functionals, truth: np.ndarray, lower: np.ndarray, new_entries: set[int],
          stats: AuditStats | None = None, proved: np.ndarray | None = None,
          sigma_class: np.ndarray | None = None, local: bool = True,
          removable: np.ndarray | None = None) -> list[Failure]:
    """Sensitive quantities narrower than they must be, among those the entries in `new_entries` can
    change: their own, and those of any component that holds one of their rows. `lower` is each
    variable's lower bound (0 for counts, -inf for sums); `sigma_class` the class of each sum variable
    (-1 for counts). Quantities marked in `proved` are known wide enough already (fewer published figures
    only widen them) and are skipped; the ones this audit proves are marked in it.

    With `local`, quantities are first solved in their neighbourhoods (see the module); a failure there
    that no `removable` row binds (default: the rows of `new_entries`) is solved again exactly and kept
    only if it fails there too."""
    stats = stats if stats is not None else AuditStats()
    stats.rounds += 1
    if funcs.matrix.shape[0] == 0:
        return []
    rows = _without_repeats(rows)
    n_vars, n_rows = rows.matrix.shape[1], rows.matrix.shape[0]
    stats.variables, stats.rows, stats.functionals = n_vars, n_rows, funcs.matrix.shape[0]
    component = _components(rows, n_vars)
    in_rows = np.zeros(n_vars, dtype=bool)
    in_rows[rows.matrix.tocoo().col] = True
    new_rows = np.isin(rows.entry, list(new_entries))
    hot = np.unique(component[np.unique(rows.matrix[np.flatnonzero(new_rows)].tocoo().col)]) if new_rows.any() \
        else np.zeros(0, np.int64)

    f = funcs.matrix.tocsr()
    coo_f = f.tocoo()
    # A variable no published figure constrains makes an interval unbounded: proved at once.
    free = np.zeros(f.shape[0], dtype=bool)
    np.logical_or.at(free, coo_f.row, (~in_rows[coo_f.col]) & (coo_f.data != 0))
    touches_hot = np.zeros(f.shape[0], dtype=bool)
    np.logical_or.at(touches_hot, coo_f.row, np.isin(component[coo_f.col], hot))
    todo = ~free & (np.isin(funcs.entry, list(new_entries)) | touches_hot)
    if proved is not None:
        proved |= free
        todo &= ~proved
    # The same group of persons asked of twice (a cell hidden in this table as in an earlier one) is one
    # quantity: solved once, for the widest width either asks.
    members, need = _repeated(f, np.flatnonzero(todo), funcs.need)
    zero_ok = funcs.zero_ok
    audited = np.array(sorted(members), dtype=np.int64)
    stats.audited = len(audited)
    if not len(audited):
        return []
    mine = proved.copy() if proved is not None else None
    columns = rows.matrix.tocsc()
    if local and n_vars > EXACT_VARIABLES:
        classes = sigma_class if sigma_class is not None else np.full(n_vars, -1)
        groups = _neighbourhoods(funcs, n_vars, classes)
        failures = _solve(rows, columns, f, audited, need, truth, lower, groups, True, stats, mine, zero_ok)
        can_remove = (new_rows if removable is None else removable[rows.origin])
        again = [x for x in failures if not can_remove[x.binding].any()]
        kept = [x for x in failures if can_remove[x.binding].any()]
        if again:
            ids = np.array([x.functional for x in again])
            sizes = np.bincount(component)
            small = sizes[component[f[ids].tocoo().col]]
            widest = np.zeros(len(ids), dtype=np.int64)
            np.maximum.at(widest, f[ids].tocoo().row, small)
            exact = ids[widest <= EXACT_COMPONENT]
            if len(exact):
                kept += _solve(rows, columns, f, exact, need, truth, lower, component, False, stats, mine, zero_ok)
            wide = ids[widest > EXACT_COMPONENT]
            if len(wide):
                # Too large to solve whole: a wider neighbourhood. What still fails there with no figure of
                # the new table binding it is an earlier release's figure this table leaves as it was
                # (else the failure stands: a figure of the new table that earlier releases narrow).
                groups = _neighbourhoods(funcs, n_vars, classes, WIDE_PART)
                unsure = []
                for x in _solve(rows, columns, f, wide, need, truth, lower, groups, True, stats, mine, zero_ok):
                    if can_remove[x.binding].any() or funcs.entry[x.functional] in new_entries:
                        kept.append(x)
                    else:
                        unsure.append(x.functional)
                if unsure:
                    ids = np.array(unsure)
                    widest = np.zeros(len(ids), dtype=np.int64)
                    np.maximum.at(widest, f[ids].tocoo().row, sizes[component[f[ids].tocoo().col]])
                    whole = ids[widest <= EXACT_FALLBACK]
                    if len(whole):
                        kept += _solve(rows, columns, f, whole, need, truth, lower, component, False, stats, mine,
                                       zero_ok)
    else:
        kept = _solve(rows, columns, f, audited, need, truth, lower, component, False, stats, mine, zero_ok)
    out = []
    failed = {x.functional: x for x in kept}
    for representative, group in members.items():
        failure = failed.get(representative)
        for i in group:
            if failure is None or failure.hi - failure.lo >= funcs.need[i] - TOLERANCE \
                    or (zero_ok[i] and failure.lo <= 0.5):
                if proved is not None:
                    proved[i] = True
            else:
                origin = rows.origin if rows.origin is not None else np.arange(len(rows.lower))
                out.append(Failure(i, failure.lo, failure.hi, origin[failure.binding], failure.exact))
    return out


def _fingerprints(matrix: sparse.csr_matrix) -> np.ndarray:
    """Two random projections and the number of entries of each row: equal rows, equal fingerprints."""
    rng = np.random.default_rng(7)
    weights = rng.random((matrix.shape[1], 2))
    return np.column_stack([matrix @ weights, np.diff(matrix.indptr)])


def _without_repeats(rows: Rows) -> Rows:
    """The rows without exact repeats (an earlier release's figure shown again adds nothing); `origin`
    maps each kept row to its index in the rows given (the first of its repeats: earlier releases first)."""
    unbounded = 1e15  # beyond any count or sum of a table, and safe to round
    key = np.column_stack([_fingerprints(rows.matrix.tocsr()),
                           np.nan_to_num(rows.lower, nan=0, posinf=unbounded, neginf=-unbounded),
                           np.nan_to_num(rows.upper, nan=0, posinf=unbounded, neginf=-unbounded)])
    _, first = np.unique(np.round(key, 9), axis=0, return_index=True)
    keep = np.sort(first)
    out = Rows(rows.matrix[keep], rows.lower[keep], rows.upper[keep], rows.entry[keep], rows.cell[keep],
               rows.measure[keep])
    out.origin = keep
    return out


def _repeated(f: sparse.csr_matrix, todo: np.ndarray, need: np.ndarray) -> tuple[dict[int, list[int]], np.ndarray]:
    """Quantities to solve: one per distinct row of `f` among `todo` (its members), needing the most any
    member needs."""
    if not len(todo):
        return {}, need
    prints = np.round(_fingerprints(f[todo]), 9)
    _, first, inverse = np.unique(prints, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    members: dict[int, list[int]] = {}
    widest = need.copy()
    for k, i in enumerate(todo):
        representative = int(todo[first[inverse[k]]])
        members.setdefault(representative, []).append(int(i))
        widest[representative] = max(widest[representative], need[i])
    return members, widest


def _solve(rows: Rows, columns: sparse.csc_matrix, f: sparse.csr_matrix, audited: np.ndarray, need: np.ndarray,
           truth: np.ndarray, lower: np.ndarray, groups: np.ndarray, local: bool, stats: AuditStats,
           proved: np.ndarray | None, zero_ok: np.ndarray) -> list[Failure]:
    """Audit the given quantities part by part (`groups` labels each variable's part), the parts on
    threads (HiGHS releases the GIL while it solves). Locally a quantity over several parts is as wide as
    its widest part; exactly, the parts' widths add up. A quantity marked `zero_ok` is also safe when it can
    be 0 (nobody in the group is known to meet, or miss, a condition)."""
    sub = f[audited].tocoo()
    piece_group = groups[sub.col]
    # how many parts each quantity spans (one (quantity, part) pair per distinct part)
    pairs = np.unique(np.stack([sub.row, piece_group]), axis=1)[0]
    pieces_of = np.bincount(pairs, minlength=len(audited))
    parts: list[_Piece] = []
    for group in np.unique(piece_group):
        keep = piece_group == group
        variables = np.flatnonzero(groups == group)
        slots, local_row = np.unique(sub.row[keep], return_inverse=True)
        owners = audited[slots]
        matrix = sparse.csr_matrix((sub.data[keep], (local_row, np.searchsorted(variables, sub.col[keep]))),
                                   shape=(len(owners), len(variables)))
        single = pieces_of[slots] == 1
        parts.append(_Piece(int(group), variables, matrix, owners, need[owners],
                            zero_ok[owners] & single, single, matrix @ truth[variables]))
    by_functional: dict[int, list[tuple[_Piece, int]]] = {}
    for part in parts:
        for r, i in enumerate(part.owners):
            by_functional.setdefault(int(i), []).append((part, r))

    def wide_enough(i: int) -> bool:
        pieces = by_functional[i]
        spans = [part.hi[r] - part.lo[r] for part, r in pieces]
        lo_total = sum(part.lo[r] for part, r in pieces)
        zero = bool(zero_ok[i]) and len(pieces) == 1 and lo_total <= 0.5
        return zero or (max(spans) if local else sum(spans)) >= need[i] - TOLERANCE

    workers = max(1, min(THREADS, len(parts)))

    def each(work) -> None:
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(work, parts))
        else:
            for part in parts:
                work(part)

    # random objectives first; then a max and a min only for what no part proved (in the exact audit a
    # quantity over several parts needs every part's own interval)
    each(lambda part: part.explore(rows, columns, lower, truth))
    still = {i for i in by_functional if not wide_enough(i)}
    each(lambda part: part.settle(np.array([int(i) in still for i in part.owners], dtype=bool)))
    failures = []
    for i, pieces in by_functional.items():
        lo_total = float(sum(part.lo[r] for part, r in pieces))
        hi_total = float(sum(part.hi[r] for part, r in pieces))
        if not wide_enough(i):
            binding = [part.binding[r] for part, r in pieces if r in part.binding]
            failures.append(Failure(i, lo_total, hi_total, np.unique(np.concatenate(binding)) if binding
                                    else np.zeros(0, np.int64), exact=not local))
    if proved is not None:
        failing = {x.functional for x in failures}
        for i in audited:
            if int(i) not in failing:
                proved[i] = True
    stats.components += sum(1 for part in parts if part.solves)
    stats.solves += sum(part.solves for part in parts)
    return failures


class _Piece:
    """The quantities of one part: their rows over its variables, the least and greatest values seen."""

    def __init__(self, group: int, variables: np.ndarray, matrix: sparse.csr_matrix, owners: np.ndarray,
                 need: np.ndarray, zero_ok: np.ndarray, single: np.ndarray, value: np.ndarray):
        self.group, self.variables, self.matrix, self.owners = group, variables, matrix, owners
        self.need, self.zero_ok, self.single = need, zero_ok, single
        self.lo, self.hi = value.copy(), value.copy()
        self.binding: dict[int, np.ndarray] = {}
        self.solves = 0
        self.solver: _Part | None = None

    def settled(self) -> np.ndarray:
        """Quantities this part alone proves: any as wide as needed here (over several parts the width is the
        widest part's locally and the sum exactly, so at least this part's), or one lying in this part
        alone that may be 0 under the zero rule."""
        return (self.hi - self.lo >= self.need - TOLERANCE) | (self.zero_ok & (self.lo <= 0.5))

    def _settled(self, r: int) -> bool:
        """settled() of one quantity."""
        return bool(self.hi[r] - self.lo[r] >= self.need[r] - TOLERANCE or (self.zero_ok[r] and self.lo[r] <= 0.5))

    def visit(self, point: np.ndarray) -> None:
        value = self.matrix @ point
        np.minimum(self.lo, value, out=self.lo)
        np.maximum(self.hi, value, out=self.hi)

    def explore(self, rows: Rows, columns: sparse.csc_matrix, lower: np.ndarray, truth: np.ndarray) -> None:
        """Random objectives while they prove many at once."""
        if self.settled().all():
            return
        self.solver = _Part(self.variables, rows, columns, lower, truth)
        rng = np.random.default_rng(self.group)
        waiting = ~self.settled()
        for _ in range(RANDOM_ROUNDS):
            if waiting.sum() < RANDOM_AT_LEAST:
                break
            weights = np.zeros(len(self.owners))
            weights[waiting] = rng.choice((-1.0, 1.0), int(waiting.sum())) / np.maximum(self.need[waiting], 1.0)
            cost = self.matrix.T @ weights
            columns = np.flatnonzero(cost)
            _, point, _ = self.solver.solve(columns, cost[columns], maximise=False)
            if point is not None:
                self.visit(point)
            still = ~self.settled()
            shrank = still.sum() <= 0.9 * waiting.sum()
            waiting = still
            if not shrank:
                break
        self.solves = self.solver.solves

    def settle(self, open_: np.ndarray) -> None:
        """A max and a min for each open quantity this part does not prove yet; their binding rows kept."""
        solver = self.solver
        if solver is None:
            return  # nothing to solve: the part has no quantity
        matrix = self.matrix
        for r in np.flatnonzero(open_ & ~self.settled()):
            columns = matrix.indices[matrix.indptr[r]:matrix.indptr[r + 1]]
            cost = matrix.data[matrix.indptr[r]:matrix.indptr[r + 1]]
            binding = []
            for maximise in ((False, True) if self.zero_ok[r] else (True, False)):
                if self._settled(int(r)):
                    break  # one side alone proved it
                value, point, duals = solver.solve(columns, cost, maximise, duals=True)
                if point is not None:
                    self.visit(point)
                if duals is not None:
                    binding.append(solver.rows[np.abs(duals) > 1e-9])
                if maximise:
                    self.hi[r] = max(self.hi[r], value)
                else:
                    self.lo[r] = min(self.lo[r], value)
            if binding:
                self.binding[int(r)] = np.unique(np.concatenate(binding))
        if solver is not None:
            self.solves = solver.solves
