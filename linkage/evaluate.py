"""Pairwise precision, recall and F1 of a person map against labelled truth, overall and per source pair."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _pairs_in_groups(frame: pd.DataFrame, keys: list[str]) -> dict[str, int]:
    """Pairs of records sharing all `keys`, counted per source pair."""
    per = frame.groupby([*keys, "source"]).size().rename("n").reset_index()
    out: dict[str, int] = {}
    for _, g in per.groupby(keys):
        srcs, ns = g["source"].to_numpy(), g["n"].to_numpy()
        for i in range(len(srcs)):
            if ns[i] > 1:
                k = f"{srcs[i]}|{srcs[i]}"
                out[k] = out.get(k, 0) + int(ns[i] * (ns[i] - 1) // 2)
            for j in range(i + 1, len(srcs)):
                k = "|".join(sorted((srcs[i], srcs[j])))
                out[k] = out.get(k, 0) + int(ns[i] * ns[j])
    return out


def _scores(tp: int, predicted: int, true: int) -> dict:
    precision = tp / predicted if predicted else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_positives": tp,
            "false_positives": predicted - tp, "false_negatives": true - tp}


def evaluate(records: pd.DataFrame, labels: pd.DataFrame) -> dict:
    """Pairwise scores: a pair is two records placed in one person (records) or one entity (labels).

    `records` has record_id, source, person_id; `labels` has record_id, source, entity_id, twin_of.
    Only records present in both count. `twins_merged` counts twin pairs that share a person.
    """
    lab = labels[["record_id", "entity_id", "twin_of"]]
    frame = records[["record_id", "source", "person_id"]].merge(lab, on="record_id", how="inner")
    predicted = _pairs_in_groups(frame, ["person_id"])
    true = _pairs_in_groups(frame, ["entity_id"])
    both = _pairs_in_groups(frame, ["person_id", "entity_id"])
    keys = sorted(set(predicted) | set(true))
    by_pair = {k: _scores(both.get(k, 0), predicted.get(k, 0), true.get(k, 0)) for k in keys}
    out = _scores(sum(both.values()), sum(predicted.values()), sum(true.values()))
    out["by_source_pair"] = by_pair
    twins = frame.dropna(subset=["twin_of"])
    persons_of = frame.groupby("entity_id")["person_id"].agg(set)
    merged = 0
    seen = set()
    for e, t in zip(twins["entity_id"], twins["twin_of"], strict=True):
        key = tuple(sorted((e, t)))
        if key in seen or t not in persons_of.index or e not in persons_of.index:
            continue
        seen.add(key)
        merged += bool(persons_of[e] & persons_of[t])
    out["twin_pairs"] = len(seen)
    out["twins_merged"] = merged
    out["records"] = int(len(frame))
    return out


def blocking_recall(candidates_left: np.ndarray, candidates_right: np.ndarray, first_pass: np.ndarray,
                    pass_names: list[str], record_ids: np.ndarray, labels: pd.DataFrame,
                    file_of: np.ndarray) -> dict:
    """Share of true pairs (records of one entity in different export files) blocking proposed, per pass."""
    entity = pd.Series(labels["entity_id"].to_numpy(), index=labels["record_id"]).reindex(record_ids).to_numpy()
    same = (entity[candidates_left] == entity[candidates_right]) & pd.notna(entity[candidates_left])
    frame = pd.DataFrame({"e": entity, "f": file_of}).dropna()
    per_entity = frame.groupby("e").size()
    per_file = frame.groupby(["e", "f"]).size()
    true_pairs = int((per_entity * (per_entity - 1) // 2).sum() - (per_file * (per_file - 1) // 2).sum())
    reached = int(same.sum())
    by_pass = {name: int((same & (first_pass == k)).sum()) for k, name in enumerate(pass_names)}
    return {"true_pairs": true_pairs, "reached": reached, "recall": reached / true_pairs if true_pairs else 1.0,
            "new_true_pairs_by_pass": by_pass}
