"""How one source record garbles a true person: name layouts, roepnamen, typos, date and sex slips."""

from __future__ import annotations

import calendar
import datetime as dt
import random
from dataclasses import dataclass

from ttp.demo.names import strip_diacritics, typo
from ttp.demo.population import Person

NAME_LAYOUTS = ("column", "front", "back")  # prefix in its own column, "van der Linden", "Linden, van der"


@dataclass(slots=True)
class Noise:
    """Per-record error rates (the issue's)."""

    prefix_layout: float = 0.20
    roepnaam_as_given: float = 0.30
    diacritics: float = 0.15
    family_typo: float = 0.04
    given_typo: float = 0.03
    double_shortened: float = 0.30
    day_month_swap: float = 0.01
    day_off: float = 0.01
    year_off: float = 0.005
    sex_wrong_or_missing: float = 0.01


@dataclass(slots=True)
class Observed:
    """What a source wrote about a person (before the file's own formatting)."""

    family_name: str
    prefix: str
    given_names: str
    roepnaam: str
    initials: str
    birth_date: dt.date
    sex: str  # M, F or "" (missing)


_SWAPPABLE = 12 * 11 / 365.25  # share of dates whose day and month can be swapped into another valid date


def observe(person: Person, rng: random.Random, layout: str, noise: Noise | None = None) -> Observed:
    """One record's view of `person`; `layout` is the source's usual way to write a name prefix."""
    noise = noise or Noise()
    family = person.family
    surname = family.short if family.short and rng.random() < noise.double_shortened else family.surname
    if rng.random() < noise.family_typo:
        surname = typo(surname, rng)
    names = list(person.given.names)
    roepnaam = person.given.roepnaam
    given = roepnaam if rng.random() < noise.roepnaam_as_given else " ".join(names)
    if rng.random() < noise.given_typo:
        first, _, rest = given.partition(" ")
        given = f"{typo(first, rng)} {rest}".strip()
    prefix = family.prefix
    if prefix and rng.random() < noise.prefix_layout:
        layout = rng.choice([other for other in NAME_LAYOUTS if other != layout])
    if prefix and layout == "front":
        surname, prefix = f"{prefix} {surname}", ""
    elif prefix and layout == "back":
        surname, prefix = f"{surname}, {prefix}", ""
    if rng.random() < noise.diacritics:
        surname, given, roepnaam = strip_diacritics(surname), strip_diacritics(given), strip_diacritics(roepnaam)
    return Observed(surname, prefix, given, roepnaam, person.given.initials,
                    slip_date(person.birth_date, rng, noise), slip_sex(person.sex, rng, noise))


def slip_date(day: dt.date, rng: random.Random, noise: Noise) -> dt.date:
    roll = rng.random()
    if roll < noise.day_off:
        return day + dt.timedelta(days=rng.choice((-1, 1)))
    roll -= noise.day_off
    if roll < noise.year_off:
        year = day.year + rng.choice((-1, 1))
        return day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))
    roll -= noise.year_off
    if day.day <= 12 and day.day != day.month and roll < noise.day_month_swap / _SWAPPABLE:
        return day.replace(day=day.month, month=day.day)
    return day


def slip_sex(sex: str, rng: random.Random, noise: Noise) -> str:
    if rng.random() < noise.sex_wrong_or_missing:
        return rng.choice(("", "F" if sex == "M" else "M"))
    return sex
