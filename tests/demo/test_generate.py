"""The generated cohort: deterministic, fully labelled, valid where it should be and broken where it should."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from stdnum.nl import bsn, onderwijsnummer, postcode

from tests.demo.exports import CSV_SOURCES, profile, read_csv, read_po, read_truth
from ttp.demo import generate_cohort

PERSONS = 5000


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort")
    summary = generate_cohort(out, persons=PERSONS, seed=1)
    return out, summary


def _all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    generate_cohort(tmp_path / "a", persons=300, seed=7)
    generate_cohort(tmp_path / "b", persons=300, seed=7)
    generate_cohort(tmp_path / "c", persons=300, seed=8)
    a, b, c = (_all_files(tmp_path / d) for d in "abc")
    assert a == b
    assert a["truth.csv"] != c["truth.csv"]
    assert a["vve.csv"] != c["vve.csv"]


def test_writes_every_promised_file(cohort):
    out, summary = cohort
    for name in ("vve", "vo", "mbo", "po_toets"):
        assert (out / f"{name}.csv").stat().st_size > 0
        assert profile(out, name)["format"] == "csv"
    assert (out / "schools.csv").exists() and (out / "README.txt").exists()
    assert len(list((out / "po").glob("*.xml"))) == summary.schools["po"]
    assert 30 <= summary.schools["po"] <= 50


def test_truth_covers_every_record_exactly_once(cohort):
    out, summary = cohort
    written: Counter = Counter()
    for source in CSV_SOURCES:
        prof, rows = read_csv(out, source)
        keys = [r[prof["fields"]["record_key"]] for r in rows]
        present = [k for k in keys if k]
        assert len(present) == len(set(present)), f"{source}: keys repeat within the file"
        written.update((source, k, "") for k in keys)
        assert len(rows) == summary.records[source]
    pupils = read_po(out)
    by_file = Counter((p["file"], p["key"]) for p in pupils)
    assert max(by_file.values()) == 1
    written.update(("po", p["key"], p["school"]) for p in pupils)
    truth = read_truth(out)
    assert Counter((t["source"], t["record_key"], t["school"]) for t in truth) == written
    # po keys are small per-school numbers, so they repeat across schools.
    assert len({p["key"] for p in pupils}) < len(pupils)


def test_every_bsn_passes_the_11_proef_unless_deliberately_broken(cohort):
    out, summary = cohort
    for source in CSV_SOURCES:
        prof, rows = read_csv(out, source)
        numbers = [r[prof["fields"]["bsn"]] for r in rows if r[prof["fields"]["bsn"]]]
        invalid = sum(not bsn.is_valid(n) for n in numbers)
        assert invalid == summary.bad_rows[source].get("invalid_bsn", 0), source
        assert invalid >= 1
        column = prof["fields"].get("onderwijsnummer")
        if column:
            assert all(onderwijsnummer.is_valid(r[column]) for r in rows if r[column])
    pupils = read_po(out)
    invalid = sum(not bsn.is_valid(p["bsn"]) for p in pupils if "bsn" in p)
    assert invalid == summary.bad_rows["po"]["invalid_bsn"] >= 1
    assert all(onderwijsnummer.is_valid(p["onderwijsnummer"]) for p in pupils if "onderwijsnummer" in p)


def test_bad_postcodes_and_dates_are_exactly_the_deliberate_ones(cohort):
    out, summary = cohort
    for source in CSV_SOURCES:
        prof, rows = read_csv(out, source)
        fields = prof["fields"]
        bad_pc = sum(not postcode.is_valid(r[fields["postcode"]]) for r in rows)
        assert bad_pc == summary.bad_rows[source].get("malformed_postcode", 0) >= 1, source
        bad_dates = 0
        for r in rows:
            try:
                dt.datetime.strptime(r[fields["birth_date"]], prof["date_format"])
            except ValueError:
                bad_dates += 1
        assert bad_dates == summary.bad_rows[source].get("impossible_date", 0) >= 1, source
        assert sum(not r[fields["record_key"]] for r in rows) == summary.bad_rows[source]["missing_key"]
        share = sum(summary.bad_rows[source].values()) / len(rows)
        assert 0.001 <= share <= 0.005, source
    pupils = read_po(out)
    assert sum(not postcode.is_valid(p["postcodenl"]) for p in pupils) == summary.bad_rows["po"]["malformed_postcode"]


def test_profiles_name_existing_columns_and_map_every_code(cohort):
    out, _ = cohort
    for name in (*CSV_SOURCES, "po_toets"):
        prof, rows = read_csv(out, name)
        header = set(rows[0])
        columns = list(prof["fields"].values()) + list(prof.get("attributes", {}).values())
        columns += [link["column"] for link in prof.get("link_fields", {}).values()]
        assert set(columns) <= header, name
        if "sex" in prof["fields"]:
            assert {r[prof["fields"]["sex"]] for r in rows} - {""} == set(prof["sex_codes"]), name
        for attribute, codes in prof.get("attribute_codes", {}).items():
            assert {r[prof["attributes"][attribute]] for r in rows} == set(codes), (name, attribute)
    assert profile(out, "po_toets")["attach_to"] == "po"
