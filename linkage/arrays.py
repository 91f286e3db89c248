"""The feature frame as numpy arrays: int64 keyed hashes, Bloom filters as uint64 words, codes per file."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from linkage.errors import LinkError

HASH_COLUMNS = ("bsn", "onr", "bsn4", "fam", "fam_a", "fam_b", "prefix", "given", "given1", "pref",
                "init", "dob", "dob_swap", "dob_ym", "dob_yd", "dob_md", "dob_y", "pc", "pc4")
BLOOM_COLUMNS = ("fam_bf", "given_bf", "pref_bf")


class FeatureError(LinkError):
    """The feature frame does not have the shape architecture.md fixes (names the column, never a value)."""


@dataclass
class FeatureArrays:
    """Columns of a feature frame ready for vectorised blocking and comparison."""

    n: int
    hashes: dict[str, np.ndarray]
    blooms: dict[str, np.ndarray]
    bloom_counts: dict[str, np.ndarray]
    sex: np.ndarray
    file_code: np.ndarray
    source_code: np.ndarray
    sources: list[str]
    files: list[str]
    link_kinds: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        if name in self.hashes:
            return self.hashes[name]
        return np.zeros(self.n, dtype=np.int64)


def bloom_matrix(values: pd.Series) -> np.ndarray:
    """Bloom filters (`bytes`, one fixed length) as an n × words uint64 matrix; missing rows are all zero."""
    items = values.to_numpy(dtype=object)
    present = pd.notna(items)
    if not set(map(type, items[present])) <= {bytes, bytearray, memoryview}:  # anything else counts as missing
        present = np.fromiter((isinstance(v, bytes | bytearray | memoryview) for v in items), bool, len(items))
    lengths = set(map(len, items[present]))
    if not lengths:
        return np.zeros((len(values), 1), dtype=np.uint64)
    if len(lengths) > 1:
        raise FeatureError(f"column {values.name}: Bloom filters of different lengths")
    width = lengths.pop()
    pad = (-width) % 8
    items = items.copy()
    if pad:
        items[present] = [bytes(v) + bytes(pad) for v in items[present]]
    items[~present] = bytes(width + pad)
    return np.frombuffer(b"".join(items.tolist()), dtype=np.uint64).reshape(len(values), -1)


def check_features(features: pd.DataFrame) -> None:
    """One key version and unique record ids, or a FeatureError."""
    if "key_version" in features.columns and features["key_version"].nunique(dropna=True) > 1:
        raise FeatureError("feature frame mixes key versions; re-pseudonymise every batch with one key")
    ids = features["record_id"].tolist()
    if len(set(ids)) != len(ids):  # a set reuses each string's cached hash: 2-3x faster than duplicated()
        raise FeatureError("feature frame has duplicate record_id values")


def to_arrays(features: pd.DataFrame) -> FeatureArrays:
    """Check and convert a feature frame; keyed columns not present are treated as missing everywhere."""
    for col in ("record_id", "source", "export_file"):
        if col not in features.columns:
            raise FeatureError(f"feature frame has no column {col!r}")
    n = len(features)
    hashes: dict[str, np.ndarray] = {}
    link_kinds: dict[str, str] = {}
    for col in features.columns:
        is_link = col.startswith("link_") and not col.endswith("_bf")
        if col in HASH_COLUMNS or is_link:
            values = features[col]
            if values.dtype.kind not in "iu":
                values = pd.to_numeric(values, errors="coerce").fillna(0)
            # a view of the frame's own int64 column where it has one (no second copy at a million rows),
            # read-only so nothing here can change the caller's frame
            hashes[col] = values.to_numpy(dtype=np.int64, copy=False).view()
            hashes[col].flags.writeable = False
            if is_link:
                link_kinds[col] = "string" if f"{col}_bf" in features.columns else "exact"
    blooms: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    for col in features.columns:
        if col in BLOOM_COLUMNS or (col.startswith("link_") and col.endswith("_bf")):
            blooms[col] = bloom_matrix(features[col])
            counts[col] = np.bitwise_count(blooms[col]).sum(axis=1).astype(np.int32)
    sex = features["sex"].to_numpy(dtype=np.int8) if "sex" in features.columns else np.zeros(n, np.int8)
    # an export file is a (source, file) pair: factorised column by column, not as millions of joined strings
    source_code, sources = pd.factorize(features["source"].astype(str))
    exp_code, exp_names = pd.factorize(features["export_file"].astype(str))
    width = max(len(exp_names), 1)
    file_code, file_pairs = pd.factorize(source_code.astype(np.int64) * width + exp_code)
    files = [f"{sources[c // width]}\x1f{exp_names[c % width]}" for c in file_pairs.tolist()]
    return FeatureArrays(n=n, hashes=hashes, blooms=blooms, bloom_counts=counts, sex=sex,
                         file_code=file_code.astype(np.int64), source_code=source_code.astype(np.int64),
                         sources=list(sources), files=list(files), link_kinds=link_kinds)


def dice(arrays: FeatureArrays, left_col: str, right_col: str, il: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Dice coefficient of two Bloom-filter columns for record pairs; NaN where either filter is empty."""
    if left_col not in arrays.blooms or right_col not in arrays.blooms:
        return np.full(len(il), np.nan)
    a, b = arrays.blooms[left_col], arrays.blooms[right_col]
    if a.shape[1] != b.shape[1]:
        return np.full(len(il), np.nan)
    ca, cb = arrays.bloom_counts[left_col][il], arrays.bloom_counts[right_col][ir]
    inter = np.bitwise_count(a[il] & b[ir]).sum(axis=1, dtype=np.int32)
    total = (ca + cb).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 2.0 * inter / total
    out[(ca == 0) | (cb == 0)] = np.nan
    return out


def unique_sorted(values: np.ndarray, return_counts: bool = False):
    """Sorted distinct values (and counts) by sorting; numpy's hash-based unique is slow on hash-like ints."""
    x = np.sort(values, kind="stable")
    if len(x) == 0:
        return (x, np.empty(0, np.int64)) if return_counts else x
    first = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
    if return_counts:
        return x[first], np.diff(np.r_[first, len(x)])
    return x[first]


def member(values: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Which of `values` occur in `of` (int64, any order), by a sorted lookup."""
    known = unique_sorted(of)
    if not len(known):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(known, values), len(known) - 1)
    return known[at] == values
