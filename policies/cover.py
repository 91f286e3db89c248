"""The cover table of linked releases: persons classed by where they fall in every released table, and
what every table published as linear constraints on the class counts.

A *class* is a set of persons that no released table tells apart: the same cell in every slice of every
table, the same answer to every share condition, a known or missing value of every magnitude. Every
released cell is a sum of classes, so every table of the history is a marginal of one cover table whose
cells are the classes. Only classes that occur in the data are kept (the cover is sparse): an attacker's
cover also holds the empty combinations, so every interval computed here lies inside the attacker's and
a width proved here holds for the attacker too.

Variables of the linear program: the count `y` of every class, then, for every magnitude column of every
persons frame, the sum `s` of the values of every class with known values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

import numpy as np
import pandas as pd
from scipy import sparse

from policies.conditions import Condition, parse_condition
from policies.policy import Policy
from policies.published import clamp_bound, is_number
from policies.table import Table, decide


@dataclass
class Entry:
    """One table of the history (an earlier release) or the table about to be released."""

    key: str  # the release id; "" for the table about to be released
    table: Table
    policy: Policy
    published: dict[str, np.ndarray]  # measure -> shown value per cell (table shape, object array)
    suppressed: np.ndarray  # the cells suppressed (every measure)
    primary: np.ndarray  # the cells suppressed by a primary rule
    share_primary: dict[str, np.ndarray]  # per share measure: cells where it would tell about a small group
    frame: str = ""  # the persons frame (link job) the table was computed on


@dataclass
class Rows:
    """Linear rows over the LP's variables with bounds, and which entry and cell each row comes from."""

    matrix: sparse.csr_matrix
    lower: np.ndarray
    upper: np.ndarray
    entry: np.ndarray  # index into the entries (-1: a bound of the model, not a published figure)
    cell: np.ndarray  # flat cell index in that entry's table
    measure: np.ndarray  # the share measure the row comes from; "" for the cell's count, mean or median

    @staticmethod
    def empty(n_vars: int) -> Rows:
        return Rows(sparse.csr_matrix((0, n_vars)), np.zeros(0), np.zeros(0), np.zeros(0, np.int64),
                    np.zeros(0, np.int64), np.zeros(0, dtype=object))

    @staticmethod
    def stack(parts: list[Rows], n_vars: int) -> Rows:
        parts = [p for p in parts if p.matrix.shape[0]]
        if not parts:
            return Rows.empty(n_vars)
        return Rows(sparse.vstack([p.matrix for p in parts], format="csr"),
                    np.concatenate([p.lower for p in parts]), np.concatenate([p.upper for p in parts]),
                    np.concatenate([p.entry for p in parts]), np.concatenate([p.cell for p in parts]),
                    np.concatenate([p.measure for p in parts]))


@dataclass
class Functionals:
    """Sensitive quantities: a row over the variables each, its true value and the width it must keep."""

    matrix: sparse.csr_matrix
    need: np.ndarray
    entry: np.ndarray
    cell: np.ndarray
    kind: list[str]  # "count", "share <measure>", "complement <measure>", "sum <measure>"


