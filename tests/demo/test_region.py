"""The demo region: deterministic, schools of realistic size that stay the same over the years, deliveries
year by year under the same file names, rates near the published national ones."""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from connectors.profile import load_profile
from policies.indicators import advice_position
from ttp.demo.region import FIRST_YEAR, LAST_YEAR, YEARS, build_region, build_region_schools, generate_region

COHORT = 300


@pytest.fixture(scope="module")
def region():
    return build_region(COHORT, 1)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("region")
    return out, generate_region(out, cohort=60, seed=1)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_data(written, tmp_path):
    out, _ = written
    generate_region(tmp_path / "again", cohort=60, seed=1)
    generate_region(tmp_path / "other", cohort=60, seed=2)
    a, b, c = _files(out), _files(tmp_path / "again"), _files(tmp_path / "other")
    assert a == b
    assert a["truth.csv"] != c["truth.csv"]


def test_every_year_delivers_every_source_under_the_same_file_names(written):
    out, summary = written
    assert summary.years == YEARS and len(YEARS) >= 5
    by_source: dict[str, list[str]] = {}
    for year, source, path in summary.deliveries:
        by_source.setdefault(source, []).append(year)
        assert (out / path).exists()
    for source in ("po", "po_toets", "vo", "mbo"):
        assert len(set(by_source[source])) >= 5, source
    names = {Path(p).name for _, s, p in summary.deliveries if s == "vo"}
    assert names == {"vo.csv"}  # one name every year, and the corrected one too
    corrected = [p for _, s, p in summary.deliveries if "correction" in p]
    assert corrected and (out / corrected[0]).exists()
    for name in ("vo", "mbo", "po_toets", "vve"):
        load_profile(out / f"{name}.toml")  # one profile serves every year


def test_schools_are_the_same_in_every_year_and_for_any_size():
    small, large = build_region_schools(1, 60), build_region_schools(1, 300)
    first = [s.code for s in small if s.sector == "po"]
    assert first == [s.code for s in large if s.sector == "po"][: len(first)]
    assert [s.code for s in build_region_schools(2, 60)] != [s.code for s in small]


def test_groep_8_sizes_are_realistic(region):
    careers, _ = region
    size: Counter = Counter()
    for c in careers:
        for year, (grade, school) in c.po.items():
            if grade == 8:
                size[(year, school.code)] += 1
    sizes = sorted(size.values())
    assert 8 <= sizes[0] and sizes[-1] <= 62, (sizes[0], sizes[-1])
    assert 20 <= statistics.median(sizes) <= 30


def test_rates_are_near_the_national_ones(region):
    careers, _ = region
    advice = Counter(c.person.advies for c in careers if any(g == 8 for g, _ in c.po.values()))
    total = sum(advice.values())
    share = {k: n / total for k, n in advice.items()}
    assert 0.12 <= share["vwo"] + share["havo/vwo"] / 2 <= 0.30  # about a fifth gets a vwo advice
    assert share.get("praktijkonderwijs", 0) <= 0.06
    pairs = [(c.person.advies, next(lv for _, (g, lv, _) in sorted(c.vo.items()) if g == 3))
             for c in careers if c.person.advies and any(g == 3 for g, _, _ in c.vo.values())]
    position = Counter(advice_position(pd.Series([a for a, _ in pairs]), pd.Series([lv for _, lv in pairs])))
    n = sum(position.values())
    assert 0.03 <= position["below"] / n <= 0.12 and 0.05 <= position["above"] / n <= 0.20
    students = left = 0
    for c in careers:
        for year, (_, _, _, gone, _, _) in c.mbo.items():
            if year < LAST_YEAR:
                students += 1
                left += gone and (year + 1) not in c.mbo and c.diploma in ("geen", "vmbo", "mbo-1")
    assert 0.015 <= left / students <= 0.04  # DUO's vsv: about 2-3% of mbo students a year


def test_the_register_is_in_duos_layout_with_codes(written):
    out, _ = written
    with (out / "schools.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert {"BRIN NUMMER", "BEVOEGD GEZAG NUMMER", "GEMEENTENUMMER", "GEMEENTENAAM", "VESTIGINGSNAAM"} <= set(rows[0])
    assert all(r["GEMEENTENUMMER"].isdigit() and len(r["GEMEENTENUMMER"]) == 4 for r in rows)


def test_pupils_are_followed_over_the_years(region):
    careers, _ = region
    followed = [c for c in careers if 4 in {g for g, _ in c.po.values()} and 8 in {g for g, _ in c.po.values()}]
    assert followed, "some year group is seen from groep 4 to groep 8"
    in_lj3 = [c for c in careers if any(g == 8 for g, _ in c.po.values()) and any(g == 3 for g, _, _ in c.vo.values())]
    cohorts = {c.g8 for c in in_lj3}
    assert len(cohorts) >= 5  # advice and leerjaar 3 for five cohorts
    assert min(c.g8 for c in careers) < FIRST_YEAR
