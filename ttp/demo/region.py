"""`ttp demo`'s region: pupils of fifteen year groups followed over eight school years (2016-2017 to
2023-2024), delivered year by year the way each source system exports them, with the truth.

Rates (docs/demo.md cites their sources): the school advice; the level in leerjaar 3 against it (about 7%
below and 12% above, a double advice counted by its lowest level); repeating a year (about 2% a year in po
and vo); mbo levels; leaving mbo early without a startkwalificatie (DUO's vsv: about 2.5% of mbo students a
year); VVE.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from itertools import accumulate
from pathlib import Path

from ttp.demo.bad_rows import count_kinds, plan_bad_rows
from ttp.demo.csv_exports import MAGISTER_LEVEL, VVE, VVE_LOCATIONS, Layout, _damage
from ttp.demo.edexml_writer import Pupil, write_edexml
from ttp.demo.identifiers import break_check_digit, draw_bsn, draw_onderwijsnummer
from ttp.demo.names import draw_family_name, draw_given_names
from ttp.demo.noise import Noise, Observed, observe
from ttp.demo.places import Address, draw_address, malformed_postcode, region
from ttp.demo.po_exports import ADVIES_EXPORT
from ttp.demo.population import VO_LEVELS, Person, _advice
from ttp.demo.schools import School, write_register

FIRST_YEAR, YEARS_COUNT = 2016, 8
YEARS = tuple(f"{y}-{y + 1}" for y in range(FIRST_YEAR, FIRST_YEAR + YEARS_COUNT))
LAST_YEAR = FIRST_YEAR + YEARS_COUNT - 1
# groep 8 in school year g (its start year): from those in mbo in the first year to groep 4 in the last
G8_FIRST, G8_LAST = FIRST_YEAR - 6, LAST_YEAR + 4
PO_GRADES = range(4, 9)  # the monitor asks schools for groep 4 to 8
VO_GRADES = range(1, 4)  # and for the onderbouw, leerjaar 1 to 3
CORRECTED = ("vo", "2020-2021")  # a delivery sent again, corrected, under the same file name
PROFILES = ("vve", "vo", "mbo", "po_toets")
Progress = Callable[[str, int, int], None]

VO_COLUMNS = ("Stamnr", "Achternaam", "Tussenv.", "Officiële voornamen", "Roepnaam", "Voorletters", "Geb.datum",
              "Geslacht", "BSN", "Onderwijsnummer", "Postcode", "Huisnr.", "BRIN", "Schooljaar", "Leerjaar",
              "Niveau", "E-mailadres")
MBO_COLUMNS = ("Deelnemernummer", "Achternaam", "Voorvoegsel", "Voornamen", "Roepnaam", "Geboortedatum",
               "Geslacht", "BSN", "Onderwijsnummer", "Postcode", "Huisnummer", "Instelling", "Schooljaar",
               "Leerjaar", "Crebo", "Niveau", "Diploma behaald", "Uitgeschreven zonder diploma")
TOETS_COLUMNS = ("Leerlingnummer", "Vestiging", "Schooljaar", "Groep", "Score LVS rekenen", "Score eindtoets",
                 "Schooladvies")
VO_Y = Layout("vo", "utf-8-sig", ";", lambda y, m, d: f"{d:02d}-{m:02d}-{y}", "Stamnr", "BSN", "Geb.datum",
              "Postcode", "column", VO_COLUMNS)
MBO_Y = Layout("mbo", "cp1252", "\t", lambda y, m, d: f"{y}-{m:02d}-{d:02d}", "Deelnemernummer", "BSN",
               "Geboortedatum", "Postcode", "column", MBO_COLUMNS)
BRUGKLAS = {"vmbo-b": "VMBO BB", "vmbo-k": "VMBO KB", "vmbo-gt": "VMBO GL/TL", "vmbo-gt/havo": "VMBO GL/TL/HAVO",
            "havo": "HAVO", "havo/vwo": "HAVO/VWO", "vwo": "VWO", "praktijkonderwijs": "PRO"}
MBO_LEAVE = {1: 0.10, 2: 0.06, 3: 0.04, 4: 0.025}  # a year, leaving without a diploma
MBO_YEARS = {1: 1, 2: 2, 3: 3, 4: 3}
# Opleidingen by level (crebo codes in DUO's five-digit form); each institution offers a few of them
CREBOS = {1: ("25655",), 2: ("25256", "25498"), 3: ("25480", "25491"), 4: ("25604", "25187", "25412")}
SWITCH = 0.12  # of first-year students, in another opleiding on 1 October of their second year
SEX = {"vo": {"M": "M", "F": "V"}, "mbo": {"M": "Man", "F": "Vrouw"}, "vve": {"M": "J", "F": "M"}}


@dataclass(slots=True)
class Career:
    """Where one person is in each school year of the window, and what they did."""

    person: Person
    g8: int  # start year of the school year in which the pupil is in groep 8
    po: dict[int, tuple[int, School]] = field(default_factory=dict)  # year -> (groep, school)
    lvs: dict[int, int] = field(default_factory=dict)  # groep -> LVS rekenen score
    vo: dict[int, tuple[int, str, School]] = field(default_factory=dict)  # year -> (leerjaar, level, school)
    mbo: dict[int, tuple[int, int, bool, bool, School, str]] = field(default_factory=dict)
    # year -> (leerjaar, level, diploma this year, left without diploma this year, institution, crebo)
    vve: list[tuple[dt.date, bool]] = field(default_factory=list)  # (registration date, indication)
    diploma: str = "geen"


@dataclass(slots=True)
class RegionSummary:
    """What `generate_region` wrote."""

    out_dir: Path
    persons: int  # children of the region
    cohort: int  # pupils per year group
    seed: int
    entities: int
    twins: int
    years: tuple[str, ...] = YEARS
    records: dict[str, int] = field(default_factory=dict)  # source -> records over all years
    files: dict[str, int] = field(default_factory=dict)  # file (relative to out_dir) -> data rows
    bad_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    schools: dict[str, int] = field(default_factory=dict)
    deliveries: list[tuple[str, str, str]] = field(default_factory=list)  # (year, source, relative path)


def _school_year(y: int) -> str:
    return f"{y}-{y + 1}"


def build_region_schools(seed: int, cohort: int) -> list[School]:
    """The register: po schools for a groep 8 of 10 to 60 pupils each (median about 25), vo schools and mbo
    institutions. School i is drawn from the seed and i alone, so a smaller region holds the first schools
    of a larger one, the same in every year."""
    from ttp.demo.identifiers import draw_brin
    from ttp.demo.places import STREETS
    from ttp.demo.schools import DENOMINATIONS, MBO_NAMES, PO_NAMES, VO_NAMES

    municipalities = region(max(4, round(cohort / 60)))
    boards = [str(b) for b in random.Random(f"{seed}/boards").sample(range(10_000, 100_000), 12)]
    n_po, n_vo, n_mbo = max(3, round(cohort / 25)), max(2, round(cohort / 150)), max(2, min(3, round(cohort / 300)))
    names = [d for d, _ in DENOMINATIONS]
    weights = [w for _, w in DENOMINATIONS]
    cum = list(accumulate(m.inhabitants for m in municipalities))
    brins: set[str] = set()
    schools = []
    for sector, count in (("po", n_po), ("vo", n_vo), ("mbo", n_mbo)):
        for i in range(count):
            rng = random.Random(f"{seed}/{sector}/{i}")
            brin = draw_brin(rng, brins)
            if sector == "po":
                place = municipalities[i] if i < len(municipalities) else \
                    rng.choices(municipalities, cum_weights=cum)[0]
                board = boards[municipalities.index(place) % 8] if rng.random() < 0.8 else boards[rng.randrange(8)]
                name = f"Basisschool {PO_NAMES[i % len(PO_NAMES)]}"
            else:
                place = municipalities[i % len(municipalities)]
                board = boards[8] if sector == "vo" else boards[9]
                name = f"{VO_NAMES[i % len(VO_NAMES)]} {place.name}" if sector == "vo" else MBO_NAMES[i]
            schools.append(School(sector, brin, "00", name, place, board, rng.choices(names, weights)[0],
                                  rng.choice(STREETS), rng.randint(1, 80), place.postcode(rng)))
    return schools


def _sizes(rng: random.Random, n: int) -> list[float]:
    """Relative sizes of po schools: groep 8 of 10 to 60 pupils, median about 25 (log-normal, clipped)."""
    return [min(60.0, max(10.0, rng.lognormvariate(3.2, 0.45))) for _ in range(n)]


def _seats(rng: random.Random, schools: list[School], weights: list[float], cohort: int) -> list[School]:
    """The groep-8 school of each pupil of a year group: every school gets its share of the year group
    (largest remainder), so no school's groep 8 is much smaller than its size says; shuffled."""
    total = sum(weights)
    shares = [cohort * w / total for w in weights]
    counts = [int(x) for x in shares]
    for i in sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])[: cohort - sum(counts)]:
        counts[i] += 1
    seats = [school for school, n in zip(schools, counts, strict=True) for _ in range(n)]
    rng.shuffle(seats)
    return seats