@dataclass
class Cover:
    """The classes of the cover table and each entry's cells as sums of classes."""

    entries: list[Entry]
    sizes: np.ndarray  # persons per class (the true cover table)
    cells: list[sparse.csr_matrix]  # per entry: cells x classes, 0/1
    conditions: dict[str, str] = field(default_factory=dict)  # entry:measure -> condition key
    decided: dict[str, np.ndarray] = field(default_factory=dict)  # key -> per class 1 meets, 0 misses, -1 open
    hits_true: dict[str, np.ndarray] = field(default_factory=dict)  # key -> persons per class meeting it
    hit_offset: dict[str, int] = field(default_factory=dict)  # key -> first LP variable of its open classes
    hit_open: dict[str, np.ndarray] = field(default_factory=dict)  # key -> open classes
    known: list[dict[str, sparse.csr_matrix]] = field(default_factory=list)  # entry -> magnitude -> cells x classes
    sigma: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (frame, column) -> classes
    sigma_offset: dict[tuple[str, str], int] = field(default_factory=dict)
    sigma_true: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # true sums per class
    sigma_range: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    n_vars: int = 0

    @property
    def n_classes(self) -> int:
        return len(self.sizes)

    def truth(self) -> np.ndarray:
        """The true point of the LP: class counts, open hit counts, magnitude sums."""
        x = np.zeros(self.n_vars)
        x[: self.n_classes] = self.sizes
        for key, open_ in self.hit_open.items():
            x[self.hit_offset[key]: self.hit_offset[key] + len(open_)] = self.hits_true[key][open_]
        for key, classes in self.sigma.items():
            x[self.sigma_offset[key]: self.sigma_offset[key] + len(classes)] = self.sigma_true[key]
        return x

    def hit_rows(self, e: int, name: str, cells: np.ndarray | None = None) -> sparse.csr_matrix:
        """Persons meeting share `name`'s condition in the given cells of entry e (all cells when None)."""
        key = self.conditions[f"{e}:{name}"]
        matrix = self.cells[e] if cells is None else self.cells[e][cells]
        decided = self.decided[key]
        met = (matrix @ sparse.diags((decided == 1).astype(float))).tocoo()
        open_ = self.hit_open[key]
        block = matrix[:, open_].tocoo()
        return sparse.csr_matrix((np.concatenate([met.data, block.data]),
                                  (np.concatenate([met.row, block.row]),
                                   np.concatenate([met.col, block.col + self.hit_offset[key]]))),
                                 shape=(matrix.shape[0], self.n_vars))

    def hit_weights(self, e: int, name: str) -> np.ndarray:
        """True persons per class meeting share `name`'s condition (for exact differences)."""
        return self.hits_true[self.conditions[f"{e}:{name}"]]

    def magnitude_key(self, e: int, name: str) -> tuple[str, str]:
        entry = self.entries[e]
        return entry.frame, str(entry.table.measures[name].column)

    def sigma_rows(self, e: int, name: str, known: sparse.csr_matrix) -> sparse.csr_matrix:
        """The sums of measure `name` over the given rows of `known` (cells x classes), as LP rows."""
        key = self.magnitude_key(e, name)
        classes, offset = self.sigma[key], self.sigma_offset[key]
        block = known[:, classes].tocoo()
        return sparse.csr_matrix((block.data, (block.row, block.col + offset)),
                                 shape=(known.shape[0], self.n_vars))

    def class_rows(self, matrix: sparse.spmatrix) -> sparse.csr_matrix:
        """Rows over classes widened to rows over every LP variable."""
        matrix = sparse.csr_matrix(matrix)
        return sparse.csr_matrix((matrix.data, matrix.indices, matrix.indptr), shape=(matrix.shape[0], self.n_vars))


def _incidence(codes: list[np.ndarray], table: Table, n_classes: int) -> sparse.csr_matrix:
    """Cells (flat, margins included) x classes, from each slice's interior cell code per class."""
    interior = table.interior_shape
    k = len(interior)
    rows, cols = [], []
    for g, code in enumerate(codes):
        members = np.flatnonzero(code >= 0)
        coords = np.unravel_index(code[members], interior) if k else ()
        for total in product((False, True), repeat=k):
            index = [np.full(len(members), g)]
            index += [np.full(len(members), interior[a]) if total[a] else coords[a] for a in range(k)]
            rows.append(np.ravel_multi_index(tuple(index), table.shape))
            cols.append(members)
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    col = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    return sparse.csr_matrix((np.ones(len(row)), (row, col)), shape=(table.n_cells, n_classes))


def _decisions(entries: list[Entry], frame: str, condition: Condition, classes: np.ndarray,
               slice_cols: list[list[int]]) -> np.ndarray:
    """Per class: whether the tables of the same frame decide the condition (1, 0) or not (-1)."""
    decided = np.full(len(classes), -1, dtype=np.int64)
    for e, entry in enumerate(entries):
        if entry.frame != frame:
            continue
        table, policy = entry.table, entry.policy
        interior = table.interior_shape
        for d, name in enumerate(table.dimensions):
            dimension = policy.dimensions[name]
            if dimension.column != condition.column:
                continue
            verdict = decide(condition, table.categories[d], dimension)
            for c in slice_cols[e]:
                code = classes[:, c]
                inside = code >= 0
                category = np.unravel_index(code[inside], interior)[d]
                found = verdict[category]
                rows = np.flatnonzero(inside)[found >= 0]
                decided[rows] = found[found >= 0]
        for g, (_, filters) in enumerate(table.request.slices()):
            for name, values in filters.items():
                dimension = policy.dimensions[name]
                if dimension.column != condition.column:
                    continue
                verdict = decide(condition, sorted(values), dimension)
                if len(verdict) and (verdict == verdict[0]).all() and verdict[0] >= 0:
                    decided[classes[:, slice_cols[e][g]] >= 0] = verdict[0]
    return decided


