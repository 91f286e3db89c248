"""Plausible birth dates come from the profile, with a default per sector; a dropped date names the setting."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import ConnectorError, open_export, parse_profile
from connectors.validate import EARLIEST_BIRTH_DATE, Rules, Validator

from .helpers import VVE_PROFILE, read_all, write_csv

TODAY = date(2025, 6, 1)


def validate_dates(rules: Rules, days: list[str]) -> tuple[list, dict]:
    frame = pd.DataFrame({"export_file": "f.csv", "row_number": range(1, len(days) + 1),
                          "record_key": [str(k) for k in range(len(days))], "birth_date": days})
    chunk = Validator(rules).validate(frame, lambda i: {})
    return list(chunk.records["birth_date"]), dict(chunk.dropped)


def rules(sector: str = "vve", **kw) -> Rules:
    return Rules(sector=sector, date_format="%Y-%m-%d", sex_codes={}, today=TODAY, **kw)


@given(day=st.dates(min_value=date(1800, 1, 1), max_value=date(2100, 12, 31)),
       earliest=st.dates(min_value=date(1850, 1, 1), max_value=date(2024, 1, 1)),
       span=st.integers(min_value=0, max_value=80_000), sector=st.sampled_from(sorted(EARLIEST_BIRTH_DATE)))
def test_a_date_is_kept_exactly_when_plausible_and_a_dropped_one_names_its_setting(day, earliest, span, sector):
    latest = earliest + timedelta(days=span)
    kept, dropped = validate_dates(rules(sector, earliest_birth_date=earliest, latest_birth_date=latest),
                                   [day.isoformat()])
    plausible = earliest <= day <= min(latest, TODAY)
    assert kept == [day.isoformat() if plausible else None]
    if plausible:
        assert dropped == {}
    else:
        ((field, reason), n), = dropped.items()
        assert field == "birth_date" and n == 1
        if day < earliest:
            assert reason == f"before earliest_birth_date {earliest.isoformat()}"
        elif day > TODAY:
            assert reason == "in the future"
        else:
            assert reason == f"after latest_birth_date {latest.isoformat()}"


def test_sector_defaults_keep_adult_learners_in_mbo_only():
    days = ["1962-03-04", "1989-12-31", "1990-01-01", "2030-01-01"]
    assert validate_dates(rules("mbo"), days)[0] == ["1962-03-04", "1989-12-31", "1990-01-01", None]
    kept, dropped = validate_dates(rules("vo"), days)
    assert kept == [None, None, "1990-01-01", None]
    assert dropped == {("birth_date", "before earliest_birth_date 1990-01-01"): 2,
                       ("birth_date", "in the future"): 1}


def test_the_profile_sets_the_range_and_the_ingest_counts_per_reason(tmp_path):
    text = VVE_PROFILE.replace('sector = "vve"', 'sector = "vve"\nearliest_birth_date = 1950-01-01\n'
                                                  'latest_birth_date = "2022-12-31"')
    lines = ["1;A;;B;01-01-1960;M;;;x", "2;A;;B;01-01-1940;M;;;x", "3;A;;B;01-01-2023;M;;;x"]
    records, _, dropped, _ = read_all(open_export(write_csv(tmp_path / "a.csv", lines),
                                                  profile=parse_profile(text, "vve.toml")))
    assert [r["birth_date"] for r in records] == ["1960-01-01", None, None]
    assert dropped == {("birth_date", "before earliest_birth_date 1950-01-01"): 1,
                       ("birth_date", "after latest_birth_date 2022-12-31"): 1}


@pytest.mark.parametrize(("setting", "key"), [
    ('earliest_birth_date = "long ago"', "earliest_birth_date"),
    ("earliest_birth_date = 2010-01-01\nlatest_birth_date = 2000-01-01", "earliest_birth_date is after"),
])
def test_a_bad_range_is_refused_naming_the_key(setting, key):
    with pytest.raises(ConnectorError, match=key):
        parse_profile(VVE_PROFILE.replace('sector = "vve"', f'sector = "vve"\n{setting}'), "vve.toml")