def _po_years(g8: int, repeat: int | None) -> dict[int, int]:
    """School year -> groep for a pupil in groep 8 in `g8`; `repeat` is a groep done twice."""
    grades = [8, 7, 6, 5, 4, 3]
    if repeat is not None:
        grades.insert(grades.index(repeat) + 1, repeat)
    return {g8 - i: grade for i, grade in enumerate(grades)}


def _career(p: Person, g8: int, school: School, rng: random.Random, schools: dict[str, list[School]],
            po_weights: list[float], vve_rate: float) -> Career:
    c = Career(p, g8)
    repeat = rng.choice((4, 5, 6, 7)) if rng.random() < 0.05 else None
    switch_year = g8 - rng.randint(0, 4) if rng.random() < 0.04 else None
    before = rng.choices(schools["po"], weights=po_weights)[0] if switch_year else school
    for year, grade in _po_years(g8, repeat).items():
        if grade in PO_GRADES and FIRST_YEAR <= year <= LAST_YEAR:
            c.po[year] = (grade, before if switch_year and year < switch_year else school)
    vve_boost = 0.0
    if rng.random() < vve_rate:
        indicated = rng.random() < (0.55 if p.gewicht != "0" else 0.12)
        day = p.birth_date + dt.timedelta(days=rng.randint(900, 1200))
        c.vve.append((day, indicated))
        if rng.random() < 0.03:
            c.vve.append((day + dt.timedelta(days=rng.randint(60, 300)), indicated))
        vve_boost = 0.15 if indicated else 0.0
    for grade in PO_GRADES:
        c.lvs[grade] = round(150 + 21 * (grade - 4) * (1 + 0.05 * vve_boost) + 16 * p.ability + rng.gauss(0, 6))
    p.toets_score = max(501, min(550, round(535 + 8.5 * p.ability + rng.gauss(0, 3))))
    p.advies = _advice(p.ability, rng)
    if rng.random() < 0.95:
        _vo_career(c, rng, schools)
    return c


