"""The field's indicators, with their official definitions, computed per person from the persons frame.

Each indicator names its inputs (persons columns, usually at a moment: `policies.moments`) in the policy's
`[derived.NAME]` table; docs/policies.md cites the source of each definition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

# The levels of Dutch secondary education, low to high (praktijkonderwijs below vmbo basis).
LEVELS = ("praktijkonderwijs", "vmbo-b", "vmbo-k", "vmbo-gt", "havo", "vwo")
_RANK = {level: i for i, level in enumerate(LEVELS)}
_VMBO_PARTS = {"b": "vmbo-b", "bb": "vmbo-b", "k": "vmbo-k", "kb": "vmbo-k", "g": "vmbo-gt", "t": "vmbo-gt",
               "gt": "vmbo-gt", "gl": "vmbo-gt", "tl": "vmbo-gt", "gl/tl": "vmbo-gt", "pro": "praktijkonderwijs"}
POSITIONS = ("below", "at", "above")


def lowest_level(value: object) -> int | None:
    """The rank of the lowest level a (possibly double) advice or class names: `vmbo-gt/havo` is vmbo-gt,
    `havo/vwo` havo, `vmbo-b/k` vmbo-b; None when it names no level."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    ranks = []
    for part in str(value).strip().lower().split("/"):
        part = part.strip()
        level = part if part in _RANK else _VMBO_PARTS.get(part.removeprefix("vmbo-").removeprefix("vmbo "))
        if level is not None:
            ranks.append(_RANK[level])
    return min(ranks) if ranks else None


def advice_position(advice: pd.Series, level: pd.Series) -> pd.Series:
    """below / at / above: the level a pupil is at (in leerjaar 3, as the policy's input says) against
    their primary-school advice. A double advice counts by its lowest level (NCO, Inspectie van het
    Onderwijs: "onderwijspositie ten opzichte van het advies"); missing when either is unknown."""
    a = advice.map(lowest_level)
    v = level.map(lowest_level)
    out = np.full(len(advice), None, dtype=object)
    known = a.notna().to_numpy() & v.notna().to_numpy()
    av, vv = a.to_numpy()[known].astype(int), v.to_numpy()[known].astype(int)
    out[known] = np.where(vv < av, "below", np.where(vv > av, "above", "at"))
    return pd.Series(out, index=advice.index, dtype=object)


def change(first: pd.Series, second: pd.Series) -> pd.Series:
    """second − first, numerically (growth between two moments); missing when either is."""
    a = pd.to_numeric(first, errors="coerce")
    b = pd.to_numeric(second, errors="coerce")
    return (b - a).astype(float)


@dataclass(frozen=True)
class Indicator:
    """A named indicator: its inputs (by role), its categories (None: numeric), its computation."""

    inputs: tuple[str, ...]
    categories: tuple[str, ...] | None
    compute: Callable[..., pd.Series]


INDICATORS: dict[str, Indicator] = {
    "advice_position": Indicator(("advice", "level"), POSITIONS, advice_position),
    "change": Indicator(("first", "second"), None, change),
}
