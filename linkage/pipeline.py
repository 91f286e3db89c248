"""A link job: features in, persons out (block, compare, fit, decide, cluster, keep ids stable)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from linkage import report as report_mod
from linkage.arrays import HASH_COLUMNS, FeatureArrays, check_features, to_arrays
from linkage.blocking import Candidates, block
from linkage.cluster import cluster
from linkage.compare import Comparison, compare, comparisons_for, pattern_strings
from linkage.decide import (
    DECISIONS,
    LINK,
    LINK_CODE,
    NONLINK,
    NONLINK_CODE,
    REVIEW,
    REVIEW_CODE,
    choose_thresholds,
    decide,
    expected_quality,
    review_index,
)
from linkage.em import count_patterns, merge_counts
from linkage.errors import LinkError
from linkage.guidance import link_guidance
from linkage.model import estimate_u, fit_model, probability
from linkage.parallel import map_ordered
from linkage.person_ids import assign_person_ids
from linkage.residual import attach_open_records
from linkage.settings import LinkSettings, missing_features

Progress = Callable[[str, int, int | None], None]
VERDICTS = ["accept", "reject"]  # reviewed code 1 = accept, 2 = reject (0 = not reviewed)
NUMBER_COMPARISONS = {"bsn": "bsn", "onderwijsnummer": "onr"}


@dataclass
class LinkResult:
    """What a link job hands back (architecture.md), plus the candidates for blocking-recall checks."""

    person_map: pd.DataFrame
    pairs: pd.DataFrame
    model: dict
    report: dict
    candidates: Candidates | None = None
    record_ids: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)
    engine: dict = field(default_factory=dict)  # what an engine measured of itself (dask: bytes shuffled)


def compare_partitions(arrays: FeatureArrays, cands: Candidates, comparisons: list[Comparison],
                       settings: LinkSettings, progress: Progress | None = None
                       ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Levels, agreeing tf values and summed pattern counts, computed one partition of pairs at a time."""
    n = len(cands.left)
    level_parts, count_parts = [], []
    tf_parts: dict[str, list[np.ndarray]] = {}
    done = 0
    lock = threading.Lock()  # partitions finish on several threads; progress is told one at a time

    def one_partition(start: int):
        nonlocal done
        il, ir = cands.left[start:start + settings.chunk_pairs], cands.right[start:start + settings.chunk_pairs]
        cmp = compare(arrays, il, ir, comparisons, settings)
        counts = count_patterns(cmp.levels) if len(il) else None
        with lock:
            done += len(il)
            if progress:
                progress("compare", min(done, n), n)
        return cmp, counts

    for cmp, counts in map_ordered(one_partition, range(0, max(n, 1), settings.chunk_pairs), settings.threads):
        level_parts.append(cmp.levels)
        for k, v in cmp.tf_values.items():
            tf_parts.setdefault(k, []).append(v)
        if counts is not None:
            count_parts.append(counts)
    levels = np.concatenate(level_parts) if level_parts else np.empty((0, len(comparisons)), np.int8)
    tf = {k: np.concatenate(v) for k, v in tf_parts.items()}
    if count_parts:
        patterns, counts = merge_counts(count_parts)
    else:
        patterns, counts = np.empty((0, len(comparisons)), np.int8), np.empty(0, np.int64)
    return levels, tf, patterns, counts


def check_link_settings(settings: LinkSettings, columns: Iterable[str]) -> None:
    """Refuse settings whose blocking passes read a link field no batch has (most often a misspelt name),
    from the feature frame's column names, before any engine starts; a `LinkError` in one line."""
    names = set(columns)
    hashes = {c for c in names if c in HASH_COLUMNS or (c.startswith("link_") and not c.endswith("_bf"))}
    blooms = {c for c in names if c.startswith("link_") and c.endswith("_bf")}
    missing = missing_features(settings, hashes, blooms)
    if missing:
        name, feature = missing[0]
        known = sorted(c.removeprefix("link_") for c in hashes if c.startswith("link_"))
        raise LinkError(f"settings: blocking pass {name!r} reads {feature!r}, but no linked batch has link field "
                        f"{feature.removeprefix('link_').removesuffix('_bf')!r} "
                        f"(link fields: {', '.join(known) or 'none'})")