def _vo_career(c: Career, rng: random.Random, schools: dict[str, list[School]]) -> None:
    p = c.person
    school = rng.choice(schools["vo"])
    advice = p.advies or "vmbo-gt"
    if advice == "praktijkonderwijs":
        single = "praktijkonderwijs"
    elif "/" in advice:
        low, high = advice.split("/")
        single = low if rng.random() < 0.5 else high
    else:
        single = advice
    year, grade = c.g8 + 1, 1
    level = advice
    while grade <= 6:
        if FIRST_YEAR <= year <= LAST_YEAR and grade in VO_GRADES:
            c.vo[year] = (grade, level, school)
        if grade == 1:
            level = single
        elif grade == 2 and level in VO_LEVELS:
            step = rng.choices((-1, 0, 1), weights=(0.09, 0.86, 0.05))[0]
            level = VO_LEVELS[max(0, min(4, VO_LEVELS.index(level) + step))]
        year += 1
        if rng.random() < 0.02:
            continue  # repeats the leerjaar
        grade += 1
        last = {"vmbo-b": 4, "vmbo-k": 4, "vmbo-gt": 4, "havo": 5, "vwo": 6, "praktijkonderwijs": 5}[level]
        if grade > last:
            break
    p.vo_level = level
    c.diploma = {"havo": "havo", "vwo": "vwo"}.get(level, "vmbo" if level.startswith("vmbo") else "geen")
    go_mbo = {"vmbo-b": 0.92, "vmbo-k": 0.92, "vmbo-gt": 0.8, "havo": 0.18, "vwo": 0.03, "praktijkonderwijs": 0.2}
    if rng.random() < go_mbo[level]:
        options = {"vmbo-b": ((1, 2), (0.25, 0.75)), "vmbo-k": ((2, 3), (0.5, 0.5)),
                   "vmbo-gt": ((3, 4), (0.35, 0.65)), "havo": ((4,), (1,)), "vwo": ((4,), (1,)),
                   "praktijkonderwijs": ((1,), (1,))}
        levels, weights = options[level]
        _mbo_career(c, year, rng.choices(levels, weights)[0], rng, schools)


