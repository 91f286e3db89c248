"""Second pass: attach records without names (a file keyed by numbers only) to persons, with the prior of what is left.

A record that has no names and was not linked (its number matched no record) can only be matched on
birth date, sex and address. Against all pairs that evidence is weak, but only a few records are left
open and only a few persons are still without a number: among those, the prior odds that a given open
record is a given person are about 1 / (open records), far better than 1 / (all pairs). Evidence is the
person's best record; a link needs the model's link threshold and must be the mutual best choice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from linkage.arrays import member


def attach_open_records(labels: np.ndarray, left: np.ndarray, right: np.ndarray, evidence: np.ndarray,
                        named: np.ndarray, file_code: np.ndarray, numbers: dict[str, np.ndarray],
                        link_weight: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """New cluster labels, the candidate-pair indices that attached a record, and a small report."""
    sizes = np.bincount(labels)
    open_rec = (sizes[labels] == 1) & ~named
    n_open = int(open_rec.sum())
    report: dict[str, int | float | None] = {"open_records": n_open, "attached": 0, "prior_weight": None}
    if n_open == 0 or len(left) == 0:
        return labels, np.empty(0, np.int64), report
    one_open = open_rec[left] ^ open_rec[right]
    idx = np.flatnonzero(one_open)
    o = np.where(open_rec[left[idx]], left[idx], right[idx])
    r = np.where(open_rec[left[idx]], right[idx], left[idx])
    cl = labels[r]
    # a person that already has a number of a kind the open record also has, or a record of its file,
    # cannot take it (the number would have linked it, or the file would hold two records of one person)
    n_clusters = int(labels.max()) + 1
    ok = np.ones(len(idx), dtype=bool)
    for col in numbers.values():
        per_cluster = np.zeros(n_clusters, dtype=np.int64)
        has = col != 0
        per_cluster[labels[has]] = col[has]
        ok &= (per_cluster[cl] == 0) | (col[o] == 0) | (per_cluster[cl] == col[o])
    n_files = np.int64(int(file_code.max()) + 1)
    ok &= ~member(cl * n_files + file_code[o], labels * n_files + file_code)  # that person has that file
    if not ok.any():
        return labels, np.empty(0, np.int64), report
    prior = -float(np.log2(n_open))
    frame = pd.DataFrame({"pair": idx[ok], "o": o[ok], "c": cl[ok], "w": evidence[idx[ok]] + prior})
    best = frame.sort_values("w", ascending=False, kind="stable").drop_duplicates(["o", "c"])
    best_for_o = best.drop_duplicates("o")
    best_for_c = best.drop_duplicates("c")
    chosen = best_for_o.merge(best_for_c[["o", "c"]], on=["o", "c"])
    chosen = chosen[chosen["w"] >= link_weight]
    new = labels.copy()
    new[chosen["o"].to_numpy()] = chosen["c"].to_numpy()
    _, new = np.unique(new, return_inverse=True)
    report.update(attached=int(len(chosen)), prior_weight=prior)
    return new.astype(np.int64), chosen["pair"].to_numpy(np.int64), report
