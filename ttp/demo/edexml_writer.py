"""EDEXML 2.1 files for primary schools, one per school and school year, as pupil administrations export them."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from ttp.demo.names import SURNAMES, TEACHER_GIVEN
from ttp.demo.noise import Observed
from ttp.demo.population import Person
from ttp.demo.schools import School

SCHOOL_YEAR = "2018-2019"
GEWICHT_NIEUW = {"0": "0", "0.3": "0,3", "1.2": "1,2"}
GROUP_SIZE = 28


@dataclass(slots=True)
class Pupil:
    """One leerling element: the person, what this school recorded, and the school's own key."""

    person: Person
    observed: Observed
    key: str
    instroom: dt.date
    uitstroom: dt.date | None = None
    bad: str | None = None  # "invalid_bsn" or "malformed_postcode": still schema-valid
    bsn: str | None = None
    postcode: str = ""
    grade: int = 8  # jaargroep


def _el(name: str, value: str) -> str:
    return f"<{name}>{escape(value)}</{name}>"


def _leerling(pupil: Pupil, group: str, rng: random.Random, school: School, school_year: str) -> str:
    obs, p = pupil.observed, pupil.person
    parts = [_el("achternaam", obs.family_name)]
    if obs.prefix:
        parts.append(_el("voorvoegsel", obs.prefix))
    parts += [_el("voornamen", obs.given_names), _el("voorletters-1", obs.initials), _el("roepnaam", obs.roepnaam),
              _el("geboortedatum", obs.birth_date.isoformat())]
    if obs.sex:
        parts.append(_el("geslacht", "1" if obs.sex == "M" else "2"))
    elif rng.random() < 0.5:
        parts.append(_el("geslacht", "0"))
    parts += [_el("jaargroep", str(pupil.grade)), f'<groep key="{group}"/>',
              _el("emailadres", f"{obs.roepnaam.lower()}.{pupil.key}@leerling.{school.brin.lower()}.nl")]
    if pupil.bsn:
        parts.append(_el("bsn", pupil.bsn))
    elif p.onderwijsnummer:
        parts.append(_el("onderwijsnummer", p.onderwijsnummer))
    parts += [_el("gewicht_nieuw", GEWICHT_NIEUW[p.gewicht]), _el("postcodenl", pupil.postcode),
              _el("instroomdatum", pupil.instroom.isoformat())]
    if pupil.uitstroom:
        parts.append(_el("uitstroomdatum", pupil.uitstroom.isoformat()))
    if rng.random() < 0.3:
        remark = rng.choice(("Dyslexieverklaring", "Ontheffing gym", "Allergie: pinda", "OPP aanwezig"))
        parts.append('<toevoegingen><blok xsi:type="OpmerkingGegevensType"><code>LVS</code>'
                     f"{_el('opmerking', remark)}</blok></toevoegingen>")
    changed = f"{school_year[:4]}-{rng.randint(9, 12):02d}-{rng.randint(1, 28):02d}T08:{rng.randint(10, 59)}:00"
    parts.append(_el("mutatiedatum", changed))
    eckid = f"https://ketenid.nl/201703/{rng.getrandbits(256):064x}"
    return f"<leerling key={quoteattr(pupil.key)} eckid={quoteattr(eckid)}>{''.join(parts)}</leerling>"


def _teacher(key: str, groups: list[str], rng: random.Random, school: School) -> str:
    prefix, surname = rng.choice(SURNAMES)
    given = rng.choice(TEACHER_GIVEN)
    parts = [_el("achternaam", surname)]
    if prefix:
        parts.append(_el("voorvoegsel", prefix))
    parts += [_el("voorletters-1", given[0]), _el("roepnaam", given),
              _el("emailadres", f"{given.lower()}.{surname.lower()}@{school.brin.lower()}.nl"),
              _el("rol", "LRK" if groups else "IB"), "<groepen>"]
    parts += [f'<groep key="{g}"/>' for g in groups or ["G8A"]]
    parts.append("</groepen>")
    eckid = f"https://ketenid.nl/201703/{rng.getrandbits(256):064x}"
    return f"<leerkracht key={quoteattr(key)} eckid={quoteattr(eckid)}>{''.join(parts)}</leerkracht>"


def edexml_document(school: School, pupils: list[Pupil], rng: random.Random, school_year: str = SCHOOL_YEAR) -> str:
    """The whole EDEXML document for one school's pupils in a school year (groups per jaargroep)."""
    by_grade: dict[int, list[Pupil]] = {}
    for pupil in pupils:
        by_grade.setdefault(pupil.grade, []).append(pupil)
    groups: list[tuple[str, int]] = []
    group_of: dict[int, str] = {}
    for grade in sorted(by_grade):
        members = by_grade[grade]
        n = max(1, -(-len(members) // GROUP_SIZE))
        names = [f"G{grade}{chr(ord('A') + i)}" for i in range(n)]
        groups += [(g, grade) for g in names]
        for i, pupil in enumerate(members):
            group_of[id(pupil)] = names[i % n]
    start = int(school_year[:4])
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n',
           '<EDEX xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
           'xsi:noNamespaceSchemaLocation="EDEXML.structuur.xsd">\n',
           "<school>", _el("schooljaar", school_year), _el("peildatum", f"{start}-10-01"),
           _el("brincode", school.brin), _el("dependancecode", school.dependance),
           _el("schoolkey", f"{rng.randint(10000, 99999)}"),
           _el("aanmaakdatum", f"{start + 1}-06-{rng.randint(1, 28):02d}T{rng.randint(8, 17):02d}:15:00"),
           _el("auteur", "ParnasSys"), _el("xsdversie", "2.1"), "</school>\n<groepen>"]
    out += [f'<groep key="{g}">{_el("naam", g[1:])}{_el("jaargroep", str(grade))}</groep>' for g, grade in groups]
    out.append("</groepen>\n<leerlingen>\n")
    for pupil in pupils:
        out.append(_leerling(pupil, group_of[id(pupil)], rng, school, school_year))
        out.append("\n")
    out.append("</leerlingen>\n<leerkrachten>")
    for i, (g, _) in enumerate(groups):
        out.append(_teacher(f"LK{i + 1}", [g], rng, school))
    out.append(_teacher(f"LK{len(groups) + 1}", [], rng, school))
    out.append("</leerkrachten>\n</EDEX>\n")
    return "".join(out)


def write_edexml(path: Path, school: School, pupils: list[Pupil], rng: random.Random,
                 school_year: str = SCHOOL_YEAR) -> None:
    path.write_text(edexml_document(school, pupils, rng, school_year), encoding="utf-8")
