"""The true synthetic cohort: who each child is, where they live and learn, and how they do."""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from itertools import accumulate

from ttp.demo.identifiers import draw_bsn, draw_onderwijsnummer
from ttp.demo.names import FamilyName, GivenNames, draw_family_name, draw_given_names
from ttp.demo.places import Address, Municipality, draw_address, region
from ttp.demo.schools import School, build_register

STAGES = ("vve", "po_prev", "po", "vo", "mbo")
BIRTH_FIRST = dt.date(2006, 10, 1)  # groep 8 in 2018-2019: born October 2006 - September 2007
BIRTH_DAYS = (dt.date(2007, 9, 30) - BIRTH_FIRST).days + 1
ADVICE_CUTS = ((-1.9, "praktijkonderwijs"), (-1.2, "vmbo-b"), (-0.7, "vmbo-k"), (-0.25, "vmbo-gt"),
               (0.05, "vmbo-gt/havo"), (0.5, "havo"), (0.85, "havo/vwo"), (math.inf, "vwo"))
VO_LEVELS = ("vmbo-b", "vmbo-k", "vmbo-gt", "havo", "vwo")


@dataclass(slots=True)
class Rates:
    """How often things happen; the defaults are the issue's."""

    vve: float = 0.70
    vve_twice: float = 0.03
    po_changed_school: float = 0.05
    vo: float = 0.90
    mbo: float = 0.40
    twins: float = 0.02
    onderwijsnummer: float = 0.02
    move: float = 0.20


@dataclass(slots=True)
class Person:
    entity_id: str
    sex: str  # M or F
    birth_date: dt.date
    family: FamilyName
    given: GivenNames
    bsn: str | None
    onderwijsnummer: str | None
    addresses: dict[str, Address]
    gewicht: str  # "0", "0.3", "1.2"
    ability: float
    twin_of: str | None = None
    vve_registrations: int = 0
    vve_indicatie: bool = False
    vve_date: dt.date | None = None
    po_school: School | None = None
    po_previous_school: School | None = None
    po_switch_date: dt.date | None = None
    toets_score: int | None = None
    advies: str | None = None
    vo_school: School | None = None
    vo_level: str | None = None
    mbo_school: School | None = None
    mbo_level: int | None = None
    mbo_uitval: bool = False
    diploma: str = "geen"


@dataclass(slots=True)
class Population:
    persons: list[Person]  # the regional cohort
    schools: list[School]
    municipalities: list[Municipality]
    bsns: set[str] = field(default_factory=set)


def _advice(ability: float, rng: random.Random) -> str:
    noisy = ability + rng.gauss(0, 0.35)
    return next(code for cut, code in ADVICE_CUTS if noisy < cut)


def _vo_level(advice: str, rng: random.Random) -> str:
    if advice == "praktijkonderwijs":
        return "vmbo-b"
    if "/" in advice:
        low, high = advice.split("/")
        level = rng.choice((low, high))
    else:
        level = advice
    step = rng.choices((-1, 0, 1), weights=(0.10, 0.84, 0.06))[0]
    return VO_LEVELS[max(0, min(4, VO_LEVELS.index(level) + step))]


def _mbo_level(vo_level: str | None, rng: random.Random) -> int:
    options = {"vmbo-b": ((1, 2), (0.3, 0.7)), "vmbo-k": ((2, 3), (0.5, 0.5)), "vmbo-gt": ((3, 4), (0.3, 0.7)),
               "havo": ((4,), (1.0,)), "vwo": ((4,), (1.0,)), None: ((1, 2, 3), (0.35, 0.45, 0.2))}
    levels, weights = options[vo_level]
    return rng.choices(levels, weights=weights)[0]


_UITVAL = {1: 0.35, 2: 0.22, 3: 0.12, 4: 0.07}
_MBO_PULL = {"vmbo-b": 0.9, "vmbo-k": 0.9, "vmbo-gt": 0.75, "havo": 0.2, "vwo": 0.04, None: 0.45}


def _diploma(p: Person, rng: random.Random) -> str:
    """Highest diploma by summer 2025 (age 17-18)."""
    best = "geen"
    if p.vo_level in ("vmbo-b", "vmbo-k", "vmbo-gt") and rng.random() < 0.9:
        best = "vmbo"
    elif p.vo_level == "havo":
        best = "havo" if rng.random() < 0.8 else "vmbo"
    elif p.vo_level == "vwo":
        best = "vwo" if rng.random() < 0.8 else ("havo" if rng.random() < 0.5 else "geen")
    if p.mbo_level in (1, 2) and not p.mbo_uitval and rng.random() < 0.7:
        best = f"mbo-{p.mbo_level}"
    return best


class _Schools:
    """The schools of one sector, looked up by municipality."""

    def __init__(self, schools: list[School]) -> None:
        self.all = schools
        self.by_place: dict[str, list[School]] = {}
        for s in schools:
            self.by_place.setdefault(s.municipality.code, []).append(s)

    def near(self, municipality: Municipality, rng: random.Random) -> School:
        return rng.choice(self.by_place.get(municipality.code) or self.all)


