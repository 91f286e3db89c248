"""A tiny condition language for share measures: `<column> <op> <value or [values]>`."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

_CONDITION = re.compile(r"^\s*([A-Za-z_][\w.\-:@=]*)\s+(not in|in|==|!=|>=|<=|>|<)\s+(.+?)\s*$")
OPERATORS = ("in", "not in", "==", "!=", ">=", "<=", ">", "<")


@dataclass(frozen=True)
class Condition:
    """`column op values`: `in`/`not in` compare strings with a list; the others one value."""

    column: str
    op: str
    values: tuple[str, ...]

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        """A boolean per row; a missing value never satisfies the condition."""
        series = frame[self.column]
        known = ~missing(series)
        if self.op in ("in", "not in", "==", "!="):
            hit = as_text(series).isin(self.values).to_numpy()
            if self.op in ("not in", "!="):
                hit = ~hit
        else:
            numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
            bound = float(self.values[0])
            with np.errstate(invalid="ignore"):
                hit = {">=": numbers >= bound, "<=": numbers <= bound,
                       ">": numbers > bound, "<": numbers < bound}[self.op]
        return np.asarray(hit, dtype=bool) & known.to_numpy()


def missing(series: pd.Series) -> pd.Series:
    """True where a value is missing: None, NaN or the empty string."""
    return series.isna() | (series.astype(object) == "")


def as_text(series: pd.Series) -> pd.Series:
    """Values as strings (object dtype), missing values as None."""
    known = ~missing(series)
    text = series.astype(object).where(known, None)  # type: ignore[call-overload]  # pandas-stubs take no None
    # for `other`; pandas does, and an object series keeps None (not NaN) there
    if pd.api.types.infer_dtype(text, skipna=True) not in ("string", "empty"):
        text = text.map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return text


def parse_condition(text: str) -> Condition:
    """Parse a condition; raises ValueError naming what is wrong (never echoing data)."""
    match = _CONDITION.match(text)
    if not match:
        raise ValueError("condition must read '<column> <op> <value>' with op one of " + ", ".join(OPERATORS))
    column, op, rest = match.groups()
    if op in ("in", "not in"):
        if not (rest.startswith("[") and rest.endswith("]")):
            raise ValueError(f"condition with '{op}' needs a list in square brackets")
        values = tuple(_unquote(v) for v in rest[1:-1].split(",") if v.strip())
        if not values:
            raise ValueError("condition list is empty")
    else:
        values = (_unquote(rest),)
        if op not in ("==", "!="):
            try:
                float(values[0])
            except ValueError:
                raise ValueError(f"condition with '{op}' needs a number") from None
    return Condition(column, op, values)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value
