"""The synthetic school register (po schools, vo schools, mbo institutions) and its DUO-style CSV."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from ttp.demo.identifiers import draw_brin
from ttp.demo.places import STREETS, Municipality

PO_NAMES = ("De Regenboog", "Sint Jozef", "De Wegwijzer", "Sint Martinus", "De Kameleon", "Op de Bies",
            "De Triangel", "Sint Servaas", "Het Palet", "De Bongerd", "Kindcentrum De Horizon", "De Maasparel",
            "Sint Lambertus", "De Klimop", "Heilig Hart", "De Schakel", "Sint Jan", "Kindcentrum Eloy",
            "De Sterrenwacht", "Petrus en Paulus", "De Vlinder", "Sint Odilia", "Het Kompas", "De Springplank")
VO_NAMES = ("College", "Lyceum", "Scholengemeenschap", "Graaf Huyn College", "Trevianum", "Sint-Maartenscollege",
            "Bisschoppelijk College", "Porta Mosana", "Valuascollege", "Blariacumcollege", "Rolduc")
MBO_NAMES = ("ROC Zuid-Limburg", "ROC Noord-Limburg", "ROC Midden-Limburg", "Vakcollege Limburg")
DENOMINATIONS = (("Rooms-Katholiek", 0.62), ("Openbaar", 0.22), ("Algemeen bijzonder", 0.10),
                 ("Protestants-Christelijk", 0.06))

SCHOOLS_COLUMNS = ("PROVINCIE", "BEVOEGD GEZAG NUMMER", "BRIN NUMMER", "VESTIGINGSNUMMER", "VESTIGINGSNAAM",
                   "STRAATNAAM", "HUISNUMMER-TOEVOEGING", "POSTCODE", "PLAATSNAAM", "GEMEENTENUMMER",
                   "GEMEENTENAAM", "DENOMINATIE", "ONDERWIJSSTRUCTUUR", "SOORT ONDERWIJS")


@dataclass(frozen=True, slots=True, eq=False)  # identity: each register entry is its own school
class School:
    sector: str  # po, vo, mbo
    brin: str
    dependance: str
    name: str
    municipality: Municipality
    board: str
    denomination: str
    street: str
    house_number: int
    postcode: str

    @property
    def code(self) -> str:
        """BRIN + dependancecode, the school's identity in EDEXML and in truth.csv."""
        return self.brin + self.dependance


def _spread(count: int, municipalities: list[Municipality]) -> list[Municipality]:
    """`count` places, at least one per municipality, the rest in proportion to inhabitants."""
    places = list(municipalities[:count])
    total = sum(m.inhabitants for m in municipalities)
    remaining = count - len(places)
    if remaining > 0:
        shares = [remaining * m.inhabitants / total for m in municipalities]
        extra = [int(s) for s in shares]
        order = sorted(range(len(municipalities)), key=lambda i: shares[i] - extra[i], reverse=True)
        for i in order[: remaining - sum(extra)]:
            extra[i] += 1
        for m, n in zip(municipalities, extra, strict=True):
            places.extend([m] * n)
    return places


def build_register(rng: random.Random, persons: int, municipalities: list[Municipality]) -> list[School]:
    """About one po school per 125 children, one vo school per 500, one mbo institution per 2,000 (8 po boards
    per 5,000 children); a few po schools are a second site (dependance 01) of another school's BRIN."""
    brins: set[str] = set()
    n_po = max(2, round(persons / 125))
    n_vo = max(1, round(persons / 500))
    n_mbo = max(1, min(len(MBO_NAMES), round(persons / 2000)))
    n_boards = max(2, round(persons / 625))
    boards = [str(number) for number in rng.sample(range(10_000, 100_000), n_boards + 3)]
    po_boards, vo_boards, mbo_boards = boards[:n_boards], boards[n_boards:n_boards + 2], boards[n_boards + 2:]
    board_of_place = {m.code: po_boards[i % len(po_boards)] for i, m in enumerate(municipalities)}
    schools: list[School] = []
    denominations = [d for d, _ in DENOMINATIONS]
    weights = [w for _, w in DENOMINATIONS]
    for place in _spread(n_po, municipalities):
        board = board_of_place[place.code] if rng.random() < 0.8 else rng.choice(po_boards)
        previous = schools[-1] if schools and schools[-1].municipality == place else None
        if previous is not None and previous.dependance == "00" and rng.random() < 0.15:
            brin, dependance, board = previous.brin, "01", previous.board
        else:
            brin, dependance = draw_brin(rng, brins), "00"
        schools.append(School("po", brin, dependance, f"Basisschool {rng.choice(PO_NAMES)}", place, board,
                              rng.choices(denominations, weights)[0], rng.choice(STREETS),
                              rng.randint(1, 80), place.postcode(rng)))
    for place in _spread(n_vo, municipalities)[:n_vo]:
        schools.append(School("vo", draw_brin(rng, brins), "00", f"{rng.choice(VO_NAMES)} {place.name}", place,
                              rng.choice(vo_boards), rng.choices(denominations, weights)[0],
                              rng.choice(STREETS), rng.randint(1, 80), place.postcode(rng)))
    for i, place in enumerate(_spread(n_mbo, municipalities)[:n_mbo]):
        schools.append(School("mbo", draw_brin(rng, brins), "00", MBO_NAMES[i], place, mbo_boards[0],
                              "Algemeen bijzonder", rng.choice(STREETS), rng.randint(1, 80),
                              place.postcode(rng)))
    return schools


_STRUCTURE = {"po": ("BAS", "Basisonderwijs"), "vo": ("VMBO/HAVO/VWO", "Voortgezet onderwijs"),
              "mbo": ("MBO", "Middelbaar beroepsonderwijs")}


def write_register(path: Path, schools: list[School]) -> int:
    """Write schools.csv in the layout of DUO's 'Adressen alle vestigingen' (';', UTF-8)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(SCHOOLS_COLUMNS)
        for s in schools:
            structure, kind = _STRUCTURE[s.sector]
            writer.writerow(("LIMBURG", s.board, s.brin, s.code, s.name.upper(), s.street.upper(),
                             str(s.house_number), f"{s.postcode[:4]} {s.postcode[4:]}",
                             s.municipality.name.upper(), s.municipality.code, s.municipality.name.upper(),
                             s.denomination, structure, kind))
    return len(schools)
