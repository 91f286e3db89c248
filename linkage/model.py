"""The Fellegi–Sunter model: u from random pairs, m by EM over pattern counts, term-frequency weights."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from linkage import em
from linkage.arrays import FeatureArrays, unique_sorted
from linkage.compare import Comparison, compare
from linkage.settings import LinkSettings


@dataclass
class Model:
    """m and u per comparison level, the share of matches among candidate pairs, and term frequencies."""

    comparisons: list[Comparison]
    m: list[np.ndarray]
    u: list[np.ndarray]
    match_share: float
    tf_values: dict[str, np.ndarray] = field(default_factory=dict)  # sorted keyed values
    tf_freqs: dict[str, np.ndarray] = field(default_factory=dict)  # their share of records
    training: dict = field(default_factory=dict)

    @property
    def prior_weight(self) -> float:
        return float(np.log2(self.match_share / (1 - self.match_share)))

    def level_weights(self) -> list[np.ndarray]:
        """log2(m/u) per comparison level."""
        return [np.log2(m / u) for m, u in zip(self.m, self.u, strict=True)]

    def tf_u(self, name: str, values: np.ndarray) -> np.ndarray:
        """u of an exact agreement on each value (its frequency); NaN where no value agreed."""
        out = np.full(len(values), np.nan)
        if name not in self.tf_values:
            return out
        keys, freqs = self.tf_values[name], self.tf_freqs[name]
        hit = values != 0
        pos = np.clip(np.searchsorted(keys, values[hit]), 0, max(len(keys) - 1, 0))
        found = keys[pos] == values[hit]
        vals = np.where(found, freqs[pos], np.nan)
        out[hit] = vals
        return out

    def partial_weights(self, levels: np.ndarray,
                        tf_values: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Weight of each comparison for each pair (pairs × comparisons); 0 where missing."""
        out = np.zeros(levels.shape, dtype=np.float64)
        for k, (c, w) in enumerate(zip(self.comparisons, self.level_weights(), strict=True)):
            lv = levels[:, k].astype(np.int64)
            present = lv >= 0
            out[present, k] = w[lv[present]]
            if c.tf and tf_values is not None and c.name in tf_values:
                top = len(c.levels) - 1
                u_v = self.tf_u(c.name, tf_values[c.name])
                adjust = present & (lv == top) & ~np.isnan(u_v)
                out[adjust, k] = np.log2(self.m[k][top] / u_v[adjust])
        return out

    def weights(self, levels: np.ndarray, tf_values: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Match weight (log2 odds) of each pair, prior included."""
        return self.prior_weight + self.partial_weights(levels, tf_values).sum(axis=1)

    def to_dict(self) -> dict:
        lw = self.level_weights()
        comps = []
        for k, c in enumerate(self.comparisons):
            comps.append({
                "name": c.name, "fixed_m": c.fixed_m is not None, "tf_adjusted": c.tf,
                "levels": [{"level": i, "label": lab, "m": float(self.m[k][i]), "u": float(self.u[k][i]),
                            "weight": float(lw[k][i])} for i, lab in enumerate(c.levels)]})
        return {"comparisons": comps, "match_share": self.match_share, "prior_weight": self.prior_weight,
                "training": self.training}


def probability(weight: np.ndarray) -> np.ndarray:
    """Match probability from a log2-odds weight."""
    return 1.0 / (1.0 + np.exp2(-np.clip(weight, -1000, 1000)))


def term_frequencies(arrays: FeatureArrays, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keyed values of the columns pooled, and each one's share of the non-missing values."""
    vals = np.concatenate([arrays.column(c) for c in columns])
    vals = vals[vals != 0]
    if len(vals) == 0:
        return np.empty(0, np.int64), np.empty(0)
    keys, counts = unique_sorted(vals, return_counts=True)
    return keys, counts / len(vals)


def random_pairs(arrays: FeatureArrays, n_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random record pairs from different export files (almost all of them non-matches); from one file when
    there is only one (deduplication: `population_pairs` says which pairs the model refers to)."""
    rng = np.random.default_rng(seed)
    total = arrays.n * (arrays.n - 1) // 2
    n_pairs = int(min(n_pairs, total))
    il = rng.integers(0, arrays.n, n_pairs * 2)
    ir = rng.integers(0, arrays.n, n_pairs * 2)
    keep = arrays.file_code[il] != arrays.file_code[ir] if cross_file_pairs(arrays) else il != ir
    return il[keep][:n_pairs], ir[keep][:n_pairs]


def population_pairs(arrays: FeatureArrays) -> int:
    """The pairs u and the match share refer to: those across export files, or all of one file's pairs when
    there is one file only (without this, a deduplication would have uniform u and a match share of its
    candidates: every name-only pair a link)."""
    return cross_file_pairs(arrays) or arrays.n * (arrays.n - 1) // 2


def u_sample(arrays: FeatureArrays, settings: LinkSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The random pairs u is measured on, and which of them get the Bloom-filter comparisons too.

    Bloom-filter (Dice) comparisons are the costly ones: the first quarter of the sample (whole
    partitions of `chunk_pairs`) is plenty for them.
    """
    il, ir = random_pairs(arrays, settings.u_sample_pairs, settings.seed)
    full = np.arange(len(il)) // settings.chunk_pairs * settings.chunk_pairs < max(len(il) // 4, 1)
    return il, ir, full


def u_level_counts(arrays: FeatureArrays, il: np.ndarray, ir: np.ndarray, full: np.ndarray,
                   comparisons: list[Comparison], settings: LinkSettings) -> list[np.ndarray]:
    """Pairs per level of each comparison among sampled pairs (cheap comparisons only where not `full`)."""
    bloom_based = {"family_name", "given_name", *(c.name for c in comparisons if c.name.startswith("link_"))}
    cheap = {c.name for c in comparisons} - bloom_based
    counts = [np.zeros(len(c.levels)) for c in comparisons]
    for s in range(0, len(il), settings.chunk_pairs):
        part = slice(s, s + settings.chunk_pairs)
        for only, rows in ((None, full[part]), (cheap, ~full[part])):
            if rows.any():
                lv = compare(arrays, il[part][rows], ir[part][rows], comparisons, settings, only=only).levels
                for k, c in enumerate(comparisons):
                    x = lv[:, k].astype(np.int64)
                    counts[k] += np.bincount(x[x >= 0], minlength=len(c.levels))
    return counts


def u_from_counts(counts: list[np.ndarray], comparisons: list[Comparison]) -> list[np.ndarray]:
    """u per level from the summed level counts of random pairs."""
    u = []
    for k, c in enumerate(comparisons):
        cnt = counts[k]
        share = (cnt + 0.5) / (cnt.sum() + 0.5 * len(c.levels))
        if c.fixed_m is not None:  # numbers agree by chance about never: keep "same" tiny but not zero
            share = (cnt + np.r_[1.0, 0.5]) / (cnt.sum() + 1.5)
        u.append(share)
    return u


def estimate_u(arrays: FeatureArrays, comparisons: list[Comparison],
               settings: LinkSettings) -> list[np.ndarray]:
    """u per level from random pairs, compared partition by partition."""
    il, ir, full = u_sample(arrays, settings)
    return u_from_counts(u_level_counts(arrays, il, ir, full, comparisons, settings), comparisons)


def fit_model(arrays: FeatureArrays, comparisons: list[Comparison], patterns: np.ndarray, counts: np.ndarray,
              settings: LinkSettings, u: list[np.ndarray] | None = None) -> Model:
    """m (and the match share) by EM over pattern counts, u fixed from random pairs, numbers fixed.

    EM starts from m measured on the patterns of pairs that agree on a number (deterministic links),
    so it begins near the matches and twins (different numbers) do not pull m towards themselves.
    """
    if u is None:
        u = estimate_u(arrays, comparisons, settings)
    number_cols = [k for k, c in enumerate(comparisons) if c.fixed_m is not None]
    agree_number = np.zeros(len(patterns), dtype=bool)
    disagree_number = np.zeros(len(patterns), dtype=bool)
    for k in number_cols:
        agree_number |= patterns[:, k] == 1
        disagree_number |= patterns[:, k] == 0
    sure = agree_number & ~disagree_number
    m0 = []
    for k, c in enumerate(comparisons):
        if c.fixed_m is not None:
            m0.append(np.asarray(c.fixed_m, float))
        elif sure.any():
            m0.append(_shares(patterns[sure, k], counts[sure], len(c.levels)))
        else:
            prior = np.linspace(0.05, 1.0, len(c.levels)) ** 4
            m0.append(prior / prior.sum())
    population = float(population_pairs(arrays))
    share0 = float(max(counts[sure].sum(), 1) / max(population, 1))
    fit = em.fit(patterns, counts, m0, u, share0,
                 fix_m=[c.fixed_m is not None for c in comparisons], fix_u=[True] * len(comparisons),
                 max_iter=settings.em_max_iter, tol=settings.em_tolerance, population=population)
    tf_v, tf_f = {}, {}
    sources = {"family_name": ("fam",), "given_name": ("given",)}
    for c in comparisons:
        if c.tf and c.name in sources:
            tf_v[c.name], tf_f[c.name] = term_frequencies(arrays, sources[c.name])
    training = {"em_iterations": fit.iterations, "em_converged": fit.converged,
                "log_likelihood": fit.log_likelihood[-1] if fit.log_likelihood else None,
                "log_likelihood_trace": fit.log_likelihood[:: max(1, len(fit.log_likelihood) // 50)],
                "patterns": int(len(patterns)), "pairs": int(counts.sum()),
                "start_match_share": share0, "population_pairs": population, "u_sample_pairs": settings.u_sample_pairs,
                "m_start": [x.tolist() for x in m0]}
    return Model(comparisons=comparisons, m=fit.m, u=u, match_share=fit.match_share, tf_values=tf_v,
                 tf_freqs=tf_f, training=training)


def cross_file_pairs(arrays: FeatureArrays) -> int:
    """All record pairs from different export files (the population u and the match share refer to)."""
    per_file = np.bincount(arrays.file_code)
    return int(arrays.n * (arrays.n - 1) // 2 - (per_file * (per_file - 1) // 2).sum())


def _shares(levels: np.ndarray, counts: np.ndarray, n_levels: int) -> np.ndarray:
    lv = levels.astype(np.int64)
    present = lv >= 0
    c = np.bincount(lv[present], weights=counts[present].astype(float), minlength=n_levels)
    return (c + 0.5) / (c.sum() + 0.5 * n_levels)