def offered(institution: int, institutions: int, level: int) -> tuple[str, ...]:
    """The opleidingen (crebo codes) of one level that institution number `institution` offers: every
    institution the entree (level 1), the others shared out among the institutions."""
    codes = CREBOS[level]
    own = tuple(c for k, c in enumerate(codes) if k % institutions == institution % institutions)
    return own or (codes[institution % len(codes)],)


def _mbo_career(c: Career, year: int, level: int, rng: random.Random, schools: dict[str, list[School]]) -> None:
    institution = rng.choice(schools["mbo"])
    number, count = schools["mbo"].index(institution), len(schools["mbo"])
    pick = random.Random(f"{c.person.entity_id}/{c.g8}/opleiding")  # apart, so the other draws stay as they were
    crebo = pick.choice(offered(number, count, level))
    grade = 1
    while year <= LAST_YEAR + 1 and grade <= MBO_YEARS[level] + 1:
        leaves = rng.random() < MBO_LEAVE[level]
        done = not leaves and grade >= MBO_YEARS[level] and rng.random() < 0.9
        if FIRST_YEAR <= year <= LAST_YEAR:
            c.mbo[year] = (grade, level, done, leaves, institution, crebo)
        year += 1
        if done:
            c.diploma = f"mbo-{level}"
            return
        if leaves:
            if rng.random() < 0.45:  # comes back next year, at the same or a lower level
                level, grade = max(1, level - rng.choice((0, 0, 1))), 1
                crebo = pick.choice(offered(number, count, level))
                continue
            return
        if grade == 1 and pick.random() < SWITCH:  # another opleiding at the same or a neighbouring level,
            others = [(lv, code) for lv in (level - 1, level, level + 1) if lv in CREBOS  # starting again
                      for code in offered(number, count, lv) if code != crebo]
            if others:
                level, crebo = pick.choice(others)
                continue
        grade += 1


def _birth(rng: random.Random, g8: int, repeat: bool) -> dt.date:
    start = dt.date(g8 - 12 - (1 if repeat else 0), 10, 1)
    return start + dt.timedelta(days=rng.randrange(365))