def stopwatch() -> tuple[dict[str, float], Callable[[str], None]]:
    """Stage timings, and the function that closes a stage: its seconds since the stage before."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = round(now - clock, 4)
        clock = now

    return timings, lap


def link(features: pd.DataFrame, *, settings: LinkSettings | None = None,
         previous: Mapping[str, str] | None = None, reviews: Mapping[tuple[str, str], str] | None = None,
         new_person_id: Callable[[], str], progress: Progress | None = None) -> LinkResult:
    """Link the records of a feature frame into persons (see docs/linkage.md for every step)."""
    settings = settings or LinkSettings()
    timings, lap = stopwatch()
    check_features(features)
    check_link_settings(settings, features.columns)
    arrays = to_arrays(features)
    record_ids = features["record_id"].astype(str).to_numpy()
    lap("prepare")
    cands = block(arrays, settings)
    if progress:
        progress("block", len(cands.left), len(cands.left))
    lap("block")
    comparisons = comparisons_for(arrays, settings)
    levels, tf, patterns, counts = compare_partitions(arrays, cands, comparisons, settings, progress)
    return link_compared(arrays, record_ids, cands, comparisons, levels, tf, patterns, counts,
                         lambda used: estimate_u(arrays, used, settings), settings=settings, previous=previous,
                         reviews=reviews, new_person_id=new_person_id, progress=progress, timings=timings,
                         lap=lap)


def link_compared(arrays: FeatureArrays, record_ids: np.ndarray, cands: Candidates, comparisons: list[Comparison],
                  levels: np.ndarray, tf: dict[str, np.ndarray], patterns: np.ndarray, counts: np.ndarray,
                  u_for: Callable[[list[Comparison]], list[np.ndarray]], *, settings: LinkSettings,
                  previous: Mapping[str, str] | None, reviews: Mapping[tuple[str, str], str] | None,
                  new_person_id: Callable[[], str], progress: Progress | None, timings: dict[str, float],
                  lap: Callable[[str], None]) -> LinkResult:
    """The stages after comparison, shared by every engine: fit, decide, apply reviews, cluster, keep ids.

    `arrays` needs only the columns these stages read (numbers, names, file and source codes): an engine
    that compared elsewhere hands a slim one. `u_for` gives u for the comparisons that have data.
    """
    used = [k for k in range(len(comparisons)) if (patterns[:, k] >= 0).any()] if len(patterns) else []
    if len(used) < len(comparisons):  # a comparison without data on either side has nothing to learn
        comparisons = [comparisons[k] for k in used]
        levels, patterns = levels[:, used], patterns[:, used]
        tf = {k: v for k, v in tf.items() if k in {c.name for c in comparisons}}  # dropped columns were all -1
    lap("compare")
    model = fit_model(arrays, comparisons, patterns, counts, settings, u=u_for(comparisons))
    if progress:
        progress("model", 1, 1)
    lap("model")
    other_cols = [k for k, c in enumerate(comparisons) if c.fixed_m is None]
    weight, number_free = np.empty(len(levels)), np.empty(len(levels))
    for s in range(0, len(levels), settings.chunk_pairs):  # the pairs × comparisons weights, a part at a time
        part = model.partial_weights(levels[s:s + settings.chunk_pairs],
                                     {k: v[s:s + settings.chunk_pairs] for k, v in tf.items()})
        weight[s:s + settings.chunk_pairs] = model.prior_weight + part.sum(axis=1)
        number_free[s:s + settings.chunk_pairs] = part[:, other_cols].sum(axis=1)
    prob = probability(weight)
    number_cols = [k for k, c in enumerate(comparisons) if c.name in NUMBER_COMPARISONS]
    agree = (levels[:, number_cols] == 1).any(axis=1) if number_cols else np.zeros(len(levels), bool)
    disagree = (levels[:, number_cols] == 0).any(axis=1) if number_cols else np.zeros(len(levels), bool)
    deterministic = agree & ~disagree
    contradicted = deterministic & (number_free < settings.contradiction_weight)
    link_t, review_t = choose_thresholds(prob[~deterministic], minimum=settings.min_link_threshold,
                                         link=settings.link_threshold, review=settings.review_threshold)
    decision = decide(prob, deterministic, contradicted, link_t, review_t)
    twins = np.zeros(len(decision), dtype=bool)
    if settings.given_name_disagreement_reviews:
        twins = twin_signature(levels, comparisons) & ~deterministic
        decision[twins & (decision == LINK_CODE)] = REVIEW_CODE
    lap("decide")

    # clerical reviews from earlier runs
    n = np.int64(max(arrays.n, 1))
    reviewed = np.zeros(len(decision), dtype=np.int8)  # index into VERDICTS
    extra_l, extra_r, never = [], [], []
    verdicts = review_index(reviews)
    if verdicts:
        index_of = {r: i for i, r in enumerate(record_ids)}
        cand_codes = cands.left * n + cands.right  # sorted by construction
        for (a, b), verdict in verdicts.items():
            if a not in index_of or b not in index_of:
                continue
            i, j = sorted((index_of[a], index_of[b]))
            pos = int(np.searchsorted(cand_codes, i * n + j))
            found = pos < len(cand_codes) and cand_codes[pos] == i * n + j
            if found:
                reviewed[pos] = VERDICTS.index(verdict) + 1
                decision[pos] = LINK_CODE if verdict == "accept" else NONLINK_CODE
            if verdict == "reject":
                never.append((i, j))
            elif not found:
                extra_l.append(i)
                extra_r.append(j)

    accepted = reviewed == 1
    linked = decision == LINK_CODE
    strength = np.where(deterministic, 1e6, 0.0) + weight
    strength[accepted] = 1e9
    e_left = np.r_[cands.left[linked], np.array(extra_l, np.int64)]
    e_right = np.r_[cands.right[linked], np.array(extra_r, np.int64)]
    e_strength = np.r_[strength[linked], np.full(len(extra_l), 1e9)]
    numbers = {k: arrays.column(k) for k in ("bsn", "onr")}
    strong = (deterministic & ~contradicted) | (prob >= settings.within_file_probability) | accepted
    e_strong = np.r_[strong[linked], np.ones(len(extra_l), bool)]
    # twins stay apart also through other records (a nameless record links to either twin), when
    # the given names were really comparable (not a roepnaam-only record against a given-names-only one)
    g1, pr = arrays.column("given1") != 0, arrays.column("pref") != 0
    comparable = (g1[cands.left] & g1[cands.right]) | (pr[cands.left] & pr[cands.right])
    gk = [k for k, c in enumerate(comparisons) if c.name == "given_name"]
    other_name = levels[:, gk[0]] == 0 if gk else np.zeros(len(levels), bool)  # not even the initial agrees
    apart = twins & comparable & other_name
    never_pairs = np.concatenate([np.asarray(never, dtype=np.int64).reshape(-1, 2),
                                  np.column_stack([cands.left[apart], cands.right[apart]])])
    labels, refused = cluster(arrays.file_code, numbers, e_left, e_right, e_strength, never_pairs, e_strong)
    named = np.zeros(arrays.n, dtype=bool)
    for col in ("fam", "given", "given1", "pref"):
        named |= arrays.column(col) != 0
    link_weight = float(np.log2(link_t / (1 - link_t))) if link_t < 1 else np.inf
    labels, attached, residual_report = attach_open_records(
        labels, cands.left, cands.right, weight - model.prior_weight, named, arrays.file_code, numbers,
        link_weight)
    decision[attached] = LINK_CODE
    lap("cluster")
    person, id_report = assign_person_ids(record_ids, labels, previous, new_person_id)
    lap("person_ids")

    refusal = np.full(int(linked.sum()), "", dtype=object)  # per linked candidate pair
    refusal[:] = refused[: int(linked.sum())]
    same_person = labels[cands.left] == labels[cands.right]
    keep = (prob >= min(review_t, 0.001)) | deterministic | (reviewed != 0) | same_person
    refused_all = np.full(len(decision), "", dtype=object)
    refused_all[np.flatnonzero(linked)] = refusal
    stages = np.array(["probabilistic", "deterministic"], dtype=object)
    pairs = pd.DataFrame({
        "record_id_l": record_ids[cands.left[keep]], "record_id_r": record_ids[cands.right[keep]],
        "pattern": pattern_strings(levels[keep]), "weight": weight[keep], "probability": prob[keep],
        "decision": DECISIONS[decision[keep]], "stage": stages[deterministic[keep].astype(np.int8)],
        "refused": refused_all[keep], "same_person": same_person[keep],
        "reviewed": np.array(["", *VERDICTS], dtype=object)[reviewed[keep]],
    }, copy=False)  # fresh columns: no consolidating copy (1.5 GB transient at a million persons)
    person_map = pd.DataFrame({"record_id": record_ids, "person_id": person})
    model_dict = model.to_dict()
    model_dict["thresholds"] = {"link": link_t, "review": review_t,
                                "contradiction_weight": settings.contradiction_weight}
    quality = expected_quality(prob[~deterministic], link_t)
    rep = report_mod.build_report(
        arrays=arrays, comparisons=comparisons, model=model, cands=cands, levels=levels, weight=weight,
        decision=decision, deterministic=deterministic, labels=labels, refusals=refusal, quality=quality,
        patterns=patterns, counts=counts, id_report=id_report, thresholds=(link_t, review_t),
        extra_links=len(extra_l), contradicted=int(contradicted.sum()))
    lap("report")
    rep["timings"] = timings
    rep["open_records"] = residual_report
    rep["warnings"] = link_guidance(rep)
    if progress:
        progress("done", 1, 1)
    return LinkResult(person_map=person_map, pairs=pairs, model=model_dict, report=rep, candidates=cands,
                      record_ids=record_ids, timings=timings)


def twin_signature(levels: np.ndarray, comparisons: list[Comparison]) -> np.ndarray:
    """Pairs that look like twins: given names disagree (at most the initial agrees), family names are at
    least similar and birth dates agree."""
    col = {c.name: k for k, c in enumerate(comparisons)}
    if not {"given_name", "family_name", "birth_date"} <= set(col):
        return np.zeros(len(levels), dtype=bool)
    dob = levels[:, col["birth_date"]]
    given = levels[:, col["given_name"]]
    return ((given >= 0) & (given <= comparisons[col["given_name"]].levels.index("initial"))
            & (levels[:, col["family_name"]] >= 1)  # any similarity: a typo in a twin's surname
            & (dob >= comparisons[col["birth_date"]].levels.index("day_month_swapped")))


__all__ = ["LinkResult", "link", "link_compared", "LINK", "REVIEW", "NONLINK"]
