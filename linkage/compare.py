"""Comparison vectors: for each candidate pair a level per comparison (-1 = missing, neutral)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage.arrays import FeatureArrays, dice
from linkage.settings import LinkSettings

MISSING = -1


@dataclass(frozen=True)
class Comparison:
    """One comparison: its level labels (index = level, 0 = disagreement) and how its m is set."""

    name: str
    levels: tuple[str, ...]
    fixed_m: tuple[float, ...] | None = None  # m not trained by EM (identifier numbers)
    tf: bool = False  # exact agreement weighted by the agreeing value's own frequency


def _dice_labels(bands: tuple[float, ...]) -> tuple[str, ...]:
    return tuple(f"dice>={b:g}" for b in sorted(bands))


def comparisons_for(arrays: FeatureArrays, settings: LinkSettings) -> list[Comparison]:
    """The comparisons a feature frame supports, in a fixed order (the order of pattern strings)."""
    number_m = (settings.number_disagree_m, 1 - settings.number_disagree_m)
    dl = _dice_labels(settings.dice_bands)
    out = [
        Comparison("bsn", ("different", "same"), fixed_m=number_m),
        Comparison("onderwijsnummer", ("different", "same"), fixed_m=number_m),
        Comparison("bsn4", ("different", "same"),
                   fixed_m=(settings.bsn4_disagree_m, 1 - settings.bsn4_disagree_m)),
        Comparison("family_name", ("other", *dl, "part", "exact"), tf="family_name" in settings.tf_adjust),
        Comparison("given_name", ("other", "initial", *dl, "first_or_roepnaam", "all_given_names"),
                   tf="given_name" in settings.tf_adjust),
        Comparison("birth_date", ("other", "year", "year_month", "year_day", "month_day", "day_month_swapped",
                                  "exact")),
        Comparison("postcode", ("other", "area", "exact")),
        Comparison("sex", ("different", "same")),
    ]
    for col, kind in sorted(arrays.link_kinds.items()):
        levels = ("other", *dl, "exact") if kind == "string" else ("other", "exact")
        out.append(Comparison(col, levels, tf=False))
    return out


def _eq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a != 0) & (a == b)


def _both(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a != 0) & (b != 0)


def _dice_level(d: np.ndarray, bands: tuple[float, ...], base: int) -> np.ndarray:
    """Level for a Dice value: base + number of bands reached (NaN reaches none)."""
    out = np.full(len(d), base, dtype=np.int8)
    dd = np.nan_to_num(d, nan=-1.0)
    for b in sorted(bands):
        out += (dd >= b).astype(np.int8)
    return out


@dataclass
class Compared:
    """Levels (pairs × comparisons, int8) and, per tf comparison, the agreeing value (0 = none)."""

    levels: np.ndarray
    tf_values: dict[str, np.ndarray]


def _number(a: FeatureArrays, col: str, il: np.ndarray, ir: np.ndarray) -> np.ndarray:
    x, y = a.column(col)[il], a.column(col)[ir]
    out = np.where(x == y, 1, 0).astype(np.int8)
    out[~_both(x, y)] = MISSING
    return out


def _family(a: FeatureArrays, il, ir, bands) -> tuple[np.ndarray, np.ndarray]:
    f, fa, fb = a.column("fam"), a.column("fam_a"), a.column("fam_b")
    fl, fr = f[il], f[ir]
    exact = _eq(fl, fr)
    part = np.zeros(len(il), dtype=bool)
    lefts, rights = (fl, fa[il], fb[il]), (fr, fa[ir], fb[ir])
    for x in lefts:
        for y in rights:
            part |= _eq(x, y)
    d = dice(a, "fam_bf", "fam_bf", il, ir)
    lvl = _dice_level(d, bands, 0)
    n_bands = len(bands)
    lvl[part] = n_bands + 1
    lvl[exact] = n_bands + 2
    has_l = (fl != 0) | (a.bloom_counts.get("fam_bf", np.zeros(a.n, np.int32))[il] > 0)
    has_r = (fr != 0) | (a.bloom_counts.get("fam_bf", np.zeros(a.n, np.int32))[ir] > 0)
    lvl[~(has_l & has_r)] = MISSING
    return lvl, np.where(exact, fl, 0)


def _given(a: FeatureArrays, il, ir, bands) -> tuple[np.ndarray, np.ndarray]:
    g1, pr, gall, ini = a.column("given1"), a.column("pref"), a.column("given"), a.column("init")
    exact = np.zeros(len(il), dtype=bool)
    for x, y in ((g1[il], g1[ir]), (pr[il], pr[ir]), (g1[il], pr[ir]), (pr[il], g1[ir])):
        exact |= _eq(x, y)
    all_names = _eq(gall[il], gall[ir])
    best = np.full(len(il), np.nan)
    for lc, rc in (("given_bf", "given_bf"), ("pref_bf", "pref_bf"), ("given_bf", "pref_bf"),
                   ("pref_bf", "given_bf")):
        best = np.fmax(best, dice(a, lc, rc, il, ir))
    lvl = _dice_level(best, bands, 1)
    initial = _eq(ini[il], ini[ir])
    lvl[(lvl == 1) & ~initial] = 0
    lvl[exact] = len(bands) + 2
    lvl[all_names] = len(bands) + 3

    def present(idx):
        p = (g1[idx] != 0) | (pr[idx] != 0) | (gall[idx] != 0) | (ini[idx] != 0)
        for c in ("given_bf", "pref_bf"):
            if c in a.bloom_counts:
                p |= a.bloom_counts[c][idx] > 0
        return p
    lvl[~(present(il) & present(ir))] = MISSING
    return lvl, np.where(all_names, gall[il], 0)


def _birth_date(a: FeatureArrays, il, ir) -> np.ndarray:
    dob, swap = a.column("dob"), a.column("dob_swap")
    lvl = np.zeros(len(il), dtype=np.int8)
    lvl[_eq(a.column("dob_y")[il], a.column("dob_y")[ir])] = 1
    for level, c in ((2, "dob_ym"), (3, "dob_yd"), (4, "dob_md")):  # one part of the date different
        lvl[_eq(a.column(c)[il], a.column(c)[ir])] = level
    lvl[_eq(swap[il], dob[ir]) | _eq(dob[il], swap[ir])] = 5
    lvl[_eq(dob[il], dob[ir])] = 6
    lvl[~_both(dob[il], dob[ir])] = MISSING
    return lvl


def _postcode(a: FeatureArrays, il, ir) -> np.ndarray:
    pc, pc4 = a.column("pc"), a.column("pc4")
    lvl = np.zeros(len(il), dtype=np.int8)
    lvl[_eq(pc4[il], pc4[ir])] = 1
    lvl[_eq(pc[il], pc[ir])] = 2
    lvl[~(_both(pc4[il], pc4[ir]) | _both(pc[il], pc[ir]))] = MISSING
    return lvl


def _link_field(a: FeatureArrays, col: str, il, ir, bands) -> np.ndarray:
    x, y = a.column(col)[il], a.column(col)[ir]
    if a.link_kinds.get(col) == "string":
        lvl = _dice_level(dice(a, f"{col}_bf", f"{col}_bf", il, ir), bands, 0)
        lvl[_eq(x, y)] = len(bands) + 1
    else:
        lvl = _eq(x, y).astype(np.int8)
    lvl[~_both(x, y)] = MISSING
    return lvl


def compare(arrays: FeatureArrays, il: np.ndarray, ir: np.ndarray, comparisons: list[Comparison],
            settings: LinkSettings, only: set[str] | None = None) -> Compared:
    """Levels of every comparison (or of those in `only`; the others MISSING) for the pairs (il[k], ir[k]).

    One partition of pairs at a time: the caller sums what it needs over partitions.
    """
    bands = settings.dice_bands
    cols: list[np.ndarray] = []
    tf: dict[str, np.ndarray] = {}
    for c in comparisons:
        if only is not None and c.name not in only:
            cols.append(np.full(len(il), MISSING, dtype=np.int8))
        elif c.name == "bsn":
            cols.append(_number(arrays, "bsn", il, ir))
        elif c.name == "onderwijsnummer":
            cols.append(_number(arrays, "onr", il, ir))
        elif c.name == "bsn4":
            lvl = _number(arrays, "bsn4", il, ir)
            lvl[_both(arrays.column("bsn")[il], arrays.column("bsn")[ir])] = MISSING  # the full BSN decides
            cols.append(lvl)
        elif c.name == "family_name":
            lvl, v = _family(arrays, il, ir, bands)
            cols.append(lvl)
            tf[c.name] = v
        elif c.name == "given_name":
            lvl, v = _given(arrays, il, ir, bands)
            cols.append(lvl)
            tf[c.name] = v
        elif c.name == "birth_date":
            cols.append(_birth_date(arrays, il, ir))
        elif c.name == "postcode":
            cols.append(_postcode(arrays, il, ir))
        elif c.name == "sex":
            x, y = arrays.sex[il], arrays.sex[ir]
            lvl = (x == y).astype(np.int8)
            lvl[(x == 0) | (y == 0)] = MISSING
            cols.append(lvl)
        else:
            cols.append(_link_field(arrays, c.name, il, ir, bands))
    levels = np.stack(cols, axis=1) if cols else np.empty((len(il), 0), np.int8)
    return Compared(levels=levels.astype(np.int8), tf_values=tf)


def pattern_strings(levels: np.ndarray) -> np.ndarray:
    """Readable pattern per row: one character per comparison, its level or '-' when missing."""
    chars = np.array(list("-0123456789"))
    if len(levels) == 0:
        return np.empty(0, dtype=object)
    # one string per distinct pattern (a few hundred), shared by every pair that has it
    if levels.shape[1] <= 18:  # 11**18 < 2**63
        code = np.zeros(len(levels), dtype=np.int64)
        for k in range(levels.shape[1]):
            code = code * 11 + (levels[:, k].astype(np.int64) + 1)
        _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    else:
        _, first, inverse = np.unique(levels, axis=0, return_index=True, return_inverse=True)
    names = np.array(["".join(r) for r in chars[levels[first].astype(np.int64) + 1]], dtype=object)
    return names[inverse.ravel()]
