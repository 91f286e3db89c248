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
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from policies.conditions import missing, parse_condition
from policies.policy import Policy
from policies.published import clamp_bound, is_number
from policies.table import Table, dimension_labels, slice_cells


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
    origin: np.ndarray | None = None  # for rows taken from others: their indices there

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

    @property
    def zero_ok(self) -> np.ndarray:
        """A side of a hidden share of a small group is also safe when it can be 0: no attacker can then
        say that anyone in the group meets (or misses) the condition."""
        return np.array([k.startswith(("share ", "complement ")) for k in self.kind], dtype=bool)


@dataclass
class Cover:
    """The classes of the cover table and each entry's cells as sums of classes."""

    entries: list[Entry]
    sizes: np.ndarray  # persons per class (the true cover table; 0 for a class no person has)
    cells: list[sparse.csr_matrix]  # per entry: cells x classes, 0/1
    conditions: dict[str, np.ndarray] = field(default_factory=dict)  # "entry:measure" -> per class: meets it
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
        """The true point of the LP: class counts, then magnitude sums."""
        x = np.zeros(self.n_vars)
        x[: self.n_classes] = self.sizes
        for key, classes in self.sigma.items():
            x[self.sigma_offset[key]: self.sigma_offset[key] + len(classes)] = self.sigma_true[key]
        return x

    def sum_classes(self) -> np.ndarray:
        """Per LP variable: the class a magnitude sum belongs to, -1 for the class counts themselves."""
        out = np.full(self.n_vars, -1, dtype=np.int64)
        for key, classes in self.sigma.items():
            out[self.sigma_offset[key]: self.sigma_offset[key] + len(classes)] = classes
        return out

    def hit_rows(self, e: int, name: str, cells: np.ndarray | None = None) -> sparse.csr_matrix:
        """Persons meeting share `name`'s condition in the given cells of entry e (all cells when None)."""
        matrix = self.cells[e] if cells is None else self.cells[e][cells]
        meets = self.conditions[f"{e}:{name}"].astype(float)
        return self.class_rows(matrix @ sparse.diags(meets))

    def hit_weights(self, e: int, name: str) -> np.ndarray:
        """True persons per class meeting share `name`'s condition (for exact differences)."""
        return self.sizes * self.conditions[f"{e}:{name}"]

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
        matrix.eliminate_zeros()
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


@dataclass
class _Dense:
    """A column a share's condition reads, made dense: the classes of its values that no table and no
    condition tells apart, one value standing for each, and each person's class."""

    frame: str
    column: str
    values: list[object]  # a representative value per value class (None: missing)
    meets: dict[str, np.ndarray]  # condition text -> per value class
    of_value: dict[object, int]  # value -> value class


def _dense_columns(entries: list[Entry]) -> list[_Dense]:
    """The (frame, column) pairs share conditions read, with the value classes of each."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for entry in entries:
        for measure in entry.table.measures.values():
            if measure.kind == "share":
                condition = parse_condition(str(measure.condition))
                wanted.setdefault((entry.frame, condition.column), set()).add(str(measure.condition))
    out = []
    for (frame, column), texts in sorted(wanted.items()):
        mine = [e for e in entries if e.frame == frame]
        # entries of one frame may hold different columns of it (columns at a moment are added as asked)
        persons = next(e.table.persons for e in mine if e.table.persons is not None and column in e.table.persons)
        raw = persons[column]
        # Only values that occur (and missing only when it occurs): an attacker who assumes no other values
        # exist is right about this frame, so a variant with another value would be freer than he knows.
        gone = missing(raw)
        values: list[object] = list(pd.unique(raw[~gone]))
        if gone.any():
            values.append(None)
        dims = [e.policy.dimensions[d] for e in mine for d in e.policy.dimensions if
                e.policy.dimensions[d].column == column]
        probe = pd.DataFrame({column: pd.Series(values, dtype=object)})
        conditions = {text: parse_condition(text) for text in sorted(texts)}
        columns = [dimension_labels(probe, dim).to_numpy(dtype=object) for dim in dims]
        columns += [conditions[t].evaluate(probe) for t in conditions]
        signatures = [tuple(str(c[i]) for c in columns) for i in range(len(values))]
        first: dict[tuple[str, ...], int] = {}
        of_value: dict[object, int] = {}
        for value, signature in zip(values, signatures, strict=True):
            of_value[value] = first.setdefault(signature, len(first))
        representatives: list[object] = [None] * len(first)
        for value, signature in zip(values, signatures, strict=True):
            if representatives[first[signature]] is None:
                representatives[first[signature]] = value
        meets = {t: np.array([bool(conditions[t].evaluate(pd.DataFrame({column: pd.Series([r], dtype=object)}))[0])
                              for r in representatives]) for t in conditions}
        out.append(_Dense(frame, column, representatives, meets, of_value))
    return out


def _values_like(persons: pd.DataFrame, value_class: np.ndarray, n_values: int) -> np.ndarray:
    """Per person, the value classes observed among persons with the same sources (`in_*` flags): a vo
    pupil's variants take the levels vo pupils have, and missing only if some vo pupil has it missing."""
    flags = [c for c in persons.columns if c.startswith("in_")]
    pattern = (pd.DataFrame({c: persons[c].eq(True).to_numpy() for c in flags})
               .groupby(flags, sort=False).ngroup().to_numpy() if flags else np.zeros(len(persons), np.int64))
    seen = np.zeros((pattern.max() + 1 if len(pattern) else 0, n_values), dtype=bool)
    ok = value_class >= 0
    seen[pattern[ok], value_class[ok]] = True
    return seen[pattern]