def build_cover(entries: list[Entry]) -> Cover:
    """Class the persons of every entry's frame (matched by person id) and express every cell in classes."""
    ids = pd.Index(pd.unique(np.concatenate([e.table.person_ids for e in entries]))) if entries else pd.Index([])
    n = len(ids)
    columns: list[np.ndarray] = []
    slice_cols: list[list[int]] = []
    known_cols: dict[tuple[str, str], int] = {}
    values: dict[tuple[str, str], np.ndarray] = {}
    hit_persons: dict[str, np.ndarray] = {}
    condition_of: dict[str, str] = {}
    parsed: dict[str, tuple[str, Condition]] = {}
    for e, entry in enumerate(entries):
        table = entry.table
        where = ids.get_indexer(table.person_ids)
        mine = []
        for g in range(table.slice_cells.shape[0]):
            column = np.full(n, -1, dtype=np.int64)
            column[where] = table.slice_cells[g]
            mine.append(len(columns))
            columns.append(column)
        slice_cols.append(mine)
        for name, hit in table.hits.items():
            text = str(table.measures[name].condition)
            key = f"{entry.frame}\x1f{text}"
            condition_of[f"{e}:{name}"] = key
            if key not in hit_persons:
                full = np.zeros(n)
                full[where] = hit
                hit_persons[key] = full
                parsed[key] = (entry.frame, parse_condition(text))
        for name, measure in table.measures.items():
            if not measure.magnitude:
                continue
            mkey = (entry.frame, str(measure.column))
            if mkey in known_cols:
                continue
            column = np.full(n, -1, dtype=np.int64)
            has = ~np.isnan(table.values[name])
            column[where] = has.astype(np.int64)
            known_cols[mkey] = len(columns)
            columns.append(column)
            full = np.full(n, np.nan)
            full[where[has]] = table.values[name][has]
            values[mkey] = full
    if not columns:
        return Cover(entries, np.zeros(0), [])
    signature = np.stack(columns, axis=1)
    in_some = np.zeros(n, dtype=bool)  # persons in no cell of any table play no part
    for mine in slice_cols:
        for c in mine:
            in_some |= signature[:, c] >= 0
    signature = np.ascontiguousarray(signature[in_some])
    rows_view = signature.view(np.dtype((np.void, signature.dtype.itemsize * signature.shape[1]))).ravel()
    _, first, inverse, sizes = np.unique(rows_view, return_index=True, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    classes = signature[first]
    n_classes = len(sizes)
    cover = Cover(entries, sizes.astype(float), [], condition_of)
    for e, entry in enumerate(entries):
        cover.cells.append(_incidence([classes[:, c] for c in slice_cols[e]], entry.table, n_classes))
    offset = n_classes
    for key, persons in hit_persons.items():
        frame, condition = parsed[key]
        cover.decided[key] = _decisions(entries, frame, condition, classes, slice_cols)
        cover.hits_true[key] = np.bincount(inverse, weights=persons[in_some], minlength=n_classes)
        cover.hit_open[key] = np.flatnonzero(cover.decided[key] < 0)
        cover.hit_offset[key] = offset
        offset += len(cover.hit_open[key])
    for e, entry in enumerate(entries):
        known = {}
        for name, measure in entry.table.measures.items():
            if measure.magnitude:
                flag = (classes[:, known_cols[(entry.frame, str(measure.column))]] == 1).astype(float)
                known[name] = (cover.cells[e] @ sparse.diags(flag)).tocsr()
        cover.known.append(known)
    for mkey, c in known_cols.items():
        members = np.flatnonzero(classes[:, c] == 1)
        person_values = values[mkey][in_some]
        has = signature[:, c] == 1
        cover.sigma[mkey] = members
        cover.sigma_offset[mkey] = offset
        cover.sigma_true[mkey] = np.bincount(inverse[has], weights=person_values[has], minlength=n_classes)[members]
        # The tightest range anyone could know of a class's values is the range they take: conservative.
        frame = pd.DataFrame({"c": inverse[has], "v": person_values[has]}).groupby("c")["v"]
        cover.sigma_range[mkey] = (frame.min().reindex(members).to_numpy(), frame.max().reindex(members).to_numpy())
        offset += len(members)
    cover.n_vars = offset
    return cover


def _rows(cover: Cover, matrix: sparse.spmatrix, lower: np.ndarray, upper: np.ndarray, e: int,
          cells: np.ndarray, measure: str = "") -> Rows:
    measures = np.empty(len(cells), dtype=object)
    measures[:] = measure
    return Rows(sparse.csr_matrix(matrix), np.asarray(lower, float), np.asarray(upper, float),
                np.full(len(cells), e, dtype=np.int64), np.asarray(cells, dtype=np.int64), measures)


def constraints(cover: Cover, only: set[int] | None = None) -> Rows:
    """Every published value of every entry (or of the entries in `only`) as rows with bounds."""
    parts: list[Rows] = []
    inf = np.inf
    for e, entry in enumerate(cover.entries):
        if only is not None and e not in only:
            continue
        rules = entry.policy.disclosure
        cells = cover.cells[e]
        wide = cover.class_rows(cells)
        counted = False
        for name, measure in entry.table.measures.items():
            shown = entry.published[name].ravel()
            if measure.kind == "count":
                if counted:
                    continue
                counted = True
                sel = np.flatnonzero([is_number(v) for v in shown])
                value = np.array([float(shown[i]) for i in sel])
                half = (rules.rounding_base or 0) / 2.0
                parts.append(_rows(cover, wide[sel], np.maximum(value - half, 0), value + half, e, sel))
            elif measure.kind == "share":
                hit = cover.hit_rows(e, name)
                delta = 0.5 * 10.0 ** (-measure.decimals)
                number = np.flatnonzero([is_number(v) for v in shown])
                p = np.array([float(shown[i]) for i in number])
                for factor, lo, hi in (((p - delta) / 100, 0.0, inf), ((p + delta) / 100, -inf, 0.0)):
                    rows = hit[number] - sparse.diags(factor) @ wide[number]
                    parts.append(_rows(cover, rows, np.full(len(number), lo), np.full(len(number), hi), e, number,
                                       name))
                parts.append(_rows(cover, wide[number], np.ones(len(number)), np.full(len(number), inf), e, number,
                                   name))
                for op in "<>":
                    sel = np.flatnonzero([(b := clamp_bound(v)) is not None and b[0] == op for v in shown])
                    if not len(sel):
                        continue
                    bound = np.array([clamp_bound(shown[i])[1] / 100 for i in sel])  # type: ignore[index]
                    rows = hit[sel] - sparse.diags(bound) @ wide[sel]
                    lo, hi = (-inf, 0.0) if op == "<" else (0.0, inf)
                    parts.append(_rows(cover, rows, np.full(len(sel), lo), np.full(len(sel), hi), e, sel, name))
                empty = np.flatnonzero([v is None for v in shown])
                parts.append(_rows(cover, wide[empty], np.zeros(len(empty)), np.zeros(len(empty)), e, empty, name))
            else:
                known = cover.known[e][name]
                known_wide = cover.class_rows(known)
                number = np.flatnonzero([is_number(v) for v in shown])
                parts.append(_rows(cover, known_wide[number], np.ones(len(number)), np.full(len(number), inf),
                                   e, number))
                if measure.kind == "mean" and len(number):
                    delta = 0.5 * 10.0 ** (-measure.decimals)
                    m = np.array([float(shown[i]) for i in number])
                    sums = cover.sigma_rows(e, name, known[number])
                    for mean, lo, hi in ((m - delta, 0.0, inf), (m + delta, -inf, 0.0)):
                        rows = sums - sparse.diags(mean) @ known_wide[number]
                        parts.append(_rows(cover, rows, np.full(len(number), lo), np.full(len(number), hi),
                                           e, number))
                empty = np.flatnonzero([v is None for v in shown])
                parts.append(_rows(cover, known_wide[empty], np.zeros(len(empty)), np.zeros(len(empty)), e, empty))
    parts.append(_value_ranges(cover))
    return Rows.stack(parts, cover.n_vars)


def _value_ranges(cover: Cover) -> Rows:
    """min * y <= s <= max * y for every class with known values of a magnitude (its values' range), and
    h <= y for every class whose share condition no table decides."""
    parts = []
    for key, open_ in cover.hit_open.items():
        n = len(open_)
        offset = cover.hit_offset[key]
        rows = sparse.csr_matrix((np.concatenate([np.ones(n), -np.ones(n)]),
                                  (np.concatenate([np.arange(n), np.arange(n)]),
                                   np.concatenate([offset + np.arange(n), open_]))), shape=(n, cover.n_vars))
        parts.append(Rows(rows, np.full(n, -np.inf), np.zeros(n), np.full(n, -1, np.int64), np.full(n, -1, np.int64),
                          np.full(n, "", dtype=object)))
    for key, classes in cover.sigma.items():
        vmin, vmax = cover.sigma_range[key]
        offset = cover.sigma_offset[key]
        n = len(classes)
        sig = sparse.csr_matrix((np.ones(n), (np.arange(n), offset + np.arange(n))), shape=(n, cover.n_vars))
        for bound, lo, hi in ((vmin, 0.0, np.inf), (vmax, -np.inf, 0.0)):
            y = sparse.csr_matrix((-np.asarray(bound, float), (np.arange(n), classes)), shape=(n, cover.n_vars))
            parts.append(Rows((sig + y).tocsr(), np.full(n, lo), np.full(n, hi), np.full(n, -1, np.int64),
                              np.full(n, -1, np.int64), np.full(n, "", dtype=object)))
    return Rows.stack(parts, cover.n_vars)


def functionals(cover: Cover, entries: set[int]) -> Functionals:
    """The sensitive quantities of the given entries and the width each must keep under any attack.

    Counts: every suppressed cell, at least the policy's protection level. Shares: at every primary cell,
    the persons meeting the condition and those not meeting it, each at least the protection level.
    Magnitudes: at every primary cell, the sum at least p% (the policy's p-ratio) of its true value.
    """
    mats, need, entry_of, cell_of, kinds = [], [], [], [], []

    truth = cover.truth()

    def add(matrix: sparse.spmatrix, widths: np.ndarray, e: int, cells: np.ndarray, kind: str) -> None:
        # An empty group is a structural zero of the sparse cover; its zero is left to the table's zeros rule.
        # A quantity over no variable is fixed by the tables' own definitions (nobody in a vmbo cell meets
        # "vo level in [havo, vwo]"): anyone knows it, it tells nothing about a person.
        matrix = sparse.csr_matrix(matrix)
        keep = (widths > 0) & (np.diff(matrix.indptr) > 0) & (np.abs(matrix @ truth) > 0.5)
        if not keep.any():
            return
        mats.append(sparse.csr_matrix(matrix)[np.flatnonzero(keep)])
        need.append(widths[keep])
        entry_of.append(np.full(int(keep.sum()), e))
        cell_of.append(cells[keep])
        kinds.extend([kind] * int(keep.sum()))

    for e in sorted(entries):
        entry = cover.entries[e]
        rules = entry.policy.disclosure
        level = float(rules.protection_level)
        cells = cover.cells[e]
        suppressed = np.flatnonzero(entry.suppressed.ravel())
        primary = np.flatnonzero(entry.primary.ravel())
        add(cover.class_rows(cells[suppressed]), np.full(len(suppressed), level), e, suppressed, "count")
        for name, measure in entry.table.measures.items():
            if measure.kind == "share":
                sensitive = np.flatnonzero(entry.share_primary[name].ravel())
                hit = cover.hit_rows(e, name, sensitive)
                add(hit, np.full(len(sensitive), level), e, sensitive, f"share {name}")
                miss = (cover.class_rows(cells[sensitive]) - hit).tocsr()
                miss.eliminate_zeros()
                add(miss, np.full(len(sensitive), level), e, sensitive,
                    f"complement {name}")
            elif measure.kind == "mean" and rules.p_ratio > 0:
                known = cover.known[e][name][primary]
                sums = cover.sigma_rows(e, name, known)
                add(sums, rules.p_ratio / 100 * np.abs(sums @ truth), e, primary, f"sum {name}")
    if not mats:
        return Functionals(sparse.csr_matrix((0, cover.n_vars)), np.zeros(0), np.zeros(0, np.int64),
                           np.zeros(0, np.int64), [])
    return Functionals(sparse.vstack(mats, format="csr"), np.concatenate(need),
                       np.concatenate(entry_of).astype(np.int64), np.concatenate(cell_of).astype(np.int64), kinds)
