"""Expectation-maximisation for Fellegi–Sunter over the counts of agreement patterns (fastLink style)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FLOOR = 1e-6


@dataclass
class EMFit:
    """m and u per comparison level, the match share, and how the iterations went."""

    m: list[np.ndarray]
    u: list[np.ndarray]
    match_share: float
    iterations: int
    converged: bool
    log_likelihood: list[float] = field(default_factory=list)


def count_patterns(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a level matrix (pairs × comparisons) and how often each occurs."""
    if len(levels) == 0:
        return np.empty((0, levels.shape[1]), levels.dtype), np.empty(0, np.int64)
    lv = levels.astype(np.int64) + 1
    radix = lv.max(axis=0) + 1
    code = np.zeros(len(lv), dtype=np.int64)
    for k in range(lv.shape[1]):
        code = code * radix[k] + lv[:, k]
    code = np.sort(code)
    first = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    counts = np.diff(np.r_[first, len(code)])
    uniq = code[first]
    patterns = np.zeros((len(uniq), lv.shape[1]), dtype=levels.dtype)
    for k in range(lv.shape[1] - 1, -1, -1):
        patterns[:, k] = uniq % radix[k] - 1
        uniq = uniq // radix[k]
    return patterns, counts.astype(np.int64)


def merge_counts(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sum pattern counts computed on separate partitions of the pairs."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        raise ValueError("no patterns to merge")
    pats = np.concatenate([p for p, _ in parts])
    cnts = np.concatenate([c for _, c in parts])
    uniq, inverse = np.unique(pats, axis=0, return_inverse=True)
    return uniq, np.bincount(inverse.ravel(), weights=cnts, minlength=len(uniq)).astype(np.int64)


def _log_probs(patterns: np.ndarray, probs: list[np.ndarray]) -> np.ndarray:
    out = np.zeros(len(patterns))
    for k, p in enumerate(probs):
        lv = patterns[:, k].astype(np.int64)
        present = lv >= 0
        out[present] += np.log(p[lv[present]])
    return out


def _normalise(p: np.ndarray) -> np.ndarray:
    total = p.sum()
    p = np.maximum(p / total if total > 0 else np.full(len(p), 1.0 / len(p)), FLOOR)
    return p / p.sum()


def fit(patterns: np.ndarray, counts: np.ndarray, m0: list[np.ndarray], u0: list[np.ndarray],
        share0: float, *, fix_m: list[bool] | None = None, fix_u: list[bool] | None = None,
        max_iter: int = 200, tol: float = 1e-7, population: float | None = None) -> EMFit:
    """EM over distinct patterns weighted by their counts: one iteration costs O(patterns × comparisons).

    `fix_m[k]` / `fix_u[k]` keep that comparison's m / u at its starting value (identifier numbers,
    u from random pairs). `population`: the number of pairs the patterns were drawn from when they are
    only the blocked candidates; the pairs left out count as non-matches, so the match share is a
    share of all pairs (as u from random pairs is). Converged when no parameter moves more than `tol`.
    """
    k_count = patterns.shape[1]
    fix_m = fix_m or [False] * k_count
    fix_u = fix_u or [False] * k_count
    m = [_normalise(np.asarray(x, float)) for x in m0]
    u = [_normalise(np.asarray(x, float)) for x in u0]
    share = float(np.clip(share0, FLOOR, 1 - FLOOR))
    c = counts.astype(float)
    total = max(float(population), c.sum()) if population else c.sum()
    trace: list[float] = []
    if total <= 0:  # nothing to learn from: keep the starting values
        return EMFit(m=m, u=u, match_share=share, iterations=0, converged=True, log_likelihood=trace)
    converged = False
    iterations = 0
    for step in range(1, max_iter + 1):
        iterations = step
        lm = np.log(share) + _log_probs(patterns, m)
        lu = np.log1p(-share) + _log_probs(patterns, u)
        top = np.maximum(lm, lu)
        trace.append(float((c * (top + np.log(np.exp(lm - top) + np.exp(lu - top)))).sum()))
        g = 1.0 / (1.0 + np.exp(np.clip(lu - lm, -700, 700)))
        wm, wu = c * g, c * (1 - g)
        new_share = float(np.clip(wm.sum() / total, FLOOR, 1 - FLOOR))
        delta = abs(new_share - share)
        new_m, new_u = [], []
        for k in range(k_count):
            lv = patterns[:, k].astype(np.int64)
            present = lv >= 0
            n_lv = len(m[k])
            if fix_m[k] or not present.any():
                new_m.append(m[k])
            else:
                new_m.append(_normalise(np.bincount(lv[present], weights=wm[present], minlength=n_lv)))
            if fix_u[k] or not present.any():
                new_u.append(u[k])
            else:
                new_u.append(_normalise(np.bincount(lv[present], weights=wu[present], minlength=n_lv)))
            delta = max(delta, float(np.abs(new_m[k] - m[k]).max()), float(np.abs(new_u[k] - u[k]).max()))
        m, u, share = new_m, new_u, new_share
        if delta < tol:
            converged = True
            break
    return EMFit(m=m, u=u, match_share=share, iterations=iterations, converged=converged,
                 log_likelihood=trace)
