"""Primary-school exports: one EDEXML file per school, and the end-of-primary test file (po_toets.csv)."""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections import Counter, defaultdict
from pathlib import Path

from ttp.demo.bad_rows import plan_bad_rows
from ttp.demo.csv_exports import TruthRow
from ttp.demo.edexml_writer import SCHOOL_YEAR, Pupil, write_edexml
from ttp.demo.identifiers import break_check_digit
from ttp.demo.noise import Noise, observe
from ttp.demo.places import malformed_postcode
from ttp.demo.population import Person, Population
from ttp.demo.schools import School

TOETS_COLUMNS = ("Leerlingnummer", "Vestiging", "Schooljaar", "Score eindtoets", "Schooladvies")
ADVIES_EXPORT = {"praktijkonderwijs": "Praktijkonderwijs", "vmbo-b": "VMBO-B", "vmbo-k": "VMBO-K",
                 "vmbo-gt": "VMBO-(G)T", "vmbo-gt/havo": "VMBO-(G)T/HAVO", "havo": "HAVO",
                 "havo/vwo": "HAVO/VWO", "vwo": "VWO"}


def _fourth_birthday(day: dt.date) -> dt.date:
    return day.replace(year=day.year + 4, day=min(day.day, 28)) + dt.timedelta(days=1)


def _enrolments(pop: Population) -> dict[School, list[tuple[Person, bool]]]:
    """School -> (pupil, is this the school they left) in cohort order."""
    by_school: dict[School, list[tuple[Person, bool]]] = defaultdict(list)
    for p in pop.persons:
        if p.po_school is None:
            continue
        by_school[p.po_school].append((p, False))
        if p.po_previous_school is not None:
            by_school[p.po_previous_school].append((p, True))
    return by_school


def write_po_exports(pop: Population, out_dir: Path, seed: int, noise: Noise | None = None
                     ) -> tuple[dict[str, int], dict[str, int], list[TruthRow], int]:
    """Write po/<BRIN><dep>_2018-2019.xml for every school and po_toets.csv.

    Returns rows per written file (relative path), bad rows by kind, truth rows and the po_toets row count."""
    noise = noise or Noise()
    rng = random.Random(f"{seed}/po")
    po_dir = out_dir / "po"
    po_dir.mkdir(parents=True, exist_ok=True)
    by_school = _enrolments(pop)
    schools = [s for s in pop.schools if s.sector == "po" and s in by_school]
    pupils_of: dict[School, list[Pupil]] = {}
    for school in schools:
        enrolled = by_school[school]
        rng.shuffle(enrolled)
        first_key = rng.randint(1001, 1400)
        pupils = []
        for i, (p, left) in enumerate(enrolled):
            stage = "po_prev" if left else "po"
            born_in = _fourth_birthday(p.birth_date)
            if left:
                assert p.po_switch_date is not None  # set with po_previous_school (population._school_career)
                instroom, uitstroom = born_in, p.po_switch_date - dt.timedelta(days=1)
            else:
                instroom, uitstroom = (p.po_switch_date or born_in), None
            pupils.append(Pupil(p, observe(p, rng, "column", noise), str(first_key + i), instroom, uitstroom,
                                bsn=p.bsn, postcode=p.addresses[stage].postcode))
        pupils_of[school] = pupils
    everyone = [pupil for school in schools for pupil in pupils_of[school]]
    plan = plan_bad_rows(len(everyone), rng, kinds=("invalid_bsn", "malformed_postcode"),
                         has_bsn=[pupil.bsn is not None for pupil in everyone])
    for i, kind in plan.items():
        pupil = everyone[i]
        pupil.bad = kind
        if kind == "invalid_bsn":
            assert pupil.bsn is not None  # plan_bad_rows puts invalid_bsn only on rows with a BSN (has_bsn)
            pupil.bsn = break_check_digit(pupil.bsn, rng)
        else:
            pupil.postcode = malformed_postcode(pupil.postcode, rng, keep_pattern=True)
    files: dict[str, int] = {}
    truth: list[TruthRow] = []
    for school in schools:
        name = f"po/{school.code}_{SCHOOL_YEAR}.xml"
        write_edexml(out_dir / name, school, pupils_of[school], rng)
        files[name] = len(pupils_of[school])
        truth += [("po", pupil.key, pupil.person.entity_id, pupil.person.twin_of or "", school.code)
                  for pupil in pupils_of[school]]
    toets_rows = _write_toets(out_dir / "po_toets.csv", schools, pupils_of, rng)
    return files, dict(Counter(plan.values())), truth, toets_rows


def _write_toets(path: Path, schools: list[School], pupils_of: dict[School, list[Pupil]],
                 rng: random.Random) -> int:
    """The test score and school advice per groep-8 pupil, keyed by the school's pupil key (cp1252, ';')."""
    rows = 0
    with path.open("w", encoding="cp1252", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(TOETS_COLUMNS)
        for school in schools:
            for pupil in sorted(pupils_of[school], key=lambda pu: int(pu.key)):
                if pupil.uitstroom is not None:
                    continue  # left before the test in April
                p = pupil.person
                assert p.advies is not None  # every primary-school pupil gets an advice (population._school_career)
                score = "" if rng.random() < 0.01 else str(p.toets_score)
                writer.writerow((pupil.key, school.code, SCHOOL_YEAR, score, ADVIES_EXPORT[p.advies]))
                rows += 1
    return rows
