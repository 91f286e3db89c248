"""Decisions on scored pairs: thresholds from the model, deterministic links, clerical review."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from linkage.errors import LinkError

LINK, REVIEW, NONLINK = "link", "review", "nonlink"
NONLINK_CODE, REVIEW_CODE, LINK_CODE = 0, 1, 2
DECISIONS = np.array([NONLINK, REVIEW, LINK], dtype=object)  # index = code


def expected_quality(prob: np.ndarray, threshold: float) -> dict:
    """Model-estimated precision and recall of linking every pair with probability ≥ threshold."""
    linked = prob >= threshold
    tp = float(prob[linked].sum())
    fp = float((1 - prob[linked]).sum())
    fn = float(prob[~linked].sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "expected_matches": tp + fn}


def choose_thresholds(prob: np.ndarray, *, minimum: float = 0.5, link: float | None = None,
                      review: float | None = None, missed_share: float = 0.001) -> tuple[float, float]:
    """Link threshold maximising the model-expected F1 (not below `minimum`), and the review threshold.

    The review band starts where the pairs below it hold at most `missed_share` of the expected matches.
    """
    prob = prob[prob > 1e-9]  # the rest add nothing to expected counts and would only cost sorting
    p = np.sort(prob)[::-1]
    if link is None:
        if len(p) == 0:
            link = max(minimum, 0.5)
        else:
            tp = np.cumsum(p)
            fp = np.cumsum(1 - p)
            total = p.sum()
            f1 = 2 * tp / (tp + fp + total)
            ok = p >= minimum
            link = float(p[ok][np.argmax(f1[ok])]) if ok.any() else minimum
            link = max(link, minimum)
    if review is None:
        asc = np.sort(prob)
        below = np.cumsum(asc)
        limit = missed_share * max(float(asc.sum()), 1e-12)
        k = int(np.searchsorted(below, limit, side="right"))
        review = float(asc[k]) if k < len(asc) else link
        review = min(max(review, 0.01), link)
    return float(link), float(review)


def decide(prob: np.ndarray, deterministic: np.ndarray, contradicted: np.ndarray, link: float,
           review: float) -> np.ndarray:
    """Decision code per pair (see DECISIONS): deterministic links unless contradicted, else by probability."""
    out = np.zeros(len(prob), dtype=np.int8)
    out[prob >= review] = REVIEW_CODE
    out[prob >= link] = LINK_CODE
    out[deterministic] = LINK_CODE
    out[deterministic & contradicted] = REVIEW_CODE
    return out


def review_index(reviews: Mapping[tuple[str, str], str] | None) -> dict[tuple[str, str], str]:
    """Reviews keyed by the ordered record-id pair; anything but accept/reject is an error."""
    out: dict[tuple[str, str], str] = {}
    for (a, b), verdict in (reviews or {}).items():
        if verdict not in ("accept", "reject"):
            raise LinkError(f"review verdict must be accept or reject, not {verdict!r}")
        out[(min(a, b), max(a, b))] = verdict
    return out
