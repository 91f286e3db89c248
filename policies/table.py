"""Compute the (unprotected) table of a request from the persons frame: cells, margins, contributions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import product

import numpy as np
import pandas as pd

from policies.columns import named_columns, with_derived
from policies.conditions import Condition, as_text, missing, parse_condition
from policies.errors import RequestError
from policies.policy import Dimension, Measure, Policy
from policies.request import Request

TOTAL = None  # a margin position in a cell key


@dataclass
class Table:
    """A full table with margins: every array has shape (groups, n1 + 1, ..., nk + 1).

    Along each dimension the last position is the margin (total over that dimension); a slice per
    comparison group (one slice, named "", without groups). Magnitude measures keep their sums, the
    number of known values and the largest contributions per cell (for dominance and p-ratio).
    """

    request: Request
    dimensions: list[str]
    categories: list[list[str]]
    groups: list[str]
    measures: dict[str, Measure]
    counts: np.ndarray
    numerators: dict[str, np.ndarray] = field(default_factory=dict)
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    known: dict[str, np.ndarray] = field(default_factory=dict)
    tops: dict[str, np.ndarray] = field(default_factory=dict)
    medians: dict[str, np.ndarray] = field(default_factory=dict)
    inclusions: set[tuple[int, int]] = field(default_factory=set)  # (g, h): slice g's persons include h's
    # Who is where (for the cover table of linked releases): per person of the frame, its interior cell
    # (flat index over the categories) in each slice or -1; share conditions met; magnitude values.
    person_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    slice_cells: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    hits: dict[str, np.ndarray] = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    persons: pd.DataFrame | None = field(default=None, repr=False)  # the frame it was computed on

    @property
    def shape(self) -> tuple[int, ...]:
        return self.counts.shape

    @property
    def n_cells(self) -> int:
        return int(self.counts.size)

    @property
    def interior_shape(self) -> tuple[int, ...]:
        """The shape of one slice without margins: the number of categories per dimension."""
        return tuple(len(c) for c in self.categories)

    def key(self, index: tuple[int, ...]) -> tuple[str, tuple[str | None, ...]]:
        """(group, categories) of a cell index; None marks a margin."""
        group = self.groups[index[0]]
        cats = tuple(TOTAL if i == len(c) else c[i] for i, c in zip(index[1:], self.categories, strict=True))
        return group, cats

    def label(self, index: tuple[int, ...]) -> str:
        """A readable, value-free name of a cell, e.g. `school_year=2023-2024, level=Total`."""
        group, cats = self.key(index)
        parts = [f"{d}={'Total' if c is None else c}" for d, c in zip(self.dimensions, cats, strict=True)]
        if group:
            parts.insert(0, f"group={group}")
        return ", ".join(parts) or "Total"

    def indices(self) -> list[tuple[int, ...]]:
        return list(product(*(range(n) for n in self.shape)))


def dimension_labels(persons: pd.DataFrame, dim: Dimension) -> pd.Series:
    """The category label of each person for a dimension (banded when it has bands); None when missing."""
    column = persons[dim.column]
    known = ~missing(column)
    if dim.bands is not None:
        numbers = pd.to_numeric(column.where(known), errors="coerce").to_numpy(dtype=float)
        edges = np.asarray(dim.bands, dtype=float)
        band = np.searchsorted(edges, numbers, side="right") - 1
        ok = (band >= 0) & (band < len(edges) - 1) & ~np.isnan(numbers)
        labels = np.asarray(dim.labels(), dtype=object)
        out = np.full(len(column), None, dtype=object)
        out[ok] = labels[band[ok]]
        result = pd.Series(out, index=persons.index, dtype=object)
    else:
        result = as_text(column)
    if dim.missing_label is not None:
        result = result.where(result.notna(), dim.missing_label)
    return result


_SCHOOL_YEAR = re.compile(r"^(\d{4})-(\d{4})$")


def pooled(labels: pd.Series, k: int, among: np.ndarray) -> pd.Series:
    """School years pooled in blocks of `k` consecutive years, the newest block ending with the newest year
    among the table's persons (`2019-2020 to 2021-2022`); a label that is no school year is refused."""
    starts = {}
    for value in pd.unique(labels.dropna()):
        match = _SCHOOL_YEAR.match(str(value))
        if match is None or int(match[2]) != int(match[1]) + 1:
            raise RequestError("pool: a value of the dimension is not a school year such as 2021-2022")
        starts[value] = int(match[1])
    seen = [starts[v] for v in pd.unique(labels[among].dropna())] or list(starts.values())
    if not seen:
        return labels
    newest, oldest = max(seen), min(starts.values())

    def block(value: object) -> str | None:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        last = newest - (newest - starts[value]) // k * k
        first = max(last - k + 1, oldest)  # the oldest block holds only the years there are
        return f"{first}-{first + 1} to {last}-{last + 1}" if first < last else f"{last}-{last + 1}"

    return labels.map(block).astype(object)


