"""Columns at a moment of a school career: `<source>.<attribute>@<moment>`, taken from a person's records.

A person has a record per delivery of each source (a school year, a grade). A plain column
(`vo.niveau`) is the value in the person's latest record of the source; a moment picks another record:

- `@grade=N`  the first record in grade N (groep, leerjaar, mbo year): `vo.niveau@grade=3` is the level in
  leerjaar 3, the first time the pupil was there; `po.toets_score@grade=4` the groep-4 score;
- `@year=YYYY-YYYY`  the record of that school year; a delivery is its school year's count on 1 October
  (as DUO's registers are), so this is the status on 1 October;
- `@first`, `@last`  the first and the latest record (by school year): `mbo.niveau@first` is the first mbo
  enrolment;
- `career.vsv@year=YYYY-YYYY`  DUO's vsv in that school year (`policies.indicators.early_leavers`), over the
  person's vo and mbo records together; `career.vsv@first` the same in an mbo starter's first mbo year and
  `career.switch@first` switching opleiding (crebo) in it (`first_year_early_leavers`, `first_year_switch`);
- `@repeats`  on `grade` only: `ja` when the person has two records of the source in one grade (repeated a
  year: `po.grade@repeats`, `vo.grade@repeats`), `nee` otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from policies.errors import PolicyError

_MOMENT = re.compile(r"^(?P<source>[A-Za-z_][\w\-]*)\.(?P<attribute>[A-Za-z_][\w\-]*)"
                     r"@(?P<kind>grade|year|first|last|repeats)(?:=(?P<value>[\w\-]+))?$")
KINDS = ("grade", "year", "first", "last", "repeats")
CAREER = "career"  # columns over all of a person's vo and mbo records
CAREER_COLUMNS = {("vsv", "year"), ("vsv", "first"), ("switch", "first")}


@dataclass(frozen=True)
class Moment:
    """A column at a moment: which source's records, which attribute, which record."""

    column: str
    source: str
    attribute: str
    kind: str
    value: str | None = None


def parse_moment(column: str) -> Moment | None:
    """The moment of a column name, None for a plain column; a malformed `@` part is a PolicyError."""
    if "@" not in column:
        return None
    match = _MOMENT.match(column)
    if match is None:
        raise PolicyError(f"column {column!r}: a moment reads <source>.<attribute>@grade=N, @year=YYYY-YYYY, "
                          "@first, @last or <source>.grade@repeats")
    kind, value = match["kind"], match["value"]
    if kind in ("grade", "year") and value is None:
        raise PolicyError(f"column {column!r}: @{kind} needs a value (@{kind}=...)")
    if match["source"] == CAREER and (match["attribute"], kind) not in CAREER_COLUMNS:
        raise PolicyError(f"column {column!r}: the career columns are career.vsv@year=YYYY-YYYY, career.vsv@first "
                          "and career.switch@first")
    if kind == "repeats" and match["attribute"] != "grade":
        raise PolicyError(f"column {column!r}: @repeats is a property of the grades: <source>.grade@repeats")
    if kind in ("first", "last", "repeats") and value is not None:
        raise PolicyError(f"column {column!r}: @{kind} takes no value")
    if kind == "year" and not re.fullmatch(r"\d{4}-\d{4}", value or ""):
        raise PolicyError(f"column {column!r}: @year needs a school year such as 2022-2023")
    return Moment(column, match["source"], match["attribute"], kind, value)


def _grade_text(values: pd.Series) -> pd.Series:
    """Grades as text without a trailing `.0` (`3`, `3.0` and 3 are one grade)."""
    return values.astype(object).map(lambda v: None if pd.isna(v) else str(v).strip().removesuffix(".0"))


def at_moment(records: pd.DataFrame, moment: Moment) -> pd.Series:
    """The attribute at the moment, per person (indexed by person_id; persons without such a record are
    absent). `records`: one source's records with `person_id`, `school_year`, `grade`, `_order` (delivery
    order, to break ties within a school year) and the attribute."""
    if moment.attribute not in records.columns:
        return pd.Series([], dtype=object, index=pd.Index([], name="person_id"))
    if moment.kind == "repeats":
        grades = pd.DataFrame({"person_id": records["person_id"], "grade": _grade_text(records["grade"])}).dropna()
        twice = grades.duplicated(["person_id", "grade"], keep=False)
        repeated = grades.assign(twice=twice.to_numpy()).groupby("person_id")["twice"].any()
        return repeated.map({True: "ja", False: "nee"}).astype(object)
    keys = [c for c in ("school_year", "_order") if c in records.columns]
    rows = records.sort_values(keys, kind="stable") if keys else records
    if moment.kind == "grade":
        if "grade" not in rows.columns:
            return pd.Series([], dtype=object, index=pd.Index([], name="person_id"))
        rows = rows[_grade_text(rows["grade"]).eq(str(moment.value)).to_numpy()]
    elif moment.kind == "year":
        if "school_year" not in rows.columns:
            return pd.Series([], dtype=object, index=pd.Index([], name="person_id"))
        rows = rows[rows["school_year"].astype(object).eq(str(moment.value)).to_numpy()]
    picked = rows.drop_duplicates("person_id", keep="last" if moment.kind in ("last", "year") else "first")
    return pd.Series(picked[moment.attribute].to_numpy(), index=pd.Index(picked["person_id"], name="person_id"))
