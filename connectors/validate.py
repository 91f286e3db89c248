"""Vectorised validation of a chunk of mapped rows: quarantine rows, drop bad values, count both."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from .export import Chunk, RejectedRow
from .identifiers import (
    NONE,
    check_brin,
    check_bsn4,
    check_link_number,
    check_number,
    check_postcode,
    check_school_year,
    classify_plain_numbers,
)
from .keyset import SeenKeys
from .record import ATTR_PREFIX, CANONICAL_FIELDS, FIXED_ATTRIBUTES, LINK_PREFIX, record_columns

#: The earliest plausible birth date when the profile sets none: pupils for the school sectors, adults too
#: in mbo (BBL, VAVO and adult education keep learners born decades back).
EARLIEST_BIRTH_DATE: dict[str, date] = {
    "vve": date(1990, 1, 1), "po": date(1990, 1, 1), "vo": date(1990, 1, 1),
    "mbo": date(1920, 1, 1),
}


@dataclass
class Rules:
    """What the validator needs to know of a source: the profile's choices in plain form."""

    sector: str
    date_format: str
    sex_codes: dict[str, str]  # casefolded source value -> "M" | "F" | "X" | "" (unknown)
    link_kinds: dict[str, str] = field(default_factory=dict)
    attribute_tables: dict[str, dict[str, str] | None] = field(default_factory=dict)
    school_year: str | None = None
    attach: bool = False
    keys_per_school: bool = False  # keys repeat across schools (EDEXML, attached files): labels need the school
    today: date = field(default_factory=date.today)
    earliest_birth_date: date | None = None  # None: the sector's EARLIEST_BIRTH_DATE
    latest_birth_date: date | None = None  # None: today

    def birth_dates(self) -> tuple[date, date]:
        """The plausible birth dates, first and last (both kept)."""
        earliest = self.earliest_birth_date or EARLIEST_BIRTH_DATE.get(self.sector, min(EARLIEST_BIRTH_DATE.values()))
        latest = min(self.latest_birth_date or self.today, self.today)
        return earliest, latest


def _clean(values: object, n: int) -> np.ndarray:
    """Strip strings; NaN, None and '' become None."""
    if values is None:
        return np.full(n, None, dtype=object)
    arr = np.empty(n, dtype=object)
    arr[:] = [(v.strip() or None) if type(v) is str else None for v in np.asarray(values, dtype=object)]
    return arr


def _clean_stripped(values: object, n: int) -> np.ndarray:
    """`_clean` of values that are all None or `str` without surrounding whitespace: '' becomes None."""
    if values is None:
        return np.full(n, None, dtype=object)
    arr = np.empty(n, dtype=object)
    arr[:] = values
    arr[arr == ""] = None
    return arr


def _array(values: Any, dtype: Any = None) -> np.ndarray:
    return values.to_numpy(dtype=dtype) if isinstance(values, pd.Series) else np.asarray(values, dtype=dtype)


def _map_distinct(arr: np.ndarray, check: Callable, width: int = 2) -> list[np.ndarray]:
    """Apply ``check`` once per distinct present value of the chunk; one array per element of its result.

    Nothing is cached across chunks on purpose: cached strings would pin each chunk's memory, and memory
    must stay flat as the file grows.
    """
    outs = [np.full(len(arr), None, dtype=object) for _ in range(width)]
    present = np.flatnonzero(pd.notna(arr))
    if not len(present):
        return outs
    codes, distinct = pd.factorize(arr[present])
    results = [check(value) for value in distinct]
    for k in range(width):
        column = np.empty(len(results), dtype=object)
        column[:] = [r[k] for r in results]
        outs[k][present] = column[codes]
    return outs


def _count(dropped: Counter, name: str, reasons: np.ndarray) -> None:
    mask = pd.notna(reasons)
    if mask.any():
        for reason, n in pd.Series(reasons[mask]).value_counts().items():
            dropped[(name, reason)] += int(n)