def build_region(cohort: int, seed: int) -> tuple[list[Career], list[School]]:
    """The true region for a seed: careers of `cohort` pupils per year group, and the schools."""
    rng = random.Random(f"{seed}/region")
    schools = build_region_schools(seed, cohort)
    by_sector = {s: [x for x in schools if x.sector == s] for s in ("po", "vo", "mbo")}
    weights = _sizes(random.Random(f"{seed}/sizes"), len(by_sector["po"]))
    municipalities = sorted({s.municipality for s in schools}, key=lambda m: -m.inhabitants)
    cum = list(accumulate(m.inhabitants for m in municipalities))
    bsns: set[str] = set()
    onrs: set[str] = set()
    careers: list[Career] = []
    number = 0

    def person(sex: str, birth: dt.date) -> Person:
        nonlocal number
        number += 1
        p = Person(entity_id=f"E{number:07d}", sex=sex, birth_date=birth, family=draw_family_name(rng),
                   given=draw_given_names(rng, sex), bsn=None, onderwijsnummer=None, addresses={},
                   gewicht=rng.choices(("0", "0.3", "1.2"), weights=(0.84, 0.09, 0.07))[0], ability=0.0)
        if rng.random() < 0.02:
            p.onderwijsnummer = draw_onderwijsnummer(rng, onrs)
        else:
            p.bsn = draw_bsn(rng, bsns)
        p.ability = rng.gauss(0, 1) - {"0": 0.0, "0.3": 0.45, "1.2": 0.75}[p.gewicht]
        home = draw_address(rng, municipalities, cum)
        for stage in ("vve", "po_prev", "po", "vo", "mbo"):
            if stage != "vve" and rng.random() < (0.5 if stage == "po" else 0.2):
                home = draw_address(rng, municipalities, cum, near=home.municipality)
            p.addresses[stage] = home
        return p

    for g8 in range(G8_FIRST, G8_LAST + 1):
        places = _seats(rng, by_sector["po"], weights, cohort)
        made = 0
        while made < cohort:
            repeat = rng.random() < 0.05
            p = person(rng.choice("MF"), _birth(rng, g8, repeat))
            career = _career(p, g8, places[made], rng, by_sector, weights, 0.7)
            made += 1
            if not (career.po or career.vo or career.mbo or any(_vve_year(d) <= LAST_YEAR for d, _ in career.vve)):
                continue  # in school before the window and out of it by its first year: in no delivery
            careers.append(career)
            if made < cohort and rng.random() < 0.01:  # a twin: same birth date, family, address, school
                sex = rng.choice("MF")
                twin = Person(entity_id=f"E{number + 1:07d}", sex=sex, birth_date=p.birth_date, family=p.family,
                              given=draw_given_names(rng, sex, avoid=p.given.roepnaam), bsn=None,
                              onderwijsnummer=None, addresses=p.addresses, gewicht=p.gewicht,
                              ability=p.ability + rng.gauss(0, 0.5), twin_of=p.entity_id)
                number += 1
                twin.bsn = draw_bsn(rng, bsns)
                p.twin_of = twin.entity_id
                c = _career(twin, g8, places[made], rng, by_sector, weights, 0.7)
                first = career
                c.po = dict(first.po)
                c.vve = list(first.vve)
                careers.append(c)
                made += 1
    return careers, schools


class _Observations:
    """One record's view of a person per (source, school): kept from year to year, sometimes changed."""

    def __init__(self, rng: random.Random, noise: Noise) -> None:
        self.rng, self.noise = rng, noise
        self.seen: dict[tuple[str, str, str], Observed] = {}

    def of(self, p: Person, source: str, where: str, layout: str) -> Observed:
        key = (p.entity_id, source, where)
        if key not in self.seen or self.rng.random() < 0.05:
            self.seen[key] = observe(p, self.rng, layout, self.noise)
        return self.seen[key]


def _writer(path: Path, layout: Layout):
    handle = path.open("w", encoding=layout.encoding, errors="replace", newline="")
    writer = csv.writer(handle, delimiter=layout.delimiter, lineterminator="\r\n")
    writer.writerow(layout.columns)
    return handle, writer


def _date(layout: Layout, day: dt.date) -> str:
    return layout.date(day.year, day.month, day.day)


def _base(layout: Layout, obs: Observed, address: Address) -> dict[str, str]:
    return {"birth": _date(layout, obs.birth_date), "sex": SEX[layout.source].get(obs.sex, ""),
            "postcode": address.postcode, "house": str(address.house_number)}


def _write_rows(path: Path, layout: Layout, rows: list[tuple[Person, dict[str, str]]], rng: random.Random,
                damage: bool = True) -> dict[str, int]:
    # about 0.2% of rows damaged on purpose (at least one): not in a file of one row, which would be all
    plan = plan_bad_rows(len(rows), rng, has_bsn=[bool(layout.bsn and r[layout.bsn]) for _, r in rows]) \
        if damage and len(rows) >= 2 else {}
    handle, writer = _writer(path, layout)
    with handle:
        for i, (_, row) in enumerate(rows):
            if i in plan:
                row = dict(row)
                _damage(layout, row, plan[i], rng)
            writer.writerow([row[c] for c in layout.columns])
    return count_kinds(plan)


