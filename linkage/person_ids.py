"""Stable person ids: a cluster keeps the id of the previous person most of its records had."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd


def assign_person_ids(record_ids: np.ndarray, labels: np.ndarray, previous: Mapping[str, str] | None,
                      new_person_id: Callable[[], str]) -> tuple[np.ndarray, dict]:
    """Person id per record, and a report of kept, new, merged and split persons.

    Rule: count, for every (cluster, previous person) the records they share; take these overlaps
    largest first (ties: smaller previous id, then smaller cluster) and give the cluster that previous
    id when neither is taken yet; every other cluster gets `new_person_id()`.
    """
    prev = pd.Series(previous or {}, dtype=object)
    frame = pd.DataFrame({"record_id": record_ids, "cluster": labels})
    frame["old"] = frame["record_id"].map(prev) if len(prev) else None
    known = frame.dropna(subset=["old"])
    overlap = known.groupby(["cluster", "old"]).size().reset_index(name="n")
    overlap = overlap.sort_values(["n", "old", "cluster"], ascending=[False, True, True], kind="stable")
    given: dict[int, str] = {}
    used: set[str] = set()
    for cl, old in zip(overlap["cluster"].to_numpy(), overlap["old"].to_numpy(), strict=True):
        if cl in given or old in used:
            continue
        given[int(cl)] = str(old)
        used.add(str(old))
    n_clusters = int(labels.max()) + 1 if len(labels) else 0
    ids = []
    fresh = 0
    for cl in range(n_clusters):
        if cl in given:
            ids.append(given[cl])
        else:
            ids.append(new_person_id())
            fresh += 1
    person = np.array(ids, dtype=object)[labels] if len(labels) else np.empty(0, object)
    olds_per_cluster = known.groupby("cluster")["old"].nunique()
    clusters_per_old = known.groupby("old")["cluster"].nunique()
    previous_persons = set(prev.unique()) if len(prev) else set()
    report = {
        "persons": n_clusters,
        "kept_ids": len(given),
        "new_ids": fresh,
        "merges": int((olds_per_cluster > 1).sum()),
        "splits": int((clusters_per_old > 1).sum()),
        "retired_ids": len(previous_persons - used),
    }
    return person, report
