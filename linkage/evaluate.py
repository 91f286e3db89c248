"""Pairwise precision, recall and F1 of a person map against labelled truth, overall and per source pair."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _pairs_in_groups(frame: pd.DataFrame, keys: list[str]) -> dict[str, int]:
    """Pairs of records sharing all `keys`, counted per source pair (n·(n−1)/2 within a source, nx·ny across)."""
    per = frame.groupby([*keys, "source"], observed=True).size().rename("n").reset_index()
    per["group"] = per.groupby(keys, observed=True).ngroup()
    per["source"] = per["source"].astype(str)
    n = per["n"].to_numpy(dtype=np.int64)
    within = pd.Series(n * (n - 1) // 2, index=per["source"].to_numpy()).groupby(level=0).sum()
    out = {f"{s}|{s}": int(v) for s, v in within.items() if v}
    cross = per[["group", "source", "n"]].merge(per[["group", "source", "n"]], on="group")
    cross = cross[cross["source_x"] < cross["source_y"]]
    counts = (cross["n_x"].to_numpy(dtype=np.int64) * cross["n_y"].to_numpy(dtype=np.int64))
    summed = pd.Series(counts).groupby([cross["source_x"].to_numpy(), cross["source_y"].to_numpy()]).sum()
    pairs = summed.index  # a two-level index: (source_x, source_y)
    for a, b, v in zip(pairs.get_level_values(0), pairs.get_level_values(1), summed.to_numpy(), strict=True):
        out[f"{a}|{b}"] = out.get(f"{a}|{b}", 0) + int(v)
    return out


def _twins(frame: pd.DataFrame) -> tuple[int, int]:
    """Twin pairs whose both entities have records here, and how many of them share a person."""
    entities = frame["entity_id"].drop_duplicates()
    tw = frame.loc[frame["twin_of"].notna(), ["entity_id", "twin_of"]]
    tw = tw[tw["twin_of"].isin(entities)]
    a = tw["entity_id"].where(tw["entity_id"] <= tw["twin_of"], tw["twin_of"])
    b = tw["twin_of"].where(tw["entity_id"] <= tw["twin_of"], tw["entity_id"])
    pairs = pd.DataFrame({"a": a.to_numpy(), "b": b.to_numpy()}).drop_duplicates()
    held = frame[["entity_id", "person_id"]].drop_duplicates()
    shared = (pairs.merge(held.rename(columns={"entity_id": "a"}), on="a")
              .merge(held.rename(columns={"entity_id": "b"}), on=["b", "person_id"]))
    return len(pairs), len(shared[["a", "b"]].drop_duplicates())


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
    out["twin_pairs"], out["twins_merged"] = _twins(frame)
    out["records"] = int(len(frame))
    return out


