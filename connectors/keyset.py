"""Remembers which (export file, record key) pairs were seen, as 64-bit hashes so memory stays small."""

from __future__ import annotations

import numpy as np
import pandas as pd


class SeenKeys:
    """Duplicate detection across chunks, 8 bytes per key (a false duplicate needs a 64-bit collision)."""

    def __init__(self) -> None:
        self._sorted = np.empty(0, dtype=np.uint64)

    def seen_before(self, scoped_keys: np.ndarray) -> np.ndarray:
        """For each key: True if seen in an earlier call or earlier in this array; then remember all."""
        hashes = pd.util.hash_array(np.asarray(scoped_keys, dtype=object), categorize=False)
        repeated = pd.Series(hashes).duplicated(keep="first").to_numpy()
        if len(self._sorted):
            pos = np.searchsorted(self._sorted, hashes)
            pos[pos == len(self._sorted)] = 0
            repeated |= self._sorted[pos] == hashes
        fresh = np.sort(hashes[~repeated])
        self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, fresh), fresh)
        return repeated