def decide(condition: Condition, labels: list[str], dimension: Dimension) -> np.ndarray:
    """Per category label of a dimension on the condition's column: 1 every value meets the condition,
    0 none does, -1 cannot tell (a band that straddles the bound, a label that may stand for missing)."""
    out = np.full(len(labels), -1, dtype=np.int64)
    if dimension.bands is not None:
        if condition.op in ("in", "not in", "==", "!="):
            return out
        edges, bound = dimension.bands, float(condition.values[0])
        band_of = {label: (edges[i], edges[i + 1]) for i, label in enumerate(dimension.labels() or [])}
        for i, label in enumerate(labels):
            if label not in band_of:
                continue
            lo, hi = band_of[label]
            yes = {">=": lo >= bound, ">": lo > bound, "<": hi <= bound, "<=": hi <= bound}[condition.op]
            no = {">=": hi <= bound, ">": hi <= bound, "<": lo >= bound, "<=": lo > bound}[condition.op]
            out[i] = 1 if yes else 0 if no else -1
        return out
    for i, label in enumerate(labels):
        if dimension.missing_label is not None and label == dimension.missing_label:
            continue
        frame = pd.DataFrame({condition.column: [label]})
        out[i] = int(condition.evaluate(frame)[0])
    return out


def decided(table: Table, policy: Policy, name: str) -> np.ndarray:
    """Cells (table shape) where share `name`'s condition is decided by the table's own definitions: a
    dimension or a filter on the condition's column (a vmbo cell never meets "vo level in [havo, vwo]")."""
    condition = parse_condition(str(table.measures[name].condition))
    out = np.zeros(table.shape, dtype=bool)
    for d, dim_name in enumerate(table.dimensions):
        dimension = policy.dimensions[dim_name]
        if dimension.column != condition.column:
            continue
        verdict = decide(condition, table.categories[d], dimension)
        known = np.concatenate([verdict >= 0, [False]])  # the margin decides nothing
        shape = [1] * len(table.shape)
        shape[d + 1] = len(known)
        out |= known.reshape(shape)
    for g, (_, filters) in enumerate(table.request.slices()):
        for dim_name, values in filters.items():
            dimension = policy.dimensions[dim_name]
            if dimension.column != condition.column:
                continue
            verdict = decide(condition, sorted(values), dimension)
            if len(verdict) and (verdict == verdict[0]).all() and verdict[0] >= 0:
                out[g] = True
    return out


def _require(persons: pd.DataFrame, columns: list[str]) -> None:
    for column in columns:
        if column not in persons.columns:
            raise RequestError(f"persons frame: column {column} is missing")


def _with_margins(interior: np.ndarray, axes: range) -> np.ndarray:
    out = interior
    for axis in axes:
        out = np.concatenate([out, out.sum(axis=axis, keepdims=True)], axis=axis)
    return out