def _value_class(dense: _Dense, series: pd.Series) -> np.ndarray:
    gone = missing(series).to_numpy()
    mapped = series.map(lambda v: dense.of_value.get(v, dense.of_value.get(str(v), -1)))
    out = mapped.to_numpy(dtype=np.int64, na_value=-1)
    out[gone] = dense.of_value.get(None, -1)
    return out


def build_cover(entries: list[Entry]) -> Cover:
    """Class the persons of every entry's frame (matched by person id) and express every cell in classes.

    The cover is sparse in every attribute but the columns that share conditions read: for those, every
    observed combination of the other attributes is paired with every class of their values (the persons
    such a variant would be are counted 0), so that a hidden share is as free as an attacker knows it to be.
    Memberships of a variant are recomputed by the table's own rules (policies.table.slice_cells)."""
    ids = pd.Index(pd.unique(np.concatenate([e.table.person_ids for e in entries]))) if entries else pd.Index([])
    n = len(ids)
    dense = _dense_columns(entries)
    actual = []  # per dense column: each person's value class (-1: not in that frame)
    allowed = []  # per dense column: which value classes a variant of each person may take
    for d in dense:
        col = np.full(n, -1, dtype=np.int64)
        may = np.zeros((n, len(d.values)), dtype=bool)
        for holder in entries:
            persons = holder.table.persons
            if holder.frame == d.frame and persons is not None and d.column in persons:
                rows_of = ids.get_indexer(pd.Index(holder.table.person_ids))
                col[rows_of] = _value_class(d, persons[d.column])
                may[rows_of] = _values_like(persons, col[rows_of], len(d.values))
        actual.append(col)
        allowed.append(may)
    combos = list(product(*[range(len(d.values)) for d in dense]))
    where = [ids.get_indexer(pd.Index(entry.table.person_ids)) for entry in entries]

    def reads(e: int) -> list[int]:
        entry = entries[e]
        columns = {entry.policy.dimensions[name].column for name in entry.table.dimensions}
        columns |= {entry.policy.dimensions[name].column for _, f in entry.table.request.slices() for name in f}
        return [k for k, d in enumerate(dense) if d.frame == entry.frame and d.column in columns]

    read_by = [reads(e) for e in range(len(entries))]
    variant_cache: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}

    def codes_of(e: int, combo: tuple[int, ...]) -> np.ndarray:
        keys = tuple(combo[k] for k in read_by[e])
        if not keys:
            return entries[e].table.slice_cells
        if (e, keys) not in variant_cache:
            entry = entries[e]
            assert entry.table.persons is not None
            variant: dict[str, Any] = {dense[k].column: dense[k].values[v]
                                       for k, v in zip(read_by[e], keys, strict=True)}
            persons = entry.table.persons.assign(**variant)
            variant_cache[(e, keys)] = slice_cells(persons, entry.table, entry.policy)
        return variant_cache[(e, keys)]

    magnitude_keys: list[tuple[str, str]] = []
    magnitude_values: dict[tuple[str, str], np.ndarray] = {}
    for e, entry in enumerate(entries):
        for name, measure in entry.table.measures.items():
            key = (entry.frame, str(measure.column))
            if measure.magnitude and key not in magnitude_values:
                full = np.full(n, np.nan)
                full[where[e]] = entry.table.values[name]
                magnitude_keys.append(key)
                magnitude_values[key] = full

    blocks, real, origin = [], [], []
    slice_cols: list[list[int]] = []
    for combo in combos:
        columns: list[np.ndarray] = []
        mine_all = []
        for e in range(len(entries)):
            codes = codes_of(e, combo)
            mine = []
            for g in range(codes.shape[0]):
                column = np.full(n, -1, dtype=np.int64)
                column[where[e]] = codes[g]
                mine.append(len(columns))
                columns.append(column)
            mine_all.append(mine)
        for key in magnitude_keys:
            columns.append(np.where(np.isnan(magnitude_values[key]), 0, 1).astype(np.int64))
        is_real = np.ones(n, dtype=bool)
        possible = np.ones(n, dtype=bool)
        for k in range(len(dense)):
            inside = actual[k] >= 0
            columns.append(np.where(inside, combo[k], -1))
            is_real &= np.where(inside, actual[k] == combo[k], combo[k] == 0)
            possible &= np.where(inside, allowed[k][:, combo[k]], combo[k] == 0)
        slice_cols = mine_all
        block = np.stack(columns, axis=1) if columns else np.zeros((n, 0), np.int64)
        blocks.append(block[possible])
        real.append(is_real[possible])
        origin.append(np.flatnonzero(possible))
    if not blocks or blocks[0].shape[1] == 0:
        return Cover(entries, np.zeros(0), [])
    signature = np.concatenate(blocks)
    real_rows = np.concatenate(real)
    person_of = np.concatenate(origin)
    in_some = np.zeros(len(signature), dtype=bool)  # rows in no cell of any table play no part
    for mine in slice_cols:
        for c in mine:
            in_some |= signature[:, c] >= 0
    signature = np.ascontiguousarray(signature[in_some])
    real_rows, person_of = real_rows[in_some], person_of[in_some]
    rows_view = signature.view(np.dtype((np.void, signature.dtype.itemsize * signature.shape[1]))).ravel()
    _, first, inverse = np.unique(rows_view, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    classes = signature[first]
    n_classes = len(first)
    sizes = np.bincount(inverse[real_rows], minlength=n_classes).astype(float)
    cover = Cover(entries, sizes, [])
    for e, entry in enumerate(entries):
        cover.cells.append(_incidence([classes[:, c] for c in slice_cols[e]], entry.table, n_classes))
    n_slice_cols = sum(len(m) for m in slice_cols)
    dense_col = {k: n_slice_cols + len(magnitude_keys) + k for k in range(len(dense))}
    for e, entry in enumerate(entries):
        for name, measure in entry.table.measures.items():
            if measure.kind != "share":
                continue
            condition = parse_condition(str(measure.condition))
            k = next(i for i, d in enumerate(dense) if d.frame == entry.frame and d.column == condition.column)
            value = classes[:, dense_col[k]]
            truth = dense[k].meets[str(measure.condition)]
            cover.conditions[f"{e}:{name}"] = np.where(value >= 0, truth[np.maximum(value, 0)], False)
    known_col = {key: n_slice_cols + i for i, key in enumerate(magnitude_keys)}
    for e, entry in enumerate(entries):
        known = {}
        for name, measure in entry.table.measures.items():
            if measure.magnitude:
                flag = (classes[:, known_col[(entry.frame, str(measure.column))]] == 1).astype(float)
                known[name] = (cover.cells[e] @ sparse.diags(flag)).tocsr()
        cover.known.append(known)
    offset = n_classes
    for key in magnitude_keys:
        members = np.flatnonzero(classes[:, known_col[key]] == 1)
        row_values = magnitude_values[key][person_of]
        has = ~np.isnan(row_values)
        cover.sigma[key] = members
        cover.sigma_offset[key] = offset
        cover.sigma_true[key] = np.bincount(inverse[has & real_rows], weights=row_values[has & real_rows],
                                            minlength=n_classes)[members]
        # The tightest range anyone could know of a class's values is the range they take: conservative.
        frame = pd.DataFrame({"c": inverse[has], "v": row_values[has]}).groupby("c")["v"]
        lo = frame.min().reindex(members).to_numpy()
        hi = frame.max().reindex(members).to_numpy()
        everything = row_values[has]
        lo = np.where(np.isnan(lo), everything.min() if len(everything) else 0.0, lo)
        hi = np.where(np.isnan(hi), everything.max() if len(everything) else 0.0, hi)
        cover.sigma_range[key] = (lo, hi)
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
    """min * y <= s <= max * y for every class with known values of a magnitude (its values' range)."""
    parts = []
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
                # The small side of a hidden share is what must stay unknown: those meeting the condition
                # when fewer than the threshold do, those missing it when fewer than the threshold do.
                few = rules.min_cell_count
                sensitive = np.flatnonzero(entry.share_primary[name].ravel())
                hit = cover.hit_rows(e, name, sensitive)
                miss = (cover.class_rows(cells[sensitive]) - hit).tocsr()
                miss.eliminate_zeros()
                meets, misses = hit @ truth, miss @ truth
                add(hit, np.where(meets < few, level, 0.0), e, sensitive, f"share {name}")
                add(miss, np.where(misses < few, level, 0.0), e, sensitive, f"complement {name}")
            elif measure.kind == "mean" and rules.p_ratio > 0:
                known = cover.known[e][name][primary]
                sums = cover.sigma_rows(e, name, known)
                add(sums, rules.p_ratio / 100 * np.abs(sums @ truth), e, primary, f"sum {name}")
    if not mats:
        return Functionals(sparse.csr_matrix((0, cover.n_vars)), np.zeros(0), np.zeros(0, np.int64),
                           np.zeros(0, np.int64), [])
    return Functionals(sparse.vstack(mats, format="csr"), np.concatenate(need),
                       np.concatenate(entry_of).astype(np.int64), np.concatenate(cell_of).astype(np.int64), kinds)
