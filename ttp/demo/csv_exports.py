"""CSV exports the way each source system writes them: VVE register, Magister (vo), Eduarte (mbo)."""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ttp.demo.bad_rows import count_kinds, plan_bad_rows
from ttp.demo.identifiers import break_check_digit
from ttp.demo.noise import Noise, Observed, observe
from ttp.demo.places import malformed_postcode
from ttp.demo.population import Person, Population

TruthRow = tuple[str, str, str, str, str]  # source, record_key, entity_id, twin_of, school


@dataclass(frozen=True, slots=True)
class Layout:
    """One source system's export conventions (its profile in ttp/demo/profiles says the same)."""

    source: str
    encoding: str
    delimiter: str
    date: Callable[[int, int, int], str]  # (year, month, day) -> text, also for impossible dates
    key: str
    bsn: str | None
    birth_date: str
    postcode: str
    name_layout: str
    columns: tuple[str, ...]


def _dmy_loose(y: int, m: int, d: int) -> str:
    return f"{d}-{m}-{y}"


def _dmy(y: int, m: int, d: int) -> str:
    return f"{d:02d}-{m:02d}-{y}"


def _iso(y: int, m: int, d: int) -> str:
    return f"{y}-{m:02d}-{d:02d}"


def _compact(y: int, m: int, d: int) -> str:
    return f"{y}{m:02d}{d:02d}"


VVE = Layout("vve", "cp1252", ";", _dmy_loose, "KindID", "BSN", "Geboortedatum", "Postcode", "front",
             ("KindID", "Achternaam", "Tussenvoegsel", "Voornamen", "Roepnaam", "Geboortedatum", "Geslacht", "BSN",
              "Postcode", "Huisnr", "Woonplaats", "Inschrijfdatum", "Locatie", "VVE-indicatie"))
VO = Layout("vo", "utf-8-sig", ";", _dmy, "Stamnr", "BSN", "Geb.datum", "Postcode", "column",
            ("Stamnr", "Achternaam", "Tussenv.", "Officiële voornamen", "Roepnaam", "Voorletters", "Geb.datum",
             "Geslacht", "BSN", "Onderwijsnummer", "Postcode", "Huisnr.", "BRIN", "Leerjaar", "Niveau",
             "E-mailadres"))
MBO = Layout("mbo", "cp1252", "\t", _iso, "Deelnemernummer", "BSN", "Geboortedatum", "Postcode", "column",
             ("Deelnemernummer", "Achternaam", "Voorvoegsel", "Voornamen", "Roepnaam", "Geboortedatum", "Geslacht",
              "BSN", "Onderwijsnummer", "Postcode", "Huisnummer", "Instelling", "Crebo", "Niveau",
              "Uitgeschreven zonder diploma"))

_SEX = {"vve": {"M": "J", "F": "M"}, "vo": {"M": "M", "F": "V"}, "mbo": {"M": "Man", "F": "Vrouw"}}
MAGISTER_LEVEL = {"vmbo-b": "VMBO BB", "vmbo-k": "VMBO KB", "vmbo-gt": "VMBO GL/TL", "havo": "HAVO", "vwo": "VWO"}
CREBO = {1: "25655", 2: "25256", 3: "25480", 4: "25604"}
VVE_LOCATIONS = ("Peuterspeelzaal Pinkeltje", "Kinderopvang Humankind", "Peuterwerk De Ukkies", "KDV Knuffel",
                 "Spelenderwijs", "Peuterschool Het Speelhuis")


def _date(layout: Layout, day: dt.date) -> str:
    return layout.date(day.year, day.month, day.day)


def _spaced(postcode: str) -> str:
    return f"{postcode[:4]} {postcode[4:]}"


def _identity(layout: Layout, obs: Observed, p: Person, stage: str) -> dict[str, str]:
    address = p.addresses[stage]
    row = {"birth": _date(layout, obs.birth_date), "sex": _SEX[layout.source].get(obs.sex, ""),
           "postcode": address.postcode, "house": str(address.house_number)}
    return row


def _vve_rows(pop: Population, rng: random.Random, noise: Noise) -> list[tuple[Person, dict[str, str]]]:
    registrations = [(p, n) for p in pop.persons if p.vve_registrations for n in range(p.vve_registrations)]
    registrations.sort(key=lambda item: (item[0].vve_date, item[1]))
    rows = []
    first_key = rng.randint(10_000, 20_000)
    for i, (p, n) in enumerate(registrations):
        obs = observe(p, rng, VVE.name_layout, noise)
        base = _identity(VVE, obs, p, "vve")
        assert p.vve_date is not None  # set with vve_registrations (population._school_career)
        when = p.vve_date + dt.timedelta(days=rng.randint(60, 300) * n)
        bsn = p.bsn if p.bsn and rng.random() >= 0.30 else ""
        rows.append((p, {
            "KindID": str(first_key + i), "Achternaam": obs.family_name, "Tussenvoegsel": obs.prefix,
            "Voornamen": obs.given_names, "Roepnaam": obs.roepnaam, "Geboortedatum": base["birth"],
            "Geslacht": base["sex"], "BSN": bsn, "Postcode": _spaced(base["postcode"]), "Huisnr": base["house"],
            "Woonplaats": p.addresses["vve"].municipality.name, "Inschrijfdatum": _date(VVE, when),
            "Locatie": rng.choice(VVE_LOCATIONS), "VVE-indicatie": "Ja" if p.vve_indicatie else "Nee"}))
    return rows


