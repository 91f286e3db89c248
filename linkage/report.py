"""The quality report of a link job: a JSON-able dict of counts and charts' data, and its HTML page."""

from __future__ import annotations

from html import escape
from importlib import resources
from string import Template
from typing import TypedDict

import numpy as np

from linkage import svg
from linkage.arrays import FeatureArrays
from linkage.blocking import Candidates
from linkage.compare import Comparison
from linkage.decide import LINK_CODE, REVIEW_CODE
from linkage.model import Model, probability


class WaterfallStep(TypedDict):
    """One bar of a pattern's weight waterfall: the prior, or a comparison at the level the pattern has."""

    comparison: str
    level: str
    weight: float


def _source_pair(a: str, b: str) -> str:
    return "|".join(sorted((a, b)))


def build_report(*, arrays: FeatureArrays, comparisons: list[Comparison], model: Model, cands: Candidates,
                 levels: np.ndarray, weight: np.ndarray, decision: np.ndarray, deterministic: np.ndarray,
                 labels: np.ndarray, refusals: np.ndarray, quality: dict, patterns: np.ndarray,
                 counts: np.ndarray, id_report: dict, thresholds: tuple[float, float], extra_links: int,
                 contradicted: int) -> dict:
    """Everything the operator sees of a job: never a value, only counts, weights and patterns."""
    linked = decision == LINK_CODE
    same = labels[cands.left] == labels[cands.right]
    by_pair: dict[str, dict[str, int]] = {}
    for name, mask in (("candidates", np.ones(len(decision), bool)), ("links", linked), ("in_one_person", same),
                       ("review", decision == REVIEW_CODE)):
        if not mask.any():
            continue
        a, b = arrays.source_code[cands.left[mask]], arrays.source_code[cands.right[mask]]
        n_src = max(len(arrays.sources), 1)
        code = np.minimum(a, b) * n_src + np.maximum(a, b)
        cnt = np.bincount(code, minlength=n_src * n_src)
        for cell in np.flatnonzero(cnt):
            pair = _source_pair(arrays.sources[cell // n_src], arrays.sources[cell % n_src])
            by_pair.setdefault(pair, {})[name] = int(cnt[cell])
    sizes = np.bincount(np.bincount(labels)) if len(labels) else np.zeros(1, int)
    hist_edges = np.arange(np.floor(min(weight.min(initial=0), -20)), np.ceil(max(weight.max(initial=0), 20)) + 1, 2.0)
    hist, _ = np.histogram(weight, bins=hist_edges)
    lw = model.level_weights()
    waterfalls = []
    order = np.argsort(-counts)[:12]
    for p in order:
        steps: list[WaterfallStep] = [{"comparison": "prior", "level": "", "weight": model.prior_weight}]
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
        for k in range(len(arrays.sources)):  # a source bit per person (ufunc.at is slow at millions)
            has = np.zeros(len(bits), dtype=bool)
            has[labels[arrays.source_code == k]] = True
            bits |= has.astype(np.int64) << k
        masks, cnt = np.unique(bits, return_counts=True)
        for mask, persons in zip(masks, cnt, strict=True):
            key = "+".join(sorted(s for k, s in enumerate(arrays.sources) if mask >> k & 1))
            persons_per_sources[key] = int(persons)
    new_links = np.bincount(cands.first_pass[linked].astype(np.int64), minlength=len(cands.report))
    passes = [{**p, "new_links": int(n)} for p, n in zip(cands.report, new_links, strict=True)]
    refused_by_reason: dict[str, int] = {}
    for why in refusals[refusals != ""]:
        refused_by_reason[str(why)] = refused_by_reason.get(str(why), 0) + 1
    return {
        "records": int(arrays.n),
        "records_per_source": {s: int((arrays.source_code == k).sum()) for k, s in enumerate(arrays.sources)},
        "export_files": len(arrays.files),
        "blocking": {"passes": passes, "candidate_pairs": int(len(cands.left))},
        "model": model.to_dict(),
        "thresholds": {"link": thresholds[0], "review": thresholds[1]},
        "decisions": {"deterministic_links": int((deterministic & (decision == LINK_CODE)).sum()),
                      "probabilistic_links": int((~deterministic & (decision == LINK_CODE)).sum()),
                      "review": int((decision == REVIEW_CODE).sum()),
                      "contradicted_deterministic": contradicted,
                      "accepted_reviews_outside_candidates": extra_links,
                      "refused_links": refused_by_reason},
        "weight_histogram": {"edges": hist_edges.tolist(), "counts": hist.astype(int).tolist()},
        "waterfalls": waterfalls,
        "links_per_source_pair": by_pair,
        "cluster_sizes": {str(k): int(v) for k, v in enumerate(sizes) if k > 0 and v > 0},
        "persons_by_sources": dict(sorted(persons_per_sources.items(), key=lambda kv: -kv[1])),
        "estimated_quality": quality,
        "review_count": int((decision == REVIEW_CODE).sum()),
        "person_ids": id_report,
    }


def _tile(label: str, value: str) -> str:
    return f'<div class="tile"><b>{escape(value)}</b>{escape(label)}</div>'


def _weight_of(probability_value: float) -> float:
    p = min(max(probability_value, 1e-12), 1 - 1e-12)
    return float(np.log2(p / (1 - p)))


def render_html(report: dict) -> str:
    """The report as one self-contained HTML page (inline SVG, no scripts, works offline); never values."""
    parts: list[str] = ["<h1>Link job quality report</h1>"]
    q = report.get("estimated_quality", {})
    d = report.get("decisions", {})
    tiles = [("records", f"{report.get('records', 0):,}"),
             ("persons", f"{report.get('person_ids', {}).get('persons', 0):,}"),
             ("candidate pairs", f"{report.get('blocking', {}).get('candidate_pairs', 0):,}"),
             ("deterministic links", f"{d.get('deterministic_links', 0):,}"),
             ("probabilistic links", f"{d.get('probabilistic_links', 0):,}"),
             ("pairs to review", f"{report.get('review_count', 0):,}"),
             ("estimated precision", f"{q.get('precision', 0):.4f}"),
             ("estimated recall", f"{q.get('recall', 0):.4f}")]
    parts.append('<div class="tiles">' + "".join(_tile(a, b) for a, b in tiles) + "</div>")
    warnings = report.get("warnings", [])
    if warnings:
        parts.append("<h2>Warnings</h2><ul>" + "".join(
            f"<li>{escape(w['message'])} <span class='note'>(look at {escape(w['setting'])})</span></li>"
            for w in warnings) + "</ul>")
    if "settings_changed" in report:
        changed = ", ".join(report["settings_changed"]) or "none: the defaults"
        parts.append(f"<p class='note'>Settings changed from the defaults: {escape(changed)}. The job's settings "
                     "file is printed by <code>ttp link show JOB</code>.</p>")
    parts.append('<p class="note">Estimated precision and recall are the model\'s own expectation for the '
                 "probabilistic links (not measured against any truth). Deterministic links share a keyed "
                 "BSN or onderwijsnummer.</p>")

    hist = report.get("weight_histogram", {})
    th = report.get("thresholds", {})
    marks = {"link": _weight_of(th["link"]), "review": _weight_of(th["review"])} if th else {}
    parts.append("<h2>Match weights of the candidate pairs</h2>")
    parts.append(svg.histogram(hist.get("edges", []), hist.get("counts", []), "match weight histogram", marks))
    parts.append('<p class="note">Match weight = log2 of the odds that a pair is one child. Pairs right of '
                 "'link' are linked, between 'review' and 'link' they go to clerical review.</p>")

    parts.append("<h2>What each comparison level is worth</h2>")
    model = report.get("model", {})
    for comp in model.get("comparisons", []):
        rows = [(f"{lv['label']} (m {lv['m']:.3f}, u {lv['u']:.4f})", lv["weight"]) for lv in comp["levels"]]
        kind = "fixed m (identifier)" if comp.get("fixed_m") else "m by EM"
        tf = ", term-frequency adjusted on exact agreement" if comp.get("tf_adjusted") else ""
        parts.append(f"<h3>{escape(comp['name'])} <span class='note'>({kind}{tf})</span></h3>")
        parts.append(svg.diverging_bars(rows, f"weights of {comp['name']}", " bits"))
    training = model.get("training", {})
    parts.append(f'<p class="note">EM: {training.get("em_iterations", "?")} iterations over '
                 f'{training.get("patterns", 0):,} distinct patterns of {training.get("pairs", 0):,} pairs, '
                 f'converged: {training.get("em_converged")}. u from {training.get("u_sample_pairs", 0):,} '
                 f'random pairs. Match share {model.get("match_share", 0):.3g} of all pairs.</p>')

    parts.append("<h2>How a pattern adds up (the most common patterns)</h2>")
    for wf in report.get("waterfalls", [])[:8]:
        steps = [(s["comparison"] + (f": {s['level']}" if s["level"] else ""), s["weight"]) for s in wf["steps"]]
        parts.append(f"<details><summary>pattern <code>{escape(wf['pattern'])}</code>: {wf['pairs']:,} pairs, "
                     f"weight {wf['weight']:+.1f}, probability {wf['probability']:.4f}</summary>"
                     + svg.waterfall(steps, f"waterfall of pattern {wf['pattern']}") + "</details>")

    parts.append("<h2>Links per source pair</h2>")
    per = report.get("links_per_source_pair", {})
    sources = list(report.get("records_per_source", {}))
    values = {}
    for key, counts in per.items():
        a, _, b = key.partition("|")
        values[(a, b)] = counts.get("in_one_person", 0)
    parts.append(svg.heatmap(sources, values, "record pairs placed in one person per source pair"))
    parts.append('<p class="note">Record pairs placed in one person, per pair of sources.</p>')

    parts.append("<h2>Persons</h2>")
    sizes = report.get("cluster_sizes", {})
    parts.append(svg.bars([(f"{k} record(s)", v) for k, v in sizes.items()], "persons by number of records",
                          log=True))
    combos = list(report.get("persons_by_sources", {}).items())[:12]
    parts.append(svg.bars(combos, "persons by the sources they appear in"))
    ids = report.get("person_ids", {})
    parts.append('<div class="tiles">' + "".join(_tile(k.replace("_", " "), f"{v:,}") for k, v in ids.items())
                 + "</div>")

    parts.append("<h2>Blocking</h2>")
    passes = report.get("blocking", {}).get("passes", [])
    parts.append(svg.bars([(p["pass"], p["new_pairs"]) for p in passes], "new candidate pairs per pass", log=True))
    skipped = [p for p in passes if p.get("skipped_blocks")]
    if skipped:
        parts.append("<p class='note'>Blocks above the size cap were skipped: "
                     + ", ".join(f"{escape(p['pass'])} {p['skipped_blocks']} blocks" for p in skipped) + ".</p>")
    refused = d.get("refused_links", {})
    if refused:
        parts.append("<h2>Links refused while clustering</h2>")
        parts.append(svg.bars(list(refused.items()), "refused links by reason"))
    timings = report.get("timings", {})
    if timings:
        parts.append("<h2>Time per stage</h2>")
        parts.append(svg.bars([(k, v * 1000) for k, v in timings.items()], "milliseconds per stage"))
    template = Template(resources.files("linkage").joinpath("templates/report.html").read_text("utf-8"))
    return template.substitute(title="Link job quality report", body="\n".join(parts))
