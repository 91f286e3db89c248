"""Statistical disclosure control of a computed table, alone and together with every earlier release:
primary suppression, secondary suppression, the joint LP audit of the release history, differencing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np

from policies.cover import Cover, Entry, build_cover, constraints, functionals
from policies.differencing import Collision, collisions
from policies.joint import AuditStats, Failure, audit
from policies.policy import Policy
from policies.published import SUPPRESSED, publish, round_count
from policies.secondary import Magnitude, protect_cells, suppress_secondary
from policies.table import Table, decided

__all__ = ["SUPPRESSED", "ProtectedTable", "primary_reasons", "protect", "round_count"]

MAX_ROUNDS = 200  # rounds of the joint audit before a table is given up as unprotectable
PUBLISH = "+"  # in ProtectedTable.extra: a cell shown again (earlier releases pin it exactly)


class AppliedRules(TypedDict, total=False):
    """The disclosure rules a table was protected with, as written into a release's metadata (empty for a
    table rebuilt from the release history)."""

    min_cell_count: int
    dominance: list[float]  # [n, k]
    p_ratio: float
    percent_range: list[float]  # [percent_min, percent_max]
    rounding_base: int | None
    protection_level: float
    zeros: str
    differencing: str


@dataclass
class ProtectedTable:
    """A table after disclosure control.

    `suppressed` is the cell pattern (every measure of a suppressed cell is SUPPRESSED); a share may also
    be suppressed on its own (`share_suppressed`). `published` holds what each cell shows per measure.
    The reasons, the earlier releases involved and the refusal are for the privacy officer only; they are
    never written into the files a researcher receives."""

    table: Table
    suppressed: np.ndarray
    reasons: dict[tuple[int, ...], str]
    published: dict[str, np.ndarray]
    rules: AppliedRules = field(default_factory=AppliedRules)
    primary: np.ndarray | None = None
    share_primary: dict[str, np.ndarray] = field(default_factory=dict)
    share_suppressed: dict[str, np.ndarray] = field(default_factory=dict)
    share_reasons: dict[str, dict[tuple[int, ...], str]] = field(default_factory=dict)
    extra: list[tuple[str, int]] = field(default_factory=list)  # (measure or "", cell) added after the boxes
    refusal: str | None = None
    constrained_by: list[str] = field(default_factory=list)
    collisions: list[str] = field(default_factory=list)
    stats: AuditStats = field(default_factory=AuditStats)

    @property
    def releasable(self) -> bool:
        return self.refusal is None

    def suppressions(self) -> list[dict[str, str]]:
        """Every suppressed cell (and share) with its reason, in cell order (for the privacy officer)."""
        out = [{"cell": self.table.label(index), "reason": self.reasons[index]} for index in sorted(self.reasons)]
        for name, reasons in sorted(self.share_reasons.items()):
            out += [{"cell": self.table.label(index), "measure": name, "reason": reasons[index]}
                    for index in sorted(reasons)]
        return out


def primary_reasons(table: Table, policy: Policy) -> dict[tuple[int, ...], list[str]]:
    """The primary rules each cell breaks (threshold, dominance, p-ratio, zeros)."""
    rules = policy.disclosure
    out: dict[tuple[int, ...], list[str]] = {}

    def mark(mask: np.ndarray, reason: str) -> None:
        for index in zip(*np.nonzero(mask), strict=True):
            out.setdefault(tuple(int(i) for i in index), []).append(reason)

    counts = table.counts
    few = rules.min_cell_count
    mark((counts > 0) & (counts < few), f"threshold: fewer than {few} persons")
    n, k, p = rules.dominance.n, rules.dominance.k, rules.p_ratio
    for name in table.sums:
        total, known, top = table.sums[name], table.known[name], table.tops[name]
        mark((known > 0) & (known < few) & (counts >= few), f"threshold: fewer than {few} values of {name}")
        positive = total > 0
        mark(positive & (top[..., :n].sum(axis=-1) > k / 100 * total), f"dominance ({n}, {k:g}%) on {name}")
        if p > 0:
            rest = total - top[..., 0] - top[..., 1]
            mark(positive & (rest < p / 100 * top[..., 0]) & (known >= 2), f"p-ratio {p:g}% on {name}")
    if rules.zeros == "suppress":
        mark(counts == 0, "zero cell (policy: zeros = suppress)")
    elif rules.zeros == "disclosive":
        mark(_disclosive_zeros(counts), "zero in a group where everyone shares one category")
    return out


def share_primary(table: Table, policy: Policy) -> dict[str, np.ndarray]:
    """Per share measure, the cells whose share would tell about a small group: fewer than the threshold
    meet the condition, or fewer than the threshold miss it (NCO: a share is a count of both)."""
    few = policy.disclosure.min_cell_count
    out = {}
    for name, numerator in table.numerators.items():
        complement = table.counts - numerator
        out[name] = (table.counts > 0) & ((numerator < few) | (complement < few)) & ~decided(table, policy, name)
    return out


def _disclosive_zeros(counts: np.ndarray) -> np.ndarray:
    """Interior zero cells on a line whose persons all fall in one other category."""
    out = np.zeros(counts.shape, dtype=bool)
    interior = tuple(slice(None) if a == 0 else slice(0, n - 1) for a, n in enumerate(counts.shape))
    for axis in range(1, counts.ndim):
        body = counts[interior]
        nonzero = (body > 0).sum(axis=axis, keepdims=True)
        out[interior] |= (body == 0) & (nonzero == 1)
    return out


class _Pattern:
    """The suppression pattern being built: cells, shares on their own, and why each was suppressed."""

    def __init__(self, table: Table, policy: Policy, carried: dict[int, str] | None = None,
                 known: np.ndarray | None = None):
        self.table, self.policy = table, policy
        rules = policy.disclosure
        self.level = float(rules.protection_level)
        self.reasons = {index: "primary: " + "; ".join(why) for index, why in primary_reasons(table, policy).items()}
        self.primary = np.zeros(table.shape, dtype=bool)
        for index in self.reasons:
            self.primary[index] = True
        self.magnitudes: list[Magnitude] = [
            (table.sums[name], np.where(self.primary, rules.p_ratio / 100 * np.abs(table.sums[name]), 0.0))
            for name in table.sums]
        # The same group an earlier release hid is hidden again (showing it would undo that release's
        # protection); a group an earlier release showed is public and never hidden to protect another.
        self.known = np.zeros(table.n_cells, dtype=bool) if known is None else known.ravel().copy()
        hide = self.primary.copy()
        for cell, release in (carried or {}).items():
            index = self._index(cell)
            if not hide[index]:
                hide[index] = True
                self.reasons[index] = f"secondary: hidden as in release {release}"
        pattern, protects = suppress_secondary(table.counts, hide, self.level, self.magnitudes, verify=False,
                                               forbidden=self.known)
        self.cells = pattern.ravel().copy()
        self.protects = protects
        for cell, target in protects.items():
            self.reasons.setdefault(self._index(cell), f"secondary: protects {table.label(self._index(target))}")
        self.share_primary = share_primary(table, policy)
        self._small_share = f"primary: fewer than {rules.min_cell_count} persons meet or miss the condition"
        self.shares: dict[str, np.ndarray] = {}
        self.share_reasons: dict[str, dict[tuple[int, ...], str]] = {}
        for name, sensitive in self.share_primary.items():
            numerator = table.numerators[name]
            required = np.where(sensitive, self.level, 0.0)
            own, _ = suppress_secondary(numerator, sensitive, self.level,
                                        [(table.counts - numerator, required)], verify=False, start=pattern)
            self.shares[name] = own.ravel().copy()
            self.share_reasons[name] = {}
            for flat in np.flatnonzero(own.ravel() & ~pattern.ravel()):
                index = self._index(flat)
                self.share_reasons[name][index] = (self._small_share if sensitive[index]
                                                   else "secondary: protects a share of a small group")
        self.extra: list[tuple[str, int]] = []
        self.public: set[int] = set()  # cells shown again because earlier releases pin them

    def _index(self, cell: int | np.integer) -> tuple[int, ...]:
        return tuple(int(i) for i in np.unravel_index(cell, self.table.shape))

    def suppress(self, measure: str, cell: int, why: str) -> None:
        """Suppress a cell (measure "") and protect it within the table, or one share of a cell; or, with
        measure PUBLISH, show again a secondary cell that earlier releases pin exactly (hiding it hides
        nothing, and no attacker may find a hidden cell recovered exactly)."""
        self.extra.append((measure, int(cell)))
        index = self._index(cell)
        if measure == PUBLISH:
            self.cells[cell] = False
            self.reasons.pop(index, None)
            for name, shares in self.shares.items():
                # the count is public; a share too few persons meet or miss stays hidden (the joint audit
                # holds the others, shown again, to the history)
                if self.share_primary[name].ravel()[cell]:
                    self.share_reasons[name][index] = self._small_share
                else:
                    shares[cell] = False
            self.public.add(int(cell))
            return
        if measure:
            if not self.shares[measure][cell]:
                self.shares[measure][cell] = True
                self.share_reasons[measure][index] = why
            return
        if self.cells[cell] or cell in self.public:
            return
        self.cells[cell] = True
        self.reasons[index] = why
        before = self.cells.copy()
        protect_cells([cell], self.table.counts, self.cells, self.level, self.magnitudes, self.protects,
                      self.known)
        for added in np.flatnonzero(self.cells & ~before):
            self.reasons.setdefault(self._index(added), f"secondary: protects {self.table.label(index)}")

    def pattern(self) -> np.ndarray:
        return self.cells.reshape(self.table.shape)

    def published(self) -> dict[str, np.ndarray]:
        out = {}
        for name, measure in self.table.measures.items():
            mask = self.cells | self.shares[name] if measure.kind == "share" else self.cells
            out[name] = publish(self.table, self.policy, name, mask.reshape(self.table.shape))
        return out

    def entry(self, frame: str) -> Entry:
        pattern = self.pattern()
        return Entry("", self.table, self.policy, self.published(), pattern, self.primary,
                     self.share_primary, frame)


def protect(table: Table, policy: Policy, history: Sequence[Entry] = (), frame: str = "",
            replay: Sequence[tuple[str, int]] | None = None) -> ProtectedTable:
    """Apply the policy's disclosure control to `table`, together with every earlier release in `history`.

    Primary and secondary suppression make the table safe on its own. Then the joint LP audit treats the
    table and every earlier one as marginals of one cover table: every sensitive quantity of every table
    must keep its width (see policies.cover.functionals); where the new table's figures would narrow one,
    the cheapest of those figures that bind it is suppressed (and protected in the table), until none is
    narrowed. Then exact differences between published groups are checked (policies.differencing): within
    the request they are suppressed; with earlier releases they are suppressed or refused as the policy's
    `differencing` says. When only the history pins a quantity, or the policy refuses a difference, the
    result carries a `refusal` (for the privacy officer) and must not be released.

    `replay` re-applies the suppressions a release recorded after its boxes (`ProtectedTable.extra`), in
    order, instead of choosing them again; the audit must then pass as it stands (release verify)."""
    rules = policy.disclosure
    earlier = list(history)
    new = len(earlier)
    empty = np.zeros(table.shape, dtype=bool)
    entries = [*earlier, Entry("", table, policy, {}, empty, empty, {}, frame)]
    cover = build_cover(entries)
    carried, known = _same_groups(cover, new)
    state = _Pattern(table, policy, carried, known)
    stats = AuditStats()
    refusal: str | None = None
    involved: set[str] = set()
    found: list[str] = []
    if replay is not None:
        for measure, cell in replay:
            state.suppress(measure, cell, "secondary: joint protection with earlier releases")
    proved_keys: set[tuple[int, int, str]] = set()  # quantities proved wide: fewer published figures keep them so
    for round_ in range(MAX_ROUNDS):
        cover.entries[new] = state.entry(frame)
        if round_ == 0 and rules.differencing == "refuse":
            # Checked before the joint audit: hiding the figures it would narrow must not turn a request the
            # policy refuses for differencing into a quietly suppressed one.
            _, history_clashes = _clashes(cover, new, state)
            if history_clashes:
                involved |= _others(cover, new, history_clashes)
                found = _descriptions(cover, new, history_clashes)
                refusal = "differencing with earlier releases: " + "; ".join(found)
                break
        rows = constraints(cover)
        funcs = functionals(cover, set(range(len(entries))))
        keys = list(zip(funcs.entry.tolist(), funcs.cell.tolist(), funcs.kind, strict=True))
        proved = np.array([k in proved_keys for k in keys], dtype=bool)
        lower = np.zeros(cover.n_vars)
        lower[cover.n_classes:] = -np.inf
        removable = (rows.entry == new) & ~((rows.measure == "") & np.isin(rows.cell, list(state.public)))
        failures = audit(rows, funcs, cover.truth(), lower, {new}, stats, proved, cover.sum_classes(),
                         removable=removable)
        # Showing again a cell earlier releases pin exactly changes no feasible set, so proofs stand too.
        proved_keys |= {k for k, done in zip(keys, proved, strict=True) if done}
        if failures:
            if replay is not None:
                refusal = "the recorded suppressions no longer protect the release"
                break
            fixes, stuck = _fixes(cover, rows, funcs, failures, new, state, removable)
            involved |= {cover.entries[int(e)].key for f in failures for e in rows.entry[f.binding]
                         if e >= 0 and e != new}
            if stuck:
                refusal = stuck
                break
            for measure, cell in fixes:
                state.suppress(measure, cell, "secondary: joint protection with earlier releases")
            continue
        # A difference whose figures of this table are all pinned by earlier releases is known from them
        # alone already; only one that a figure of this table still decides is this table's to prevent.
        within, history_clashes = _clashes(cover, new, state)
        involved |= _others(cover, new, history_clashes)
        found += [t for t in _descriptions(cover, new, history_clashes) if t not in found]
        if history_clashes and rules.differencing == "refuse":
            refusal = "differencing with earlier releases: " + "; ".join(found)
            break
        todo = within + (history_clashes if rules.differencing == "suppress" else [])
        if not todo:
            break
        if replay is not None:
            refusal = "the recorded suppressions no longer protect the release"
            break
        for c, (measure, cell) in todo:
            state.suppress(measure, cell, "primary: differencing" + (" within the request" if c.other == c.entry
                                                                     else " with an earlier release"))
    else:
        refusal = f"no protection found within {MAX_ROUNDS} rounds of the joint audit"
    pattern = state.pattern()
    applied: AppliedRules = {
        "min_cell_count": rules.min_cell_count, "dominance": [rules.dominance.n, rules.dominance.k],
        "p_ratio": rules.p_ratio, "percent_range": [rules.percent_min, rules.percent_max],
        "rounding_base": rules.rounding_base, "protection_level": rules.protection_level,
        "zeros": rules.zeros, "differencing": rules.differencing}
    shares = {name: (mask & ~state.cells).reshape(table.shape) for name, mask in state.shares.items()}
    return ProtectedTable(table, pattern, state.reasons, state.published(), applied, state.primary,
                          state.share_primary, shares,
                          {n: {i: r for i, r in reasons.items() if shares[n][i]}
                           for n, reasons in state.share_reasons.items()},
                          state.extra, refusal, sorted(k for k in involved if k), found, stats)


Clash = tuple[Collision, tuple[str, int]]


def _clashes(cover: Cover, new: int, state: _Pattern) -> tuple[list[Clash], list[Clash]]:
    """The new table's differencing collisions, each with the figure that would prevent it: those within
    the request, and those with earlier releases."""
    clashes = [(c, fix) for c in collisions(cover, new)
               if (fix := _differencing_fix(cover, c, new, state.public)) is not None]
    within = [(c, fix) for c, fix in clashes if c.entry == new and c.other == new]
    return within, [(c, fix) for c, fix in clashes if not (c.entry == new and c.other == new)]


def _others(cover: Cover, new: int, clashes: list[Clash]) -> set[str]:
    """The earlier releases the collisions involve."""
    return {cover.entries[c.other if c.entry == new else c.entry].key for c, _ in clashes}


def _descriptions(cover: Cover, new: int, clashes: list[Clash]) -> list[str]:
    """Each collision described once, for the privacy officer."""
    return list(dict.fromkeys(_describe(cover, c, new) for c, _ in clashes))


def _same_groups(cover: Cover, new: int) -> tuple[dict[int, str], np.ndarray]:
    """Cells of the new table whose persons are exactly those of a cell an earlier release hid (cell ->
    that release) or showed exactly (a mask)."""
    table = cover.entries[new].table
    carried: dict[int, str] = {}
    known = np.zeros(table.n_cells, dtype=bool)
    if new == 0:
        return carried, known
    weights = np.random.default_rng(0).integers(1, 2**62, cover.n_classes, dtype=np.int64)
    weights[cover.sizes == 0] = 0  # the persons, not the combinations no one has

    def fingerprints(e: int) -> np.ndarray:
        cells = cover.cells[e].tocsr()
        contribution = weights[cells.indices].astype(np.uint64)
        out = np.zeros(cells.shape[0], dtype=np.uint64)
        nonempty = np.diff(cells.indptr) > 0
        starts = cells.indptr[:-1][nonempty]
        out[nonempty] = np.add.reduceat(contribution, starts) if len(starts) else out[nonempty]
        return out

    mine = fingerprints(new)
    hidden: dict[int, str] = {}
    shown: set[int] = set()
    for e in range(new):
        entry = cover.entries[e]
        prints = fingerprints(e)
        counted = next((n for n, m in entry.table.measures.items() if m.kind == "count"), None)
        exact = not entry.policy.disclosure.rounding_base and counted is not None
        for cell, value in enumerate(prints):
            if value == 0:
                continue
            if entry.suppressed.ravel()[cell]:
                hidden.setdefault(int(value), entry.key)
            elif exact:
                shown.add(int(value))
    for cell, value in enumerate(mine):
        if value == 0:
            continue
        if int(value) in shown:
            known[cell] = True
        elif int(value) in hidden:
            carried[cell] = hidden[int(value)]
    return carried, known


def _fixes(cover: Cover, rows, funcs, failures: list[Failure], new: int, state: _Pattern,
           removable: np.ndarray) -> tuple[list[tuple[str, int]], str | None]:
    """For each failure, the cheapest figure of the new table that binds it; or why none can help."""
    counts = state.table.counts.ravel()
    chosen: list[tuple[str, int]] = []
    primary = state.primary.ravel()
    for failure in failures:
        binding = failure.binding
        mine = binding[removable[binding]]
        f = failure.functional
        own_cell = int(funcs.cell[f])
        if (not len(mine) and funcs.entry[f] == new and funcs.kind[f] == "count" and not primary[own_cell]
                and failure.hi - failure.lo < 1e-6):
            chosen.append((PUBLISH, own_cell))
            continue
        if not len(mine):
            entry = cover.entries[int(funcs.entry[failure.functional])]
            what = "this table" if entry.key == "" else f"release {entry.key}"
            label = entry.table.label(tuple(int(i) for i in np.unravel_index(int(funcs.cell[failure.functional]),
                                                                              entry.table.shape)))
            others = sorted({cover.entries[int(e)].key for e in rows.entry[binding] if 0 <= e != new})
            return [], (f"{funcs.kind[failure.functional]} at {label} of {what} is known within "
                        f"[{failure.lo:.1f}, {failure.hi:.1f}] from earlier releases "
                        f"{', '.join(others) or '(none)'} alone")
        options = sorted({(float(counts[int(rows.cell[r])]), 0 if rows.measure[r] else 1, str(rows.measure[r]),
                           int(rows.cell[r])) for r in mine})
        # a share alone is cheaper to hide than a whole cell: prefer it at equal count
        _, _, measure, cell = options[0]
        if (measure, cell) not in chosen:
            chosen.append((measure, cell))
    return chosen, None


def _differencing_fix(cover: Cover, c: Collision, new: int, public: set[int]) -> tuple[str, int] | None:
    """The figure of the new table to suppress for a differencing collision: the larger group of the new
    table, else its smallest cell among those summed; never a cell earlier releases pin (None if only such)."""
    counts = cover.entries[new].table.counts.ravel()
    family = c.family.split(" ", 1)[1] if c.family else ""
    own = [(family, c.cell)] if c.entry == new else []
    summed = [("", cell) for cell in sorted(c.other_cells, key=lambda i: (counts[i], i))] if c.other == new else []
    order = own + summed if (c.other != new or c.contains) else summed + own
    return next(((m, cell) for m, cell in order if cell not in public), None)


def _describe(cover: Cover, c: Collision, new: int) -> str:
    """A one-line description for the privacy officer (cell labels and release ids; no persons counts)."""
    def where(e: int, cell: int) -> str:
        entry = cover.entries[e]
        label = entry.table.label(tuple(int(i) for i in np.unravel_index(cell, entry.table.shape)))
        return f"{'this table' if e == new else 'release ' + entry.key} at {label}"

    group = f" ({c.family})" if c.family else ""
    relation = "contains" if c.contains else "lies within"
    return (f"{where(c.entry, c.cell)}{group} {relation} cells of "
            f"{'this table' if c.other == new else 'release ' + cover.entries[c.other].key}; the difference is "
            f"a group of fewer than {max(cover.entries[c.entry].policy.disclosure.min_cell_count, 1)} persons")