def _tops_with_margins(interior: np.ndarray, axes: range) -> np.ndarray:
    out = interior
    t = interior.shape[-1]
    for axis in axes:
        moved = np.moveaxis(out, axis, -2)
        union = moved.reshape(*moved.shape[:-2], moved.shape[-2] * t)
        union = np.concatenate([union, np.zeros((*union.shape[:-1], t))], axis=-1)  # pads empty axes
        top = -np.sort(-union, axis=-1)[..., :t]
        out = np.concatenate([out, np.expand_dims(top, axis)], axis=axis)
    return out


def compute_table(persons: pd.DataFrame, request: Request, policy: Policy) -> Table:
    """Aggregate the persons frame into the request's table (not yet protected); the policy's derived
    columns (indicators) that the request names are computed here from their inputs."""
    persons = with_derived(persons, policy, named_columns(policy, request))
    dims = [policy.dimensions[d] for d in request.dimensions]
    measures = {m: policy.measures[m] for m in request.measures}
    slices = request.slices()
    filter_dims = sorted({d for _, f in slices for d in f})
    columns = [f"in_{s}" for s in request.population] + [d.column for d in dims]
    columns += [policy.dimensions[d].column for d in filter_dims]
    columns += [m.column for m in measures.values() if m.column]
    conditions = {name: parse_condition(m.condition) for name, m in measures.items() if m.condition}
    columns += [c.column for c in conditions.values()]
    _require(persons, columns)

    categories, masks, flat = _assign(persons, request, policy, None)
    interior_shape = tuple(len(c) for c in categories)
    size = int(np.prod(interior_shape, dtype=np.int64)) if interior_shape else 1
    axes = range(1, len(dims) + 1)

    def cube(weights_by_slice: list[np.ndarray]) -> np.ndarray:
        stacked = np.stack([w.reshape(interior_shape) for w in weights_by_slice])
        return _with_margins(stacked, axes)

    table = Table(request, list(request.dimensions), categories, [g for g, _ in slices], measures,
                  counts=cube([np.bincount(flat[m], minlength=size) for m in masks]).astype(np.int64))
    table.inclusions = {(g, h) for g, big in enumerate(masks) for h, small in enumerate(masks)
                        if g != h and not (small & ~big).any()}
    table.persons = persons
    table.person_ids = (persons["person_id"].to_numpy() if "person_id" in persons.columns
                        else np.arange(len(persons))).astype(object)
    table.slice_cells = np.stack([np.where(m, flat, -1) for m in masks]) if masks else \
        np.zeros((0, len(persons)), dtype=np.int64)
    for name, condition in conditions.items():
        hit = condition.evaluate(persons)
        table.hits[name] = hit
        table.numerators[name] = cube([np.bincount(flat[m & hit], minlength=size) for m in masks]).astype(int)
    t = max(policy.disclosure.dominance.n, 2)
    for name, measure in measures.items():
        if not measure.magnitude:
            continue
        values = pd.to_numeric(persons[measure.column].where(~missing(persons[measure.column])),
                               errors="coerce").to_numpy(dtype=float)
        has = ~np.isnan(values)
        table.values[name] = values
        table.sums[name] = cube([np.bincount(flat[m & has], weights=values[m & has], minlength=size)
                                 for m in masks])
        table.known[name] = cube([np.bincount(flat[m & has], minlength=size) for m in masks]).astype(np.int64)
        table.tops[name] = _tops_with_margins(np.stack([_tops(flat[m & has], values[m & has], size, t)
                                                        .reshape(*interior_shape, t) for m in masks]), axes)
        if measure.kind == "median":
            codes = list(np.unravel_index(flat, interior_shape)) if interior_shape and size else \
                [np.zeros(len(flat), np.int64) for _ in interior_shape]
            table.medians[name] = np.stack([_medians(codes, interior_shape, m & has, values) for m in masks])
    return table