def build_population(persons: int, seed: int, rates: Rates | None = None) -> Population:
    """The true cohort for a seed: `persons` children of the region."""
    rates = rates or Rates()
    rng = random.Random(seed)
    municipalities = region(max(3, round(persons / 500)))
    cum = list(accumulate(m.inhabitants for m in municipalities))
    schools = build_register(rng, persons, municipalities)
    po_schools, vo_schools, mbo_schools = (_Schools([s for s in schools if s.sector == sector])
                                           for sector in ("po", "vo", "mbo"))
    bsns: set[str] = set()
    onrs: set[str] = set()
    people: list[Person] = []
    while len(people) < persons:
        sex = rng.choice("MF")
        first = Person(
            entity_id=f"E{len(people) + 1:07d}", sex=sex,
            birth_date=BIRTH_FIRST + dt.timedelta(days=rng.randrange(BIRTH_DAYS)),
            family=draw_family_name(rng), given=draw_given_names(rng, sex), bsn=None, onderwijsnummer=None,
            addresses={}, gewicht=rng.choices(("0", "0.3", "1.2"), weights=(0.82, 0.10, 0.08))[0],
            ability=0.0)
        family = [first]
        room = persons - len(people)
        if room >= 2 and rng.random() < rates.twins / 2:
            sex2 = rng.choice("MF")
            twin = Person(
                entity_id=f"E{len(people) + 2:07d}", sex=sex2, birth_date=first.birth_date, family=first.family,
                given=draw_given_names(rng, sex2, avoid=first.given.roepnaam), bsn=None, onderwijsnummer=None,
                addresses=first.addresses, gewicht=first.gewicht, ability=0.0,
                twin_of=first.entity_id)
            first.twin_of = twin.entity_id
            family.append(twin)
        # One household: the address history is shared by twins.
        home = draw_address(rng, municipalities, cum)
        for stage in STAGES:
            if stage != "vve" and rng.random() < (0.6 if stage == "po" else rates.move):
                home = draw_address(rng, municipalities, cum, near=home.municipality)
            first.addresses[stage] = home
        for p in family:
            if rng.random() < rates.onderwijsnummer:
                p.onderwijsnummer = draw_onderwijsnummer(rng, onrs)
            else:
                p.bsn = draw_bsn(rng, bsns)
            p.ability = rng.gauss(0, 1) - {"0": 0.0, "0.3": 0.45, "1.2": 0.75}[p.gewicht]
        people.extend(family)
    for p in people:
        _school_career(p, rng, rates, po_schools, vo_schools, mbo_schools)
    _share_twin_schools(people)
    return Population(people, schools, municipalities, bsns)


def _school_career(p: Person, rng: random.Random, rates: Rates, po_schools: _Schools,
                   vo_schools: _Schools, mbo_schools: _Schools) -> None:
    if rng.random() < rates.vve:
        p.vve_registrations = 2 if rng.random() < rates.vve_twice else 1
        p.vve_date = p.birth_date + dt.timedelta(days=rng.randint(730, 1460))
        p.vve_indicatie = rng.random() < (0.55 if p.gewicht != "0" else 0.12)
    p.po_school = po_schools.near(p.addresses["po"].municipality, rng)
    if rng.random() < rates.po_changed_school and len(po_schools.all) > 1:
        previous = po_schools.near(p.addresses["po_prev"].municipality, rng)
        while previous is p.po_school:
            previous = rng.choice(po_schools.all)
        p.po_previous_school = previous
        p.po_switch_date = dt.date(2018, 10, 1) + dt.timedelta(days=rng.randrange(120))
    p.toets_score = max(501, min(550, round(535 + 8.5 * p.ability + rng.gauss(0, 3))))
    p.advies = _advice(p.ability, rng)
    if rng.random() < rates.vo:
        p.vo_school = vo_schools.near(p.addresses["vo"].municipality, rng)
        p.vo_level = _vo_level(p.advies, rng)
    # Scale the pull so that about `rates.mbo` of the cohort goes to mbo.
    if rng.random() < _MBO_PULL[p.vo_level] * rates.mbo / 0.48:
        p.mbo_school = mbo_schools.near(p.addresses["mbo"].municipality, rng)
        p.mbo_level = _mbo_level(p.vo_level, rng)
        p.mbo_uitval = rng.random() < _UITVAL[p.mbo_level]
    p.diploma = _diploma(p, rng)


def _share_twin_schools(people: list[Person]) -> None:
    """Twins go to the same primary school (and usually the same vo school)."""
    by_id = {p.entity_id: p for p in people}
    for p in people:
        if p.twin_of and p.entity_id > p.twin_of:
            sibling = by_id[p.twin_of]
            p.po_school, p.po_previous_school, p.po_switch_date = (
                sibling.po_school, sibling.po_previous_school, sibling.po_switch_date)
            if p.vo_school and sibling.vo_school and p.vo_level == sibling.vo_level:
                p.vo_school = sibling.vo_school
