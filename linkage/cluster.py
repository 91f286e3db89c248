"""Clustering records into persons: union of links, strongest first, never joining what must stay apart."""

from __future__ import annotations

import numpy as np
import pandas as pd


class _Persons:
    """Union-find whose components remember their export files, numbers and never-link partners."""

    def __init__(self, file_code: np.ndarray, numbers: dict[str, np.ndarray],
                 never: dict[int, set[int]]):
        n = len(file_code)
        self.parent = list(range(n))
        self.members: list[list[int]] = [[i] for i in range(n)]
        self.files: list[set[int]] = [{int(f)} for f in file_code]
        self.numbers: list[dict[str, int]] = [
            {k: int(v[i]) for k, v in numbers.items() if v[i] != 0} for i in range(n)]
        self.never = never

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def conflict(self, a: int, b: int, strong: bool) -> str | None:
        """Why components a and b may not be one person, or None."""
        if not strong and not self.files[a].isdisjoint(self.files[b]):
            return "same_export_file"
        na, nb = self.numbers[a], self.numbers[b]
        for kind, value in na.items():
            if nb.get(kind, value) != value:
                return f"different_{kind}"
        if self.never:
            small, large = (a, b) if len(self.members[a]) <= len(self.members[b]) else (b, a)
            for i in self.members[small]:
                for j in self.never.get(i, ()):
                    if self.find(j) == large:
                        return "rejected_in_review"
        return None

    def absorb(self, group: np.ndarray) -> None:
        """Make the records of `group` (all singletons, known not to conflict) one component."""
        root = int(group[0])
        for i in group[1:]:
            i = int(i)
            self.parent[i] = root
            self.files[root] |= self.files[i]
            for kind, value in self.numbers[i].items():
                self.numbers[root].setdefault(kind, value)
            self.members[i], self.files[i], self.numbers[i] = [], set(), {}
        self.members[root] = [int(i) for i in group]

    def union(self, a: int, b: int) -> None:
        if len(self.members[a]) < len(self.members[b]):
            a, b = b, a
        self.parent[b] = a
        self.members[a].extend(self.members[b])
        self.files[a] |= self.files[b]
        for kind, value in self.numbers[b].items():
            self.numbers[a].setdefault(kind, value)
        self.members[b], self.files[b], self.numbers[b] = [], set(), {}


def cluster(file_code: np.ndarray, numbers: dict[str, np.ndarray], left: np.ndarray, right: np.ndarray,
            strength: np.ndarray, never: list[tuple[int, int]] | None = None, strong: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Cluster labels per record and, per link, why it was refused ("" when it joined or was redundant).

    Links are taken strongest first (a one-to-one assignment between any two export files falls out
    of this); a link that would put two records of one export file, two different numbers of one kind
    (BSN, onderwijsnummer, NCO id) or a pair rejected in review into one person is refused, which is
    the same as splitting such a cluster at its weakest link. A `strong` link (a shared number, a
    near-certain probability) may join two records of one export file: a child registered twice.
    """
    strong = np.zeros(len(left), dtype=bool) if strong is None else strong
    never = never or []
    nev: dict[int, set[int]] = {}
    for i, j in never:
        nev.setdefault(int(i), set()).add(int(j))
        nev.setdefault(int(j), set()).add(int(i))
    uf = _Persons(file_code, numbers, nev)
    if len(left):
        _join_number_groups(uf, file_code, numbers, left, right, strong, never)
    order = np.argsort(-strength, kind="stable")
    refused = np.full(len(left), "", dtype=object)
    for k in order:
        a, b = uf.find(int(left[k])), uf.find(int(right[k]))
        if a == b:
            continue
        why = uf.conflict(a, b, bool(strong[k]))
        if why:
            refused[k] = why
            continue
        uf.union(a, b)
    roots = np.array([uf.find(i) for i in range(len(file_code))], dtype=np.int64)
    _, labels = np.unique(roots, return_inverse=True)
    return labels.astype(np.int64), refused


def _join_number_groups(uf: _Persons, file_code: np.ndarray, numbers: dict[str, np.ndarray], left: np.ndarray,
                        right: np.ndarray, strong: np.ndarray, never: list[tuple[int, int]]) -> None:
    """Join at once the components of strong links that break no rule (most links; keeps big jobs fast).

    A component joins when its records carry at most one value of every number kind and hold no pair that
    must stay apart; anything else is left to the link-by-link loop.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(file_code)
    sel = strong
    if not sel.any():
        return
    graph = coo_matrix((np.ones(int(sel.sum()), dtype=np.int8), (left[sel], right[sel])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    frame = pd.DataFrame({"comp": comp, "i": np.arange(n)})
    sizes = frame.groupby("comp")["i"].transform("size").to_numpy()
    ok = pd.Series(True, index=np.unique(comp))
    for col in numbers.values():
        has = col != 0
        distinct = pd.Series(col[has]).groupby(comp[has]).nunique()
        ok.loc[distinct.index[distinct.to_numpy() > 1]] = False
    if never:
        pairs = np.asarray(never, dtype=np.int64)
        inside = comp[pairs[:, 0]] == comp[pairs[:, 1]]
        ok.loc[np.unique(comp[pairs[inside, 0]])] = False
    keep = (sizes > 1) & ok.reindex(comp).to_numpy()
    if not keep.any():
        return
    grouped = frame[keep].groupby("comp")["i"]
    for _, members in grouped:
        uf.absorb(members.to_numpy())
