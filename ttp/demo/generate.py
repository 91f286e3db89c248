"""`ttp demo generate`: write a synthetic Limburg cohort as its source systems export it, with the truth."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ttp.demo.csv_exports import TruthRow, write_csv_export
from ttp.demo.noise import Noise
from ttp.demo.po_exports import write_po_exports
from ttp.demo.population import Rates, build_population
from ttp.demo.schools import write_register

Progress = Callable[[str, int, int], None]  # (step, done, total)
PROFILES = ("vve", "vo", "mbo", "po_toets")
TRUTH_COLUMNS = ("source", "record_key", "entity_id", "twin_of", "school")

README = """Synthetic Limburg cohort (persons={persons}, seed={seed}); every name, number and address is made up.

Files
  vve.csv + vve.toml            early-childhood (VVE) registrations (cp1252, ';', d-m-Y)
  po/*.xml                      primary school, EDEXML 2.1, one file per school for 2018-2019
  po_toets.csv + po_toets.toml  end-of-primary test score and advice, keyed by the po pupil key (attach_to = "po")
  vo.csv + vo.toml              secondary school 2021-2022, Magister export (UTF-8 with BOM, ';', dd-mm-yyyy)
  mbo.csv + mbo.toml            mbo 2024-2025, Eduarte export (cp1252, tab, yyyy-mm-dd)
  schools.csv                   school register in the layout of DUO's 'Adressen alle vestigingen'
  truth.csv                     which record is which person: source,record_key,entity_id,twin_of,school
                                (kept apart: it is the answer key for `ttp link evaluate`; rows with an
                                empty record_key are the deliberately keyless rows, quarantined on ingest)

Ingest (run from this folder, after `ttp init`)
  ttp ingest vve.csv --source vve --profile vve.toml
  ttp ingest po/*.xml --source po --format edexml
  ttp ingest po_toets.csv --source po_toets --profile po_toets.toml
  ttp ingest vo.csv --source vo --profile vo.toml
  ttp ingest mbo.csv --source mbo --profile mbo.toml
  ttp schools import schools.csv
  ttp link run vve po vo mbo
  ttp link evaluate JOB_ID --labels truth.csv
"""


@dataclass(slots=True)
class CohortSummary:
    """What `generate_cohort` wrote."""

    out_dir: Path
    persons: int  # children of the region
    seed: int
    entities: int  # persons (twins included)
    twins: int  # persons who have a twin
    records: dict[str, int] = field(default_factory=dict)  # source -> records written (po_toets: payload rows)
    files: dict[str, int] = field(default_factory=dict)  # file (relative to out_dir) -> data rows
    bad_rows: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> kind -> deliberately bad rows
    schools: dict[str, int] = field(default_factory=dict)  # sector -> schools in schools.csv


def generate_cohort(out_dir: Path, persons: int = 5000, seed: int = 1, progress: Progress | None = None,
                    *, rates: Rates | None = None, noise: Noise | None = None) -> CohortSummary:
    """Write the cohort's exports, their profiles, schools.csv, truth.csv and README.txt into `out_dir`.

    The same `persons` and `seed` give byte-identical files."""
    if persons < 1:
        raise ValueError("persons must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda step, done, total: None)
    steps = 7
    report("population", 0, steps)
    pop = build_population(persons, seed, rates)
    summary = CohortSummary(out_dir, persons, seed, entities=len(pop.persons),
                            twins=sum(1 for p in pop.persons if p.twin_of))
    report("schools", 1, steps)
    write_register(out_dir / "schools.csv", pop.schools)
    for sector in ("po", "vo", "mbo"):
        summary.schools[sector] = sum(1 for s in pop.schools if s.sector == sector)
    summary.files["schools.csv"] = len(pop.schools)
    truth: list[TruthRow] = []
    for done, source in enumerate(("vve", "vo", "mbo"), start=2):
        report(source, done, steps)
        rows, bad, source_truth = write_csv_export(source, pop, out_dir, seed, noise)
        summary.records[source] = rows
        summary.files[f"{source}.csv"] = rows
        summary.bad_rows[source] = bad
        truth += source_truth
    report("po", 5, steps)
    po_files, po_bad, po_truth, toets_rows = write_po_exports(pop, out_dir, seed, noise)
    summary.records["po"] = sum(po_files.values())
    summary.records["po_toets"] = toets_rows
    summary.files.update(po_files)
    summary.files["po_toets.csv"] = toets_rows
    summary.bad_rows["po"] = po_bad
    truth += po_truth
    report("truth", 6, steps)
    _write_truth(out_dir / "truth.csv", truth)
    _write_profiles(out_dir)
    (out_dir / "README.txt").write_text(README.format(persons=persons, seed=seed), encoding="utf-8")
    report("done", steps, steps)
    return summary


def _write_truth(path: Path, truth: list[TruthRow]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRUTH_COLUMNS)
        writer.writerows(truth)


def _write_profiles(out_dir: Path) -> None:
    package = resources.files("ttp.demo.profiles")
    for name in PROFILES:
        (out_dir / f"{name}.toml").write_bytes(package.joinpath(f"{name}.toml").read_bytes())