def _vo_rows(pop: Population, rng: random.Random, noise: Noise) -> list[tuple[Person, dict[str, str]]]:
    pupils = [p for p in pop.persons if p.vo_school]
    keys = sorted(rng.sample(range(100_000, 1_000_000), len(pupils)))
    rows = []
    for key, p in zip(keys, pupils, strict=True):
        obs = observe(p, rng, VO.name_layout, noise)
        base = _identity(VO, obs, p, "vo")
        assert p.vo_school is not None and p.vo_level is not None  # set together (population._school_career)
        rows.append((p, {
            "Stamnr": str(key), "Achternaam": obs.family_name, "Tussenv.": obs.prefix,
            "Officiële voornamen": obs.given_names, "Roepnaam": obs.roepnaam,
            "Voorletters": ".".join(obs.initials) + ".",
            "Geb.datum": base["birth"], "Geslacht": base["sex"], "BSN": p.bsn or "",
            "Onderwijsnummer": p.onderwijsnummer or "", "Postcode": base["postcode"], "Huisnr.": base["house"],
            "BRIN": p.vo_school.brin, "Leerjaar": "3", "Niveau": MAGISTER_LEVEL[p.vo_level],
            "E-mailadres": f"{key}@leerling.{p.vo_school.brin.lower()}.nl"}))
    return rows


def _mbo_rows(pop: Population, rng: random.Random, noise: Noise) -> list[tuple[Person, dict[str, str]]]:
    students = [p for p in pop.persons if p.mbo_school]
    keys = sorted(rng.sample(range(1_000_000, 10_000_000), len(students)))
    rows = []
    for key, p in zip(keys, students, strict=True):
        obs = observe(p, rng, MBO.name_layout, noise)
        base = _identity(MBO, obs, p, "mbo")
        assert p.mbo_school is not None and p.mbo_level is not None  # set together (population._school_career)
        rows.append((p, {
            "Deelnemernummer": str(key), "Achternaam": obs.family_name, "Voorvoegsel": obs.prefix,
            "Voornamen": obs.given_names, "Roepnaam": obs.roepnaam, "Geboortedatum": base["birth"],
            "Geslacht": base["sex"], "BSN": p.bsn or "", "Onderwijsnummer": p.onderwijsnummer or "",
            "Postcode": base["postcode"], "Huisnummer": base["house"], "Instelling": p.mbo_school.brin,
            "Crebo": CREBO[p.mbo_level], "Niveau": f"Niveau {p.mbo_level}",
            "Uitgeschreven zonder diploma": "Ja" if p.mbo_uitval else "Nee"}))
    return rows


ROW_BUILDERS = {"vve": (VVE, _vve_rows), "vo": (VO, _vo_rows), "mbo": (MBO, _mbo_rows)}


def _damage(layout: Layout, row: dict[str, str], kind: str, rng: random.Random) -> None:
    if kind == "missing_key":
        row[layout.key] = ""
    elif kind == "invalid_bsn" and layout.bsn and row[layout.bsn]:
        row[layout.bsn] = break_check_digit(row[layout.bsn], rng)
    elif kind == "impossible_date":
        year = rng.choice((2006, 2007))
        month, day = rng.choice(((2, 30), (2, 31), (4, 31), (13, 5), (0, 12)))
        row[layout.birth_date] = layout.date(year, month, day)
    elif kind == "malformed_postcode":
        spaced = " " in row[layout.postcode]
        bad = malformed_postcode(row[layout.postcode].replace(" ", ""), rng)
        row[layout.postcode] = _spaced(bad) if spaced and len(bad) == 6 else bad


def write_csv_export(source: str, pop: Population, out_dir: Path, seed: int,
                     noise: Noise | None = None) -> tuple[int, dict[str, int], list[TruthRow]]:
    """Write `<source>.csv`; return rows written, bad rows by kind, and the truth rows."""
    layout, build = ROW_BUILDERS[source]
    rng = random.Random(f"{seed}/{source}")
    rows = build(pop, rng, noise or Noise())
    plan = plan_bad_rows(len(rows), rng, has_bsn=[bool(layout.bsn and r[layout.bsn]) for _, r in rows])
    truth: list[TruthRow] = []
    with (out_dir / f"{source}.csv").open("w", encoding=layout.encoding, errors="replace", newline="") as handle:
        writer = csv.writer(handle, delimiter=layout.delimiter, lineterminator="\r\n")
        writer.writerow(layout.columns)
        for i, (p, row) in enumerate(rows):
            if i in plan:
                _damage(layout, row, plan[i], rng)
            writer.writerow([row[c] for c in layout.columns])
            truth.append((source, row[layout.key], p.entity_id, p.twin_of or "", ""))
    return len(rows), count_kinds(plan), truth
