"""The quality report of a link job: a JSON-able dict of counts and charts' data, and its HTML page."""

from __future__ import annotations

import numpy as np

from linkage.arrays import FeatureArrays
from linkage.blocking import Candidates
from linkage.compare import Comparison
from linkage.decide import LINK, REVIEW
from linkage.model import Model, probability


def _source_pair(a: str, b: str) -> str:
    return "|".join(sorted((a, b)))


def build_report(*, arrays: FeatureArrays, comparisons: list[Comparison], model: Model, cands: Candidates,
                 levels: np.ndarray, weight: np.ndarray, decision: np.ndarray, stage: np.ndarray,
                 labels: np.ndarray, refused: np.ndarray, quality: dict, patterns: np.ndarray,
                 counts: np.ndarray, id_report: dict, thresholds: tuple[float, float], extra_links: int,
                 contradicted: int) -> dict:
    """Everything the operator sees of a job: never a value, only counts, weights and patterns."""
    linked = (decision == LINK) & (refused == "")
    same = labels[cands.left] == labels[cands.right]
    by_pair: dict[str, dict[str, int]] = {}
    for name, mask in (("candidates", np.ones(len(decision), bool)), ("links", linked), ("in_one_person", same),
                       ("review", decision == REVIEW)):
        if not mask.any():
            continue
        a, b = arrays.source_code[cands.left[mask]], arrays.source_code[cands.right[mask]]
        n_src = max(len(arrays.sources), 1)
        code = np.minimum(a, b) * n_src + np.maximum(a, b)
        cnt = np.bincount(code, minlength=n_src * n_src)
        for c in np.flatnonzero(cnt):
            k = _source_pair(arrays.sources[c // n_src], arrays.sources[c % n_src])
            by_pair.setdefault(k, {})[name] = int(cnt[c])
    sizes = np.bincount(np.bincount(labels)) if len(labels) else np.zeros(1, int)
    hist_edges = np.arange(np.floor(min(weight.min(initial=0), -20)), np.ceil(max(weight.max(initial=0), 20)) + 1, 2.0)
    hist, _ = np.histogram(weight, bins=hist_edges)
    lw = model.level_weights()
    waterfalls = []
    order = np.argsort(-counts)[:12]
    for p in order:
        steps = [{"comparison": "prior", "level": "", "weight": model.prior_weight}]
        for k, c in enumerate(comparisons):
            lv = int(patterns[p, k])
            if lv >= 0:
                steps.append({"comparison": c.name, "level": c.levels[lv], "weight": float(lw[k][lv])})
        total = float(sum(s["weight"] for s in steps))
        waterfalls.append({"pattern": "".join("-" if x < 0 else str(x) for x in patterns[p]),
                           "pairs": int(counts[p]), "steps": steps, "weight": total,
                           "probability": float(probability(np.array([total]))[0])})
    persons_per_sources: dict[str, int] = {}
    if len(labels):
        bits = np.zeros(int(labels.max()) + 1, dtype=np.int64)
        np.bitwise_or.at(bits, labels, np.int64(1) << arrays.source_code)
        masks, cnt = np.unique(bits, return_counts=True)
        for mask, c in zip(masks, cnt, strict=True):
            key = "+".join(sorted(s for k, s in enumerate(arrays.sources) if mask >> k & 1))
            persons_per_sources[key] = int(c)
    refusals = {}
    for why in refused[refused != ""]:
        refusals[str(why)] = refusals.get(str(why), 0) + 1
    return {
        "records": int(arrays.n),
        "records_per_source": {s: int((arrays.source_code == k).sum()) for k, s in enumerate(arrays.sources)},
        "export_files": len(arrays.files),
        "blocking": {"passes": cands.report, "candidate_pairs": int(len(cands.left))},
        "model": model.to_dict(),
        "thresholds": {"link": thresholds[0], "review": thresholds[1]},
        "decisions": {"deterministic_links": int(((stage == "deterministic") & (decision == LINK)).sum()),
                      "probabilistic_links": int(((stage == "probabilistic") & (decision == LINK)).sum()),
                      "review": int((decision == REVIEW).sum()),
                      "contradicted_deterministic": contradicted,
                      "accepted_reviews_outside_candidates": extra_links,
                      "refused_links": refusals},
        "weight_histogram": {"edges": hist_edges.tolist(), "counts": hist.astype(int).tolist()},
        "waterfalls": waterfalls,
        "links_per_source_pair": by_pair,
        "cluster_sizes": {str(k): int(v) for k, v in enumerate(sizes) if k > 0 and v > 0},
        "persons_by_sources": dict(sorted(persons_per_sources.items(), key=lambda kv: -kv[1])),
        "estimated_quality": quality,
        "review_count": int((decision == REVIEW).sum()),
        "person_ids": id_report,
    }
