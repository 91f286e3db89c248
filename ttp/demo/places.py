"""Limburg municipalities, their postcode areas and addresses for the synthetic cohort."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

# name, CBS municipality code, inhabitants (thousands, rounded), postcode-4 ranges (inclusive)
MUNICIPALITIES: tuple[tuple[str, str, int, tuple[tuple[int, int], ...]], ...] = (
    ("Maastricht", "0935", 122, ((6211, 6229),)),
    ("Venlo", "0983", 102, ((5911, 5928),)),
    ("Sittard-Geleen", "1883", 91, ((6131, 6137), (6160, 6167))),
    ("Heerlen", "0917", 87, ((6411, 6422),)),
    ("Roermond", "0957", 59, ((6041, 6045),)),
    ("Weert", "0988", 50, ((6001, 6006),)),
    ("Kerkrade", "0928", 45, ((6461, 6471),)),
    ("Venray", "0984", 44, ((5801, 5809),)),
    ("Peel en Maas", "1894", 44, ((5981, 5988),)),
    ("Horst aan de Maas", "1507", 42, ((5961, 5977),)),
    ("Landgraaf", "0882", 37, ((6371, 6374),)),
    ("Leudal", "1640", 36, ((6081, 6099),)),
    ("Beekdaelen", "1954", 36, ((6361, 6365),)),
    ("Echt-Susteren", "1711", 31, ((6101, 6118),)),
    ("Brunssum", "0899", 27, ((6441, 6446),)),
    ("Eijsden-Margraten", "1903", 25, ((6245, 6269),)),
    ("Stein", "0971", 25, ((6171, 6176),)),
    ("Maasgouw", "1641", 24, ((6051, 6067),)),
    ("Roerdalen", "1669", 21, ((6071, 6077),)),
    ("Meerssen", "0938", 19, ((6231, 6235),)),
    ("Nederweert", "0946", 17, ((6031, 6034),)),
    ("Gennep", "0907", 17, ((6591, 6599),)),
    ("Valkenburg aan de Geul", "0994", 16, ((6301, 6305),)),
    ("Beek", "0888", 16, ((6191, 6192),)),
    ("Gulpen-Wittem", "1729", 14, ((6271, 6281),)),
    ("Beesel", "0889", 13, ((5951, 5953),)),
    ("Bergen (L.)", "0893", 13, ((5854, 5866),)),
    ("Voerendaal", "0986", 12, ((6367, 6369),)),
    ("Vaals", "0981", 10, ((6291, 6295),)),
    ("Simpelveld", "0965", 10, ((6351, 6353),)),
    ("Mook en Middelaar", "0944", 8, ((6584, 6587),)),
)

# Dutch postcodes use 20 letters and never SA, SD or SS.
_LETTERS = "ABCDEGHJKLMNPRSTVWXZ"
_PAIRS = tuple(a + b for a in _LETTERS for b in _LETTERS if a + b not in ("SA", "SD", "SS"))
STREETS = ("Kerkstraat", "Molenweg", "Dorpstraat", "Rijksweg", "Schoolstraat", "Kasteelstraat", "Heerweg",
           "Groenstraat", "Bergstraat", "Pastoor Vranckenstraat", "Sint Jozefstraat", "Mgr. Nolensplein",
           "Maasboulevard", "Beekstraat", "Akerstraat", "Hoofdstraat", "Julianastraat", "Wilhelminalaan")


@dataclass(frozen=True, slots=True)
class Municipality:
    name: str
    code: str
    inhabitants: int
    pc4_ranges: tuple[tuple[int, int], ...]

    def postcode(self, rng: random.Random) -> str:
        low, high = rng.choice(self.pc4_ranges)
        return f"{rng.randint(low, high)}{rng.choice(_PAIRS)}"


@dataclass(frozen=True, slots=True)
class Address:
    postcode: str
    house_number: int
    municipality: Municipality


def region(count: int) -> list[Municipality]:
    """The `count` largest municipalities (at least 1, at most all of Limburg)."""
    count = max(1, min(count, len(MUNICIPALITIES)))
    return [Municipality(*row) for row in MUNICIPALITIES[:count]]


def draw_address(rng: random.Random, municipalities: list[Municipality], cum_weights: Sequence[float],
                 near: Municipality | None = None) -> Address:
    """An address in the region; a move (`near` given) stays in the same municipality 70% of the time."""
    if near is not None and rng.random() < 0.7:
        municipality = near
    else:
        municipality = rng.choices(municipalities, cum_weights=cum_weights)[0]
    house = int(rng.paretovariate(1.3)) if rng.random() < 0.6 else rng.randint(1, 120)
    return Address(municipality.postcode(rng), min(house, 250), municipality)


def malformed_postcode(postcode: str, rng: random.Random, keep_pattern: bool = False) -> str:
    """A postcode no validator accepts (forbidden letters, a letter among the digits, too short).

    `keep_pattern` keeps the 9999XX shape (forbidden letters only), so an EDEXML file stays schema-valid."""
    kind = 0 if keep_pattern else rng.randrange(3)
    if kind == 0:
        return postcode[:4] + rng.choice(("SA", "SD", "SS"))
    if kind == 1:
        return postcode[:2] + "O" + postcode[3:]
    return postcode[:5]