class Validator:
    """Validates chunks of one export in order, remembering keys (duplicates) and distinct values (speed)."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._seen = SeenKeys()
        self._attribute_names = list(rules.attribute_tables)
        self.columns = record_columns(list(rules.link_kinds), self._attribute_names)

    def validate(self, frame: pd.DataFrame, raw_row: Callable[[int], dict[str, str]]) -> Chunk:
        """Validate mapped rows (columns: export_file, row_number, canonical, link:*, attr:*)."""
        return self.validate_columns(frame, len(frame), raw_row)

    def validate_columns(
        self, frame: pd.DataFrame | Mapping[str, Any], n: int, raw_row: Callable[[int], dict[str, str]],
        stripped: Collection[str] = (),
    ) -> Chunk:
        """`validate` of `n` rows given as columns (sequences or Series) by name, without building a frame;
        the columns named in `stripped` hold only None and `str` without surrounding whitespace."""
        col = {c: (_clean_stripped if c in stripped else _clean)(frame[c] if c in frame else None, n)
               for c in self._input_columns()}
        export_file = _array(frame["export_file"], dtype=object)
        row_number = _array(frame["row_number"])
        rules = self.rules
        reject: dict[str, np.ndarray] = {}

        raw_year = col["school_year"]
        if rules.school_year:
            raw_year = raw_year.copy()
            raw_year[pd.isna(raw_year)] = rules.school_year
        school_year, year_why = _map_distinct(raw_year, check_school_year)
        brin, brin_why = _map_distinct(col["brin"], check_brin)
        if rules.attach:
            reject["missing brin"] = pd.isna(col["brin"])
            reject["malformed brin"] = pd.notna(brin_why)
            reject["missing school_year"] = pd.isna(raw_year)
            reject["malformed school year"] = pd.notna(year_why)
            usable = pd.notna(brin) & pd.notna(school_year)
            export_file = export_file.copy()
            export_file[usable] = brin[usable] + "/" + school_year[usable]
        key = col["record_key"]
        reject["missing record_key"] = pd.isna(key)
        ok = ~np.logical_or.reduce(list(reject.values()))
        duplicate = np.zeros(n, dtype=bool)
        if ok.any():
            duplicate[ok] = self._seen.seen_before(export_file[ok] + "\x1f" + key[ok])
        reject["duplicate record_key in export file"] = duplicate
        accepted = ok & ~duplicate

        chunk = Chunk(records=pd.DataFrame(), rows_read=n)
        for i in np.flatnonzero(~accepted):
            reasons = [reason for reason, mask in reject.items() if mask[i]]
            chunk.rejected.append(
                RejectedRow(str(export_file[i]), int(row_number[i]), reasons, raw_row(int(i)))
            )

        idx = np.flatnonzero(accepted)
        out = {c: v[idx] for c, v in col.items()}
        out["export_file"] = export_file[idx]
        out["row_number"] = row_number[idx]
        out["school_year"] = school_year[idx]
        out["brin"] = brin[idx]
        _count(chunk.dropped, "school_year", year_why[idx])
        _count(chunk.dropped, "brin", brin_why[idx])
        self._validate_fields(out, chunk.dropped)
        school = out["brin"].copy() if rules.keys_per_school else np.full(len(idx), "", dtype=object)
        school[pd.isna(school)] = ""
        out["school"] = school
        chunk.records = pd.DataFrame({c: out[c] for c in self.columns}, columns=self.columns)
        return chunk

    def _input_columns(self) -> list[str]:
        return (
            list(CANONICAL_FIELDS)
            + [LINK_PREFIX + name for name in self.rules.link_kinds]
            + [ATTR_PREFIX + name for name in self._attribute_names]
            + [ATTR_PREFIX + "grade"]
        )

    def _validate_fields(self, out: dict[str, np.ndarray], dropped: Counter) -> None:
        rules = self.rules
        self._numbers(out, dropped)
        out["bsn4"], why = _map_distinct(out["bsn4"], check_bsn4)
        _count(dropped, "bsn4", why)
        out["postcode"], why = _map_distinct(out["postcode"], check_postcode)
        _count(dropped, "postcode", why)
        out["sex"], why = _map_distinct(out["sex"], self._sex)
        _count(dropped, "sex", why)
        out["birth_date"], why = self._dates(out["birth_date"])
        _count(dropped, "birth_date", why)
        for name, kind in rules.link_kinds.items():
            if kind == "number":
                column = LINK_PREFIX + name
                out[column], why = _map_distinct(out[column], check_link_number)
                _count(dropped, column, why)
        for name, table in rules.attribute_tables.items():
            if table is not None:
                column = ATTR_PREFIX + name
                out[column], why = _map_distinct(out[column], _code_lookup(table))
                _count(dropped, column, why)
        birth_year = out["birth_date"].copy()
        has_date = pd.notna(birth_year)
        birth_year[has_date] = [d[:4] for d in birth_year[has_date]]
        fixed = {
            "sex": out["sex"],
            "birth_year": birth_year,
            "brin": out["brin"],
            "school_year": out["school_year"],
            "sector": np.full(len(birth_year), rules.sector, dtype=object),
            "grade": out[ATTR_PREFIX + "grade"],
        }
        for name in FIXED_ATTRIBUTES:
            out[ATTR_PREFIX + name] = fixed[name]

    def _numbers(self, out: dict[str, np.ndarray], dropped: Counter) -> None:
        """BSN and onderwijsnummer; a valid number in the other's column is moved, not dropped."""
        b_kind, b_num, b_why = self._classify(out["bsn"])
        o_kind, o_num, o_why = self._classify(out["onderwijsnummer"])
        bsn = np.where(b_kind == "bsn", b_num, NONE)
        onr = np.where(o_kind == "onr", o_num, NONE)
        moves = ((onr, b_kind, b_num, "bsn", "onr"), (bsn, o_kind, o_num, "onderwijsnummer", "bsn"))
        for target, source_kind, number, name, wanted in moves:
            moved = source_kind == wanted
            free = moved & pd.isna(target)
            target[free] = number[free]
            clash = moved & ~free & (target != number)
            if clash.any():
                dropped[(name, "conflicts with the other number")] += int(clash.sum())
        _count(dropped, "bsn", np.where(pd.isna(b_kind), b_why, NONE))
        _count(dropped, "onderwijsnummer", np.where(pd.isna(o_kind), o_why, NONE))
        out["bsn"], out["onderwijsnummer"] = bsn, onr

    def _classify(self, arr: np.ndarray) -> list[np.ndarray]:
        """check_number for a column: nine plain digits vectorised, anything else through stdnum."""
        present = pd.notna(arr)
        plain = np.zeros(len(arr), dtype=bool)
        if present.any():
            text = pd.Series(arr[present], dtype=object).str
            plain[present] = text.fullmatch("[0-9]{9}").to_numpy(dtype=bool)
        other = arr.copy()
        other[plain] = None
        outs = _map_distinct(other, check_number, width=3)
        if plain.any():
            for out, fast in zip(outs, classify_plain_numbers(arr[plain]), strict=True):
                out[plain] = fast
        return outs

    def _sex(self, value: str) -> tuple[str | None, str | None]:
        code = self.rules.sex_codes.get(value.casefold())
        if code is None:
            return None, "unknown sex code"
        return (code or None), None

    def _dates(self, arr: np.ndarray) -> list[np.ndarray]:
        """Parse with the profile's strptime format once per distinct value; keep the plausible range."""
        self._earliest, self._latest = self.rules.birth_dates()
        return _map_distinct(arr, self._date)

    def _date(self, value: str) -> tuple[str | None, str | None]:
        try:
            day = datetime.strptime(value, self.rules.date_format).date()
        except ValueError:
            return None, "unparseable date"
        if day < self._earliest:
            return None, f"before earliest_birth_date {self._earliest.isoformat()}"
        if day > self.rules.today:
            return None, "in the future"
        if day > self._latest:
            return None, f"after latest_birth_date {self._latest.isoformat()}"
        return day.isoformat(), None


def _code_lookup(table: dict[str, str]) -> Callable[[str], tuple[str | None, str | None]]:
    def lookup(value: str) -> tuple[str | None, str | None]:
        code = table.get(value.casefold())
        return (code, None) if code is not None else (None, "not in code list")

    return lookup
