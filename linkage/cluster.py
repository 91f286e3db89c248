"""Clustering records into persons: union of links, strongest first, never joining what must stay apart."""

from __future__ import annotations

import numpy as np


class _Persons:
    """Union-find whose components remember their export files, numbers and never-link partners.

    The per-component state (members, files, numbers) is built only for components a link touches, so
    millions of records that no probabilistic link reaches cost one list entry each.
    """

    def __init__(self, file_code: np.ndarray, numbers: dict[str, np.ndarray],
                 never: tuple[np.ndarray, np.ndarray], root: np.ndarray | None = None):
        n = len(file_code)
        self.file_code = file_code
        self.number_cols = numbers
        self.root = np.arange(n, dtype=np.int64) if root is None else root
        self.parent: list[int] = self.root.tolist()
        order = np.argsort(self.root, kind="stable")
        self._order = order
        self._start = np.searchsorted(self.root[order], np.arange(n + 1))
        self.members: dict[int, list[int]] = {}
        self.files: dict[int, set[int]] = {}
        self.numbers: dict[int, dict[str, int]] = {}
        self.never_start, self.never_partner = never  # partners of record i: partner[start[i]:start[i + 1]]
        self.merged: list[int] = []  # roots joined into another component

    def _load(self, r: int) -> None:
        if r in self.members:
            return
        members = self._order[self._start[r]:self._start[r + 1]]
        self.members[r] = members.tolist()
        self.files[r] = set(self.file_code[members].tolist())
        found: dict[str, int] = {}
        for kind, col in self.number_cols.items():
            values = col[members]
            values = values[values != 0]
            if len(values):
                found[kind] = int(values[0])
        self.numbers[r] = found

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def conflict(self, a: int, b: int, strong: bool) -> str | None:
        """Why components a and b may not be one person, or None."""
        self._load(a)
        self._load(b)
        if not strong and not self.files[a].isdisjoint(self.files[b]):
            return "same_export_file"
        na, nb = self.numbers[a], self.numbers[b]
        for kind, value in na.items():
            if nb.get(kind, value) != value:
                return f"different_{kind}"
        if len(self.never_partner):
            small, large = (a, b) if len(self.members[a]) <= len(self.members[b]) else (b, a)
            for i in self.members[small]:
                for j in self.never_partner[self.never_start[i]:self.never_start[i + 1]].tolist():
                    if self.find(j) == large:
                        return "rejected_in_review"
        return None

    def union(self, a: int, b: int) -> None:
        self._load(a)
        self._load(b)
        if len(self.members[a]) < len(self.members[b]):
            a, b = b, a
        self.parent[b] = a
        self.merged.append(b)
        self.members[a].extend(self.members.pop(b))
        self.files[a] |= self.files.pop(b)
        for kind, value in self.numbers.pop(b).items():
            self.numbers[a].setdefault(kind, value)


def cluster(file_code: np.ndarray, numbers: dict[str, np.ndarray], left: np.ndarray, right: np.ndarray,
            strength: np.ndarray, never: np.ndarray | list[tuple[int, int]] | None = None,
            strong: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cluster labels per record and, per link, why it was refused ("" when it joined or was redundant).

    Links are taken strongest first (a one-to-one assignment between any two export files falls out
    of this); a link that would put two records of one export file, two different numbers of one kind
    (BSN, onderwijsnummer) or a pair rejected in review into one person is refused, which is
    the same as splitting such a cluster at its weakest link. A `strong` link (a shared number, a
    near-certain probability) may join two records of one export file: a child registered twice.
    """
    strong = np.zeros(len(left), dtype=bool) if strong is None else strong
    never = np.asarray(never if never is not None and len(never) else np.empty((0, 2)), dtype=np.int64)
    never = never.reshape(-1, 2)
    root = _join_number_groups(file_code, numbers, left, right, strong, never) if len(left) else None
    uf = _Persons(file_code, numbers, _partners(never, len(file_code)), root)
    order = np.argsort(-strength, kind="stable")
    order = order[uf.root[left[order]] != uf.root[right[order]]]  # links inside a joined group: redundant
    refused = np.full(len(left), "", dtype=object)
    for k in order.tolist():
        a, b = uf.find(int(left[k])), uf.find(int(right[k]))
        if a == b:
            continue
        why = uf.conflict(a, b, bool(strong[k]))
        if why:
            refused[k] = why
            continue
        uf.union(a, b)
    final = np.arange(len(file_code), dtype=np.int64)  # only roots of the first joins can have moved
    if uf.merged:
        final[uf.merged] = [uf.find(r) for r in uf.merged]
    roots = final[uf.root]
    _, labels = np.unique(roots, return_inverse=True)
    return labels.astype(np.int64), refused


def _partners(never: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Never-link partners per record as a compressed adjacency list (start offsets, partners)."""
    src = np.concatenate([never[:, 0], never[:, 1]])
    dst = np.concatenate([never[:, 1], never[:, 0]])
    order = np.argsort(src, kind="stable")
    return np.searchsorted(src[order], np.arange(n + 1)), dst[order]


def _join_number_groups(file_code: np.ndarray, numbers: dict[str, np.ndarray], left: np.ndarray,
                        right: np.ndarray, strong: np.ndarray, never: np.ndarray) -> np.ndarray | None:
    """The root (smallest member) of every record after joining at once the components of strong links
    that break no rule (most links; keeps big jobs fast), or None when there are none.

    A component joins when its records carry at most one value of every number kind and hold no pair that
    must stay apart; anything else is left to the link-by-link loop.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(file_code)
    sel = strong
    if not sel.any():
        return None
    graph = coo_matrix((np.ones(int(sel.sum()), dtype=np.int8), (left[sel], right[sel])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    n_comp = int(comp.max()) + 1
    sizes = np.bincount(comp, minlength=n_comp)[comp]
    ok = np.ones(n_comp, dtype=bool)
    by_comp = np.argsort(comp, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(comp[by_comp]) != 0])
    ids = comp[by_comp][starts]
    for col in numbers.values():  # two values of one kind in a component: its lowest and highest differ
        values = col[by_comp]
        has = values != 0
        low = np.minimum.reduceat(np.where(has, values, np.iinfo(np.int64).max), starts)
        high = np.maximum.reduceat(np.where(has, values, np.iinfo(np.int64).min), starts)
        ok[ids[(low != high) & (np.add.reduceat(has, starts) > 1)]] = False
    if len(never):
        inside = comp[never[:, 0]] == comp[never[:, 1]]
        ok[comp[never[inside, 0]]] = False
    keep = (sizes > 1) & ok[comp]
    root = np.arange(n, dtype=np.int64)
    if keep.any():
        smallest = np.full(int(comp.max()) + 1, n, dtype=np.int64)
        np.minimum.at(smallest, comp[keep], np.flatnonzero(keep))
        root[keep] = smallest[comp[keep]]
    return root