def generate_region(out_dir: Path, cohort: int = 300, seed: int = 1, progress: Progress | None = None,
                    noise: Noise | None = None) -> RegionSummary:
    """Write the region's deliveries (a folder per school year), the profiles, schools.csv, truth.csv
    and README.txt into `out_dir`. The same `cohort` and `seed` give byte-identical files."""
    if cohort < 1:
        raise ValueError("cohort must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    noise = noise or Noise()
    report = progress or (lambda step, done, total: None)
    report("population", 0, YEARS_COUNT + 1)
    careers, schools = build_region(cohort, seed)
    summary = RegionSummary(out_dir, len(careers), cohort, seed, entities=len(careers),
                            twins=sum(1 for c in careers if c.person.twin_of))
    write_register(out_dir / "schools.csv", schools)
    summary.files["schools.csv"] = len(schools)
    summary.schools = dict(Counter(s.sector for s in schools))
    rng = random.Random(f"{seed}/exports")
    seen = _Observations(rng, noise)
    truth: set[tuple[str, str, str, str, str]] = set()
    po_keys: dict[tuple[str, str], str] = {}
    next_po_key: Counter[str] = Counter()
    vo_keys = {c.person.entity_id: str(k) for c, k in zip(careers, rng.sample(range(100_000, 1_000_000),
                                                                             len(careers)), strict=True)}
    mbo_keys = {c.person.entity_id: str(k) for c, k in zip(careers, rng.sample(range(1_000_000, 10_000_000),
                                                                              len(careers)), strict=True)}
    registrations = sorted(((day, indicated, c.person) for c in careers for day, indicated in c.vve),
                           key=lambda r: (r[0], r[2].entity_id))
    vve_key = {id(r): str(20_000 + i) for i, r in enumerate(registrations)}
    records: Counter[str] = Counter()
    bad: dict[str, Counter[str]] = {}
    for number, y in enumerate(range(FIRST_YEAR, LAST_YEAR + 1), start=1):
        year = _school_year(y)
        report(year, number, YEARS_COUNT + 1)
        folder = out_dir / year
        (folder / "po").mkdir(parents=True, exist_ok=True)
        # po: an EDEXML file per school with its groep 4 to 8, and the test file
        pupils_of: dict[School, list[Pupil]] = {}
        toets: list[tuple[School, Pupil, Career]] = []
        for c in careers:
            if y not in c.po:
                continue
            grade, school = c.po[y]
            key = po_keys.get((c.person.entity_id, school.code))
            if key is None:
                next_po_key[school.code] += 1
                key = po_keys[(c.person.entity_id, school.code)] = str(1000 + next_po_key[school.code])
            obs = seen.of(c.person, "po", school.code, "column")
            pupil = Pupil(c.person, obs, key, _birthday4(c.person.birth_date), None, bsn=c.person.bsn,
                          postcode=c.person.addresses["po"].postcode, grade=grade)
            pupils_of.setdefault(school, []).append(pupil)
            toets.append((school, pupil, c))
            truth.add(("po", key, c.person.entity_id, c.person.twin_of or "", school.code))
        everyone = [pu for s in pupils_of for pu in pupils_of[s]]
        plan = plan_bad_rows(len(everyone), rng, kinds=("invalid_bsn", "malformed_postcode"),
                             has_bsn=[pu.bsn is not None for pu in everyone])
        for i, kind in plan.items():
            everyone[i].bad = kind
            bsn = everyone[i].bsn
            if kind == "invalid_bsn" and bsn is not None:
                everyone[i].bsn = break_check_digit(bsn, rng)
            else:
                everyone[i].postcode = malformed_postcode(everyone[i].postcode, rng, keep_pattern=True)
        bad.setdefault("po", Counter()).update(plan.values())
        for school in sorted(pupils_of, key=lambda s: s.code):
            name = f"{year}/po/{school.code}_{year}.xml"
            write_edexml(out_dir / name, school, pupils_of[school], rng, year)
            summary.files[name] = len(pupils_of[school])
            records["po"] += len(pupils_of[school])
        if pupils_of:  # a year without rows is no delivery
            summary.deliveries.append((year, "po", f"{year}/po"))
            summary.files[f"{year}/po_toets.csv"] = _write_toets(folder / "po_toets.csv", year, toets, rng)
            records["po_toets"] += summary.files[f"{year}/po_toets.csv"]
            summary.deliveries.append((year, "po_toets", f"{year}/po_toets.csv"))
        # vo (Magister) and mbo (Eduarte): everyone enrolled on 1 October
        vo_rows = []
        for c in careers:
            if y in c.vo:
                grade, level, school = c.vo[y]
                p = c.person
                obs = seen.of(p, "vo", "", "column")
                base = _base(VO_Y, obs, p.addresses["vo"])
                key = vo_keys[p.entity_id]
                vo_rows.append((p, {
                    "Stamnr": key, "Achternaam": obs.family_name, "Tussenv.": obs.prefix,
                    "Officiële voornamen": obs.given_names, "Roepnaam": obs.roepnaam,
                    "Voorletters": ".".join(obs.initials) + ".", "Geb.datum": base["birth"], "Geslacht": base["sex"],
                    "BSN": p.bsn or "", "Onderwijsnummer": p.onderwijsnummer or "", "Postcode": base["postcode"],
                    "Huisnr.": base["house"], "BRIN": school.brin, "Schooljaar": year, "Leerjaar": str(grade),
                    "Niveau": BRUGKLAS.get(level, MAGISTER_LEVEL.get(level, level)),
                    "E-mailadres": f"{key}@leerling.{school.brin.lower()}.nl"}))
                truth.add(("vo", key, p.entity_id, p.twin_of or "", ""))
        if vo_rows:
            bad.setdefault("vo", Counter()).update(_write_rows(folder / "vo.csv", VO_Y, vo_rows, rng))
            summary.files[f"{year}/vo.csv"] = len(vo_rows)
            records["vo"] += len(vo_rows)
            summary.deliveries.append((year, "vo", f"{year}/vo.csv"))
        if vo_rows and CORRECTED == ("vo", year):
            (folder / "correction").mkdir(exist_ok=True)
            _write_rows(folder / "correction" / "vo.csv", VO_Y, vo_rows, rng, damage=False)
            summary.files[f"{year}/correction/vo.csv"] = len(vo_rows)
            summary.deliveries.append((year, "vo", f"{year}/correction/vo.csv"))
        mbo_rows = []
        for c in careers:
            if y in c.mbo:
                mbo_year, mbo_level, diploma_now, left, institution, crebo = c.mbo[y]
                p = c.person
                obs = seen.of(p, "mbo", "", "column")
                base = _base(MBO_Y, obs, p.addresses["mbo"])
                key = mbo_keys[p.entity_id]
                mbo_rows.append((p, {
                    "Deelnemernummer": key, "Achternaam": obs.family_name, "Voorvoegsel": obs.prefix,
                    "Voornamen": obs.given_names, "Roepnaam": obs.roepnaam, "Geboortedatum": base["birth"],
                    "Geslacht": base["sex"], "BSN": p.bsn or "", "Onderwijsnummer": p.onderwijsnummer or "",
                    "Postcode": base["postcode"], "Huisnummer": base["house"], "Instelling": institution.brin,
                    "Schooljaar": year, "Leerjaar": str(mbo_year), "Crebo": crebo,
                    "Niveau": f"Niveau {mbo_level}", "Diploma behaald": "Ja" if diploma_now else "Nee",
                    "Uitgeschreven zonder diploma": "Ja" if left else "Nee"}))
                truth.add(("mbo", key, p.entity_id, p.twin_of or "", ""))
        if mbo_rows:
            bad.setdefault("mbo", Counter()).update(_write_rows(folder / "mbo.csv", MBO_Y, mbo_rows, rng))
            summary.files[f"{year}/mbo.csv"] = len(mbo_rows)
            records["mbo"] += len(mbo_rows)
            summary.deliveries.append((year, "mbo", f"{year}/mbo.csv"))
        # VVE: the registrations of the school year (the first delivery also holds every earlier one)
        vve_rows = []
        for registration in registrations:
            day, indicated, p = registration
            registered = _vve_year(day)
            if registered != y and not (y == FIRST_YEAR and registered < y):
                continue
            obs = observe(p, rng, "front", noise)
            base = _base(VVE, obs, p.addresses["vve"])
            key = vve_key[id(registration)]
            vve_rows.append((p, {
                "KindID": key, "Achternaam": obs.family_name, "Tussenvoegsel": obs.prefix,
                "Voornamen": obs.given_names, "Roepnaam": obs.roepnaam, "Geboortedatum": base["birth"],
                "Geslacht": base["sex"], "BSN": p.bsn if p.bsn and rng.random() >= 0.3 else "",
                "Postcode": f"{base['postcode'][:4]} {base['postcode'][4:]}", "Huisnr": base["house"],
                "Woonplaats": p.addresses["vve"].municipality.name, "Inschrijfdatum": _date(VVE, day),
                "Locatie": rng.choice(VVE_LOCATIONS), "VVE-indicatie": "Ja" if indicated else "Nee"}))
            truth.add(("vve", key, p.entity_id, p.twin_of or "", ""))
        if vve_rows:
            bad.setdefault("vve", Counter()).update(_write_rows(folder / "vve.csv", VVE, vve_rows, rng))
            summary.files[f"{year}/vve.csv"] = len(vve_rows)
            records["vve"] += len(vve_rows)
            summary.deliveries.append((year, "vve", f"{year}/vve.csv"))
    summary.records = dict(records)
    summary.bad_rows = {s: dict(c) for s, c in bad.items()}
    with (out_dir / "truth.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("source", "record_key", "entity_id", "twin_of", "school"))
        writer.writerows(sorted(truth))
    package = resources.files("ttp.demo.profiles")
    for name in PROFILES:
        (out_dir / f"{name}.toml").write_bytes(package.joinpath(f"region_{name}.toml").read_bytes())
    (out_dir / "README.txt").write_text(README.format(cohort=cohort, seed=seed, first=YEARS[0], last=YEARS[-1],
                                                      corrected=CORRECTED[1]), encoding="utf-8")
    report("done", YEARS_COUNT + 1, YEARS_COUNT + 1)
    return summary


def _vve_year(day: dt.date) -> int:
    """The start year of the school year a registration falls in (from 1 August)."""
    return day.year if day.month >= 8 else day.year - 1


def _birthday4(day: dt.date) -> dt.date:
    return day.replace(year=day.year + 4, day=min(day.day, 28)) + dt.timedelta(days=1)


def _write_toets(path: Path, year: str, rows: list[tuple[School, Pupil, Career]], rng: random.Random) -> int:
    """The pupil-tracking scores of groep 4 to 8 (LVS rekenen), and in groep 8 the end-of-primary test and
    the school advice; keyed by the school's pupil key (cp1252, ';')."""
    written = 0
    with path.open("w", encoding="cp1252", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(TOETS_COLUMNS)
        for school, pupil, c in sorted(rows, key=lambda r: (r[0].code, int(r[1].key))):
            p = c.person
            lvs = "" if rng.random() < 0.02 else str(c.lvs[pupil.grade])
            final = pupil.grade == 8
            score = str(p.toets_score) if final and rng.random() >= 0.01 else ""
            writer.writerow((pupil.key, school.code, year, str(pupil.grade), lvs, score,
                             ADVIES_EXPORT[p.advies] if final and p.advies else ""))
            written += 1
    return written


README = """Synthetic Limburg region (pupils per year group={cohort}, seed={seed}); every name, number and address
is made up. Fifteen year groups followed over the school years {first} to {last}, delivered year by year.

Files
  schools.csv                     school register in the layout of DUO's 'Adressen alle vestigingen'
  YEAR/po/*.xml                   primary schools, EDEXML 2.1: one file per school, groep 4 to 8
  YEAR/po_toets.csv               LVS rekenen score (groep 4-8), end-of-primary test and advice (groep 8),
                                  keyed by the po pupil key (attach_to = "po")
  YEAR/vo.csv                     secondary schools, leerjaar 1-3 (Magister: UTF-8 with BOM, ';')
  {corrected}/correction/vo.csv   the same delivery again, corrected: `ttp batches supersede OLD NEW`
  YEAR/mbo.csv                    mbo students on 1 October (Eduarte: cp1252, tab)
  YEAR/vve.csv                    early-childhood registrations of the year (the first year: all earlier)
  *.toml                          the profiles, one per source for every year (the school year is a column)
  truth.csv                       which record is which person (the answer key for `ttp link evaluate`)

Ingest a year (after `ttp init`), from this folder:
  ttp ingest 2016-2017/po --source po --format edexml
  ttp ingest 2016-2017/po_toets.csv --source po_toets --profile po_toets.toml
  ttp ingest 2016-2017/vo.csv --source vo --profile vo.toml
  ttp ingest 2016-2017/mbo.csv --source mbo --profile mbo.toml
  ttp ingest 2016-2017/vve.csv --source vve --profile vve.toml
then every other year the same way, `ttp schools import schools.csv`, and
  ttp link run vve po vo mbo
  ttp link evaluate JOB_ID --labels truth.csv
"""
