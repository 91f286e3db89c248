"""Dutch and Limburg names for the synthetic cohort: frequencies, roepnamen and the ways sources garble them."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from itertools import accumulate

# (prefix, surname), most frequent first; frequencies fall off Zipf-like (weight 1/rank).
SURNAMES: tuple[tuple[str, str], ...] = (
    ("", "Janssen"), ("", "Jansen"), ("", "Peeters"), ("", "Smeets"), ("de", "Vries"), ("", "Hermans"),
    ("", "Willems"), ("van den", "Berg"), ("", "Hendriks"), ("", "Schmitz"), ("", "Vranken"),
    ("", "Wetzels"), ("", "Lemmens"), ("", "Custers"), ("", "Dassen"), ("", "Frijns"), ("van der", "Linden"),
    ("", "Houben"), ("", "Coenen"), ("", "Driessen"), ("van", "Dijk"), ("", "Kuijpers"), ("", "Bakker"),
    ("", "Linssen"), ("", "Meijers"), ("", "Geurts"), ("", "Vossen"), ("de", "Jong"), ("", "Rutten"),
    ("", "Stevens"), ("", "Thijssen"), ("", "Vaessen"), ("", "Wijnen"), ("", "Jacobs"), ("", "Visser"),
    ("", "Smit"), ("", "Pelzer"), ("", "Ramaekers"), ("", "Schepers"), ("van der", "Heijden"),
    ("", "Bemelmans"), ("", "Brouns"), ("", "Claessens"), ("", "Crombach"), ("", "Debets"), ("", "Erkens"),
    ("", "Gijsen"), ("", "Habets"), ("", "Heijnen"), ("", "Hoen"), ("", "Keulen"), ("", "Kleijnen"),
    ("", "Leenders"), ("", "Maessen"), ("", "Nelissen"), ("", "Notermans"), ("", "Paulissen"),
    ("", "Pluijmen"), ("", "Raets"), ("", "Sijben"), ("", "Souren"), ("", "Timmermans"), ("", "Ummels"),
    ("", "Vergoossen"), ("", "Verheggen"), ("", "Wolfs"), ("van", "Loon"), ("van den", "Broek"),
    ("van de", "Ven"), ("de", "Boer"), ("", "Mulder"), ("de", "Groot"), ("", "Bos"), ("", "Vos"),
    ("", "Peters"), ("", "Dekker"), ("van", "Leeuwen"), ("van der", "Meer"), ("van", "Beek"),
    ("", "Quaedvlieg"), ("", "Olislagers"), ("op den", "Kamp"), ("op de", "Laak"), ("", "Lambriex"),
    ("", "Ramakers"), ("", "Muller"), ("", "Müller"), ("", "Pütz"), ("", "Schröder"), ("", "Hüskens"),
    ("", "Kürten"), ("", "Beckers"), ("", "Bonten"), ("", "Boumans"), ("", "Cremers"), ("", "Dohmen"),
    ("", "Eussen"), ("", "Franssen"), ("", "Gielen"), ("", "Hamers"), ("", "Hanssen"), ("", "Huppertz"),
    ("", "Jeurissen"), ("", "Kessels"), ("", "Lenssen"), ("", "Mertens"), ("", "Moonen"), ("", "Nijssen"),
    ("", "Offermans"), ("", "Reijnders"), ("", "Schreurs"), ("", "Senden"), ("", "Thewissen"),
    ("", "Verhoeven"), ("", "Vliegen"), ("", "Weijers"), ("", "Wouters"), ("", "Zeegers"), ("", "Ernes"),
    ("van", "Mulken"), ("van", "Wersch"), ("van de", "Weijer"), ("de", "Bruijn"), ("ten", "Brink"),
    ("van 't", "Hof"), ("", "Yilmaz"), ("", "Kaya"), ("el", "Amrani"), ("", "Demir"), ("", "Öztürk"),
    ("", "Çelik"), ("", "Nguyen"), ("", "Bouzian"), ("", "Kowalski"), ("", "Nowak"), ("", "Ahmadi"),
)

# Given names of children born 2006-2007: (first name, roepnaam choices); an empty tuple means the first
# name is the roepnaam. Catholic formal names carry the diminutive the child is really called by.
BOYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Daan", ()), ("Sem", ()), ("Lucas", ("Luuk", "Lucas")), ("Thijs", ()), ("Levi", ()), ("Milan", ()),
    ("Jesse", ()), ("Luuk", ()), ("Bram", ()), ("Stijn", ()), ("Tim", ()), ("Ruben", ()), ("Noah", ()),
    ("Niels", ()), ("Lars", ()), ("Joël", ()), ("Daniël", ()), ("Noël", ()), ("Mathijs", ()), ("Jens", ()),
    ("Gijs", ()), ("Max", ()), ("Tom", ()), ("Teun", ()), ("Rick", ()), ("Joep", ()), ("Michaël", ()),
    ("Raphaël", ()), ("Sven", ()), ("Jorn", ()), ("Mohamed", ()), ("Emre", ()),
    ("Johannes", ("Jan", "Hans", "Joep")), ("Petrus", ("Piet", "Peter", "Pieter")),
    ("Wilhelmus", ("Wim", "Willem")), ("Hubertus", ("Huub", "Bert")), ("Jacobus", ("Koen", "Jaap")),
    ("Hendrikus", ("Henk", "Rick")), ("Theodorus", ("Ties", "Theo", "Dorus")), ("Mathias", ("Thijs", "Mats")),
    ("Franciscus", ("Frank", "Frans")), ("Josephus", ("Joep", "Sjef")), ("Gerardus", ("Gerard", "Gijs")),
    ("Leonardus", ("Leon", "Leo")), ("Antonius", ("Toon", "Ton", "Teun")),
)
GIRLS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Emma", ()), ("Sophie", ()), ("Julia", ()), ("Lotte", ()), ("Lisa", ()), ("Eva", ()), ("Anna", ()),
    ("Isa", ()), ("Fleur", ()), ("Sanne", ()), ("Noa", ()), ("Zoë", ()), ("Chloë", ()), ("Anaïs", ()),
    ("Lieke", ()), ("Femke", ()), ("Iris", ()), ("Maud", ()), ("Britt", ()), ("Demi", ()), ("Romy", ()),
    ("Esmée", ()), ("Noëlle", ()), ("Inès", ()), ("Loïs", ()), ("Naomi", ()), ("Yasmina", ()), ("Fenna", ()),
    ("Maria", ("Mieke", "Ria", "Marieke")), ("Johanna", ("Anne", "Hanneke", "Joke")),
    ("Catharina", ("Karin", "Ineke", "Kim")), ("Elisabeth", ("Lisa", "Elise", "Lies")),
    ("Wilhelmina", ("Wilma", "Mien")), ("Helena", ("Lena", "Leni")), ("Cornelia", ("Nelleke", "Lia")),
    ("Petronella", ("Nel", "Nelleke")), ("Margaretha", ("Margot", "Greet")), ("Hubertina", ("Tineke", "Bertie")),
    ("Francisca", ("Sanne", "Cis")), ("Theodora", ("Dora", "Thea")),
)
# Middle (baptismal) names, usually Catholic in Limburg.
MIDDLE_BOYS = ("Johannes", "Hubertus", "Petrus", "Wilhelmus", "Maria", "Josephus", "Theodorus", "Jan",
               "Gerardus", "Hendrik", "Mathieu", "Leonardus", "Antonius")
MIDDLE_GIRLS = ("Maria", "Johanna", "Elisabeth", "Catharina", "Hubertina", "Anna", "Helena", "Wilhelmina",
                "Josephina", "Louise", "Gertruda")

TEACHER_GIVEN = ("Marjo", "Ton", "Ingrid", "Ellen", "Huub", "Anja", "Bert", "Yvonne", "Roger", "Judith", "Paul")


def _cumulative_zipf(n: int, exponent: float = 1.0) -> list[float]:
    return list(accumulate(1.0 / (rank + 1) ** exponent for rank in range(n)))


SURNAME_WEIGHTS = _cumulative_zipf(len(SURNAMES), 0.9)
BOY_WEIGHTS = _cumulative_zipf(len(BOYS), 0.6)
GIRL_WEIGHTS = _cumulative_zipf(len(GIRLS), 0.6)


@dataclass(frozen=True, slots=True)
class FamilyName:
    """A family name as the population register holds it: prefix + surname; double names keep both parts."""

    prefix: str
    surname: str
    short: str | None = None  # the first part of a double surname, as sloppy records shorten it


@dataclass(frozen=True, slots=True)
class GivenNames:
    names: tuple[str, ...]
    roepnaam: str
    initials: str  # of the first three names, as EDEXML voorletters-1 allows six characters


def draw_family_name(rng: random.Random, double_rate: float = 0.03) -> FamilyName:
    prefix, surname = rng.choices(SURNAMES, cum_weights=SURNAME_WEIGHTS)[0]
    if rng.random() < double_rate:
        prefix2, surname2 = rng.choices(SURNAMES, cum_weights=SURNAME_WEIGHTS)[0]
        while surname2 == surname:
            prefix2, surname2 = rng.choices(SURNAMES, cum_weights=SURNAME_WEIGHTS)[0]
        second = f"{prefix2} {surname2}" if prefix2 else surname2
        return FamilyName(prefix, f"{surname}-{second}", short=surname)
    return FamilyName(prefix, surname)


def draw_given_names(rng: random.Random, sex: str, avoid: str | None = None) -> GivenNames:
    """Draw a child's given names; `avoid` is a twin's roepnaam, which a sibling never shares."""
    table, weights, middles = (BOYS, BOY_WEIGHTS, MIDDLE_BOYS) if sex == "M" else (GIRLS, GIRL_WEIGHTS, MIDDLE_GIRLS)
    while True:
        first, pet_names = rng.choices(table, cum_weights=weights)[0]
        roepnaam = rng.choice(pet_names) if pet_names else first
        if roepnaam != avoid:
            break
    names = [first]
    extra = rng.choices((0, 1, 2), weights=(0.35, 0.45, 0.20))[0]
    for _ in range(extra):
        middle = rng.choice(middles)
        if middle not in names:
            names.append(middle)
    return GivenNames(tuple(names), roepnaam, "".join(n[0] for n in names[:3]).upper())


def strip_diacritics(text: str) -> str:
    """Zoë -> Zoe, Çelik -> Celik: how systems without Unicode support write names."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_NEIGHBOURS = {
    "a": "sq", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj", "i": "uo",
    "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o", "r": "et", "s": "ad",
    "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc", "y": "tu", "z": "x",
}


def typo(text: str, rng: random.Random) -> str:
    """One keyboard slip: a neighbouring key, a dropped, doubled or swapped letter (never the first letter)."""
    if len(text) < 3:
        return text + text[-1]
    pos = rng.randrange(1, len(text) - 1)
    kind = rng.randrange(4)
    c = text[pos]
    if kind == 0 and c.lower() in _NEIGHBOURS:
        return text[:pos] + rng.choice(_NEIGHBOURS[c.lower()]) + text[pos + 1:]
    if kind == 1:
        return text[:pos] + text[pos + 1:]
    if kind == 2:
        return text[:pos] + c + text[pos:]
    if text[pos + 1] != c:
        return text[:pos] + text[pos + 1] + c + text[pos + 2:]
    return text[:pos] + text[pos + 1:]
