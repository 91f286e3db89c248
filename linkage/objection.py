"""Keyed digests for the objection register and for finding one child's records by its keyed features.

A child is described by the features `make_features` gives its identifiers; the register keeps, per kind, an
HMAC-SHA256 (under a purpose key the caller derives) over the scheme and the keyed value, so it holds no value
and no feature that a feature file could be joined on. Kinds: `bsn`, `onr` (the keyed number) and `name`
(family name, first given name and birth date together). The matching rule is the same everywhere:

- a record matches on an equal keyed BSN or onderwijsnummer;
- otherwise it matches on an equal `name` (all three parts present and equal, and the sex not different when
  both have one), unless the record and the child both carry a number of the same kind and they differ.
"""

from __future__ import annotations

import hmac

import numpy as np
import pandas as pd

KINDS = ("bsn", "onr", "name")
NAME_PARTS = ("fam", "given1", "dob")


def _digest(key: bytes, kind: str, scheme: str, values: list[int]) -> str:
    message = f"{kind}|{scheme}|".encode() + b"".join(int(v).to_bytes(8, "big", signed=True) for v in values)
    return hmac.new(key, message, "sha256").hexdigest()


def digests(features: pd.DataFrame, key: bytes, scheme: str) -> pd.DataFrame:
    """Per row of a feature frame, the register digest of each kind (None where the row lacks it)."""
    out: dict[str, list[str | None]] = {}
    for kind in ("bsn", "onr"):
        column = features[kind].to_numpy(dtype=np.int64)
        out[kind] = [_digest(key, kind, scheme, [v]) if v else None for v in column.tolist()]
    parts = features[list(NAME_PARTS)].to_numpy(dtype=np.int64)
    out["name"] = [_digest(key, "name", scheme, row) if all(row) else None for row in parts.tolist()]
    return pd.DataFrame(out, index=features.index)


def objected(found: pd.DataFrame, register: set[tuple[str, str]]) -> np.ndarray:
    """Which rows of `digests` the register holds: a registered number, or, for a row that carries no number,
    a registered name and birth date."""
    def held(kind: str) -> np.ndarray:
        return np.fromiter(((kind, d) in register if d else False for d in found[kind]), dtype=bool,
                           count=len(found))

    no_number = found["bsn"].isna().to_numpy() & found["onr"].isna().to_numpy()
    return held("bsn") | held("onr") | (no_number & held("name"))


def matches(features: pd.DataFrame, child: pd.Series) -> np.ndarray:
    """Which rows of a feature frame are records of the child (its one-row features), by the module's rule."""
    def col(name: str) -> np.ndarray:
        return features[name].to_numpy(dtype=np.int64)

    number = np.zeros(len(features), dtype=bool)
    conflict = np.zeros(len(features), dtype=bool)
    for kind in ("bsn", "onr"):
        mine = int(child[kind])
        if mine:
            number |= col(kind) == mine
            conflict |= (col(kind) != 0) & (col(kind) != mine)
    name = np.zeros(len(features), dtype=bool)
    if all(int(child[p]) for p in NAME_PARTS):
        name = np.ones(len(features), dtype=bool)
        for part in NAME_PARTS:
            name &= col(part) == int(child[part])
        if int(child["sex"]):
            sex = features["sex"].to_numpy(dtype=np.int64)
            name &= (sex == 0) | (sex == int(child["sex"]))
    return number | (name & ~conflict)


def number_matches(features: pd.DataFrame, child: pd.Series) -> np.ndarray:
    """Which rows carry the child's keyed BSN or onderwijsnummer (the rule for sources other than the one
    the identifiers came from: the person map finds the rest)."""
    found = np.zeros(len(features), dtype=bool)
    for kind in ("bsn", "onr"):
        mine = int(child[kind])
        if mine:
            found |= features[kind].to_numpy(dtype=np.int64) == mine
    return found
