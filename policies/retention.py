"""Retention periods of a policy: how long batches of each source, link jobs and release files are kept."""

from __future__ import annotations

import calendar
import datetime as dt
import re

from pydantic import BaseModel, ConfigDict, field_validator

_PERIOD = re.compile(r"([1-9][0-9]{0,3})([dwmy])")
_UNITS = {"d": "day", "w": "week", "m": "month", "y": "year"}


def parse_period(value: object) -> str:
    """A period in its written form: a whole number of days, or "<n>d", "<n>w", "<n>m" or "<n>y"."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("a period is a number of days or a text such as \"90d\", \"6m\" or \"5y\"")
    if isinstance(value, int):
        if not 1 <= value <= 36500:
            raise ValueError("a period in days is a whole number from 1 to 36500")
        return f"{value}d"
    if not _PERIOD.fullmatch(value):
        raise ValueError(f"period {value!r}: write a number and a unit d, w, m or y, e.g. \"90d\", \"6m\" or \"5y\"")
    return value


def expires(start: dt.datetime, period: str) -> dt.datetime:
    """The moment a thing made at `start` is past `period` (months and years by the calendar; 29 February
    plus a year is 28 February)."""
    match = _PERIOD.fullmatch(parse_period(period))
    assert match is not None
    n, unit = int(match.group(1)), match.group(2)
    if unit in "dw":
        return start + dt.timedelta(days=n * (7 if unit == "w" else 1))
    months = n * (12 if unit == "y" else 1)
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return start.replace(year=year, month=month + 1, day=day)


def describe(period: str) -> str:
    """"5y" -> "5 years"."""
    match = _PERIOD.fullmatch(period)
    assert match is not None
    n, unit = int(match.group(1)), _UNITS[match.group(2)]
    return f"{n} {unit}" + ("" if n == 1 else "s")


class Retention(BaseModel):
    """The `[retention]` section: per source the period of its batches (from their ingest), and the periods
    of link jobs and of release files (from when they were made). What it does not name is kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: dict[str, str] = {}
    jobs: str | None = None
    releases: str | None = None

    @field_validator("sources", mode="before")
    @classmethod
    def _sources_ok(cls, value: object) -> object:
        if not isinstance(value, dict):
            raise ValueError("retention.sources is a table of source = period")
        return {name: parse_period(period) for name, period in value.items()}

    @field_validator("jobs", "releases", mode="before")
    @classmethod
    def _period_ok(cls, value: object) -> object:
        return None if value is None else parse_period(value)