def _assign(persons: pd.DataFrame, request: Request, policy: Policy, categories: list[list[str]] | None
            ) -> tuple[list[list[str]], list[np.ndarray], np.ndarray]:
    """Categories per dimension (found in the data unless given), each slice's persons (in the population,
    its filters, a category on every dimension) and each person's interior cell (flat index)."""
    dims = [policy.dimensions[d] for d in request.dimensions]
    slices = request.slices()
    filter_dims = sorted({d for _, f in slices for d in f})
    base = np.ones(len(persons), dtype=bool)
    for source in request.population:
        base &= persons[f"in_{source}"].eq(True).to_numpy()
    used = sorted(set(request.dimensions) | set(filter_dims))
    labels = {d: dimension_labels(persons, policy.dimensions[d]) for d in used}
    slice_masks = []
    for _, filters in slices:
        mask = base.copy()
        for filter_dim, values in filters.items():
            mask &= labels[filter_dim].isin(values).to_numpy()
        slice_masks.append(mask)
    anywhere = np.logical_or.reduce(slice_masks) if slice_masks else base
    found, codes = [], []
    for d, (name, dim) in enumerate(zip(request.dimensions, dims, strict=True)):
        series = labels[name]
        if name in request.pool:
            series = pooled(series, request.pool[name], anywhere)
        if categories is not None:
            cats = categories[d]
        else:
            band_labels = dim.labels()  # None exactly when the dimension has no bands
            cats = list(dim.categories) if dim.categories is not None else (
                band_labels if band_labels is not None else sorted(set(series[anywhere].dropna())))
            if dim.missing_label is not None and dim.missing_label not in cats:
                cats.append(dim.missing_label)
        found.append(cats)
        codes.append(pd.Categorical(series, categories=cats).codes.astype(np.int64))
    interior_shape = tuple(len(c) for c in found)
    valid = np.logical_and.reduce([c >= 0 for c in codes]) if codes else np.ones(len(persons), dtype=bool)
    if codes and all(interior_shape):
        flat = np.ravel_multi_index(tuple(np.where(valid, c, 0) for c in codes), interior_shape)
    else:
        flat = np.zeros(len(persons), dtype=np.int64)
    return found, [m & valid for m in slice_masks], flat


def slice_cells(persons: pd.DataFrame, table: Table, policy: Policy) -> np.ndarray:
    """Per slice of `table` and person of `persons`: the interior cell (flat) or -1, with the table's own
    categories (for the same persons with other values in some column)."""
    _, masks, flat = _assign(persons, table.request, policy, table.categories)
    return np.stack([np.where(m, flat, -1) for m in masks]) if masks else np.zeros((0, len(persons)), np.int64)


def _tops(flat: np.ndarray, values: np.ndarray, size: int, t: int) -> np.ndarray:
    """The t largest values per cell, descending, padded with zeros."""
    out = np.zeros((size, t))
    if len(flat) == 0:
        return out
    order = np.lexsort((-values, flat))
    cells, vals = flat[order], values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(cells)) + 1]
    rank = np.arange(len(cells)) - np.repeat(starts, np.diff(np.r_[starts, len(cells)]))
    keep = rank < t
    out[cells[keep], rank[keep]] = vals[keep]
    return out


def _medians(codes: list[np.ndarray], shape: tuple[int, ...], mask: np.ndarray,
             values: np.ndarray) -> np.ndarray:
    """Medians for every cell including margins (one group-by per set of kept dimensions)."""
    out = np.full(tuple(n + 1 for n in shape), np.nan)
    k = len(shape)
    for kept in product((True, False), repeat=k):
        dims = [i for i in range(k) if kept[i]]
        sub_shape = tuple(shape[i] for i in dims)
        key = np.ravel_multi_index(tuple(codes[i][mask] for i in dims), sub_shape) if dims else \
            np.zeros(int(mask.sum()), dtype=np.int64)
        if len(key) == 0:
            continue
        med = pd.Series(values[mask]).groupby(key).median()
        positions = np.unravel_index(med.index.to_numpy(), sub_shape) if dims else ()
        index, j = [], 0
        for i in range(k):
            if kept[i]:
                index.append(positions[j])
                j += 1
            else:
                index.append(np.full(len(med), shape[i]))
        out[tuple(index)] = med.to_numpy()
    return out
