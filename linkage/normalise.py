"""Normalisation of Dutch names, birth dates, postcodes and identifiers before they are keyed.

Rules, in the order they are applied (docs/privacy.md repeats them):

1. Text (`fold`): Unicode NFKD, combining marks dropped (é→e, ï→i), letters without a decomposition mapped
   (ø→o, æ→ae, œ→oe, ß→ss, ł→l, đ→d, ı→i, þ→th), case folded; every apostrophe-like mark (’ ‘ ` ´ ʼ) becomes
   `'`; every other non-letter, non-digit character becomes a space; runs of spaces collapse.
2. Family names (`family_name`): split at hyphens into parts ("Jansen-de Vries" → two parts). In each part
   the leading run of name particles (van, van der, de, ten, in 't, op de, d', la, du, …) is separated from
   the name, however it was written: "van der Linden", "Linden, van der", "Linden van der", "vd Linden",
   "v.d. Linden", or the particles in their own column (`name_prefix`). Abbreviations are expanded: v → van,
   vd/v.d./v/d → van der, vdn → van den, i.t. → in 't. A part that is only particles keeps its last word as
   the name ("De"). `prefix` is the particle run of the first part (the Dutch voorvoegsel); particles of
   later parts are kept per part (`part_prefixes`). `name` is the parts without particles, joined by a space.
3. Given names (`given_names`): folded, split at spaces; a hyphenated name stays one name without its hyphen
   ("Anne-Marie" → "annemarie"); one-letter words are initials, not names. `first` is the first given name;
   `initials` are the first letters of the names, or the initials column when no names are known.
4. Birth dates (`birth_date`): ISO `YYYY-MM-DD` (a time part is ignored); year, month and day are kept apart
   so a day/month swap can be recognised; the swap exists only when it is a valid, different date.
5. Postcodes (`postcode`): spaces and dashes removed, upper case, `1234AB` checked by the rule of
   `stdnum.nl.postcode` (first digit not 0, letters not SA, SD, SS); the area is the four digits (kept even
   when the letters are missing or wrong).
6. Identifiers (`digits`): BSN and onderwijsnummer keep digits only, left-padded with zeros to nine; codes
   (`code`) are upper case without spaces, dots or dashes.

Missing is None, NaN or a string that is empty after normalisation. All functions work on one value;
`per_distinct` applies one to a column once per distinct value and maps the results back. The `*_many`
functions give exactly the single-value results for many values, faster (fast paths for values that are
already canonical, names normalised once per distinct word or hyphen-separated part).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")

_NO_DECOMPOSITION = str.maketrans(
    {"ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ß": "ss", "ł": "l", "Ł": "l",
     "đ": "d", "Đ": "d", "ı": "i", "þ": "th", "Þ": "th", "ð": "d", "Ð": "d",
     "’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'", "′": "'"}
)
_NOT_WORD = re.compile(r"[^\w']+|_")
_SPACES = re.compile(r"\s+")
_HYPHENS = re.compile(r"[-‐‑]")
_PART_BREAK = re.compile(r"\s*[-‐‑–—]\s*")
_DOTTED = re.compile(r"\b(\w)\.\s*(?=\w(?:\.|\s|$))")

# Particles (tussenvoegsels) as written after folding; a run of these before a name is its prefix.
PARTICLES = frozenset(
    "van der den de het ter ten te in op aan bij onder over uit uijt voor vor 't 'n d' l' la le les du des "
    "del della dela di da dos das do von vom zu zum zur am auf el al".split()
)
# Written abbreviations (dots removed) and what they stand for.
ABBREVIATIONS = {
    "v": ("van",), "vd": ("van", "der"), "vdr": ("van", "der"), "vden": ("van", "den"), "vdn": ("van", "den"),
    "it": ("in", "'t"), "vt": ("van", "'t"), "opt": ("op", "'t"), "t": ("'t",), "d": ("d'",), "l": ("l'",),
}


@dataclass(frozen=True)
class FamilyName:
    """A family name split into particle prefix and name parts."""

    prefix: str  # particles of the first part, e.g. "van der"
    parts: tuple[str, ...]  # name parts without particles, e.g. ("jansen", "vries")
    part_prefixes: tuple[str, ...]  # particles per part, e.g. ("", "de")

    @property
    def name(self) -> str:
        return " ".join(self.parts)

    @property
    def written(self) -> str:
        """The normalised name written out ("jansen-de vries"); `family_name(written)` gives it back."""
        return "-".join(" ".join(w for w in (p, n) if w) for p, n in zip(self.part_prefixes, self.parts,
                                                                          strict=True))


@dataclass(frozen=True)
class GivenNames:
    """Given names split into names, the first given name and initials."""

    names: tuple[str, ...]
    first: str | None
    initials: str | None


@dataclass(frozen=True)
class BirthDate:
    """A valid birth date kept as parts."""

    year: int
    month: int
    day: int

    @property
    def iso(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    @property
    def swapped(self) -> BirthDate | None:
        """The date with day and month exchanged, when that is a valid and different date."""
        if self.day == self.month or self.day > 12:
            return None
        return BirthDate(self.year, self.day, self.month) if _valid(self.year, self.day, self.month) else None


def is_missing(value: Any) -> bool:
    """None, NaN, pd.NA or a blank string."""
    if value.__class__ is str:
        return not value or value.isspace()
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fold(value: Any) -> str:
    """Rule 1: NFKD, no diacritics, case folded, punctuation to spaces (apostrophes kept), single spaces."""
    if is_missing(value):
        return ""
    text = str(value)
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.translate(_NO_DECOMPOSITION))
        text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.casefold().translate(_NO_DECOMPOSITION)
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", text)).strip()


def _particle_words(text: str) -> list[str]:
    """Fold text and split it into words, expanding particle abbreviations and detaching d'/l'."""
    if is_missing(text):
        return []
    # "v.d." / "v. d." / "i.t." → "vd" / "it": single letters with dots are one abbreviation
    text = _DOTTED.sub(r"\1", str(text).casefold()).replace(".", " ").replace("/", "")
    text = fold(text)
    words: list[str] = []
    for word in text.split():
        if len(word) > 2 and word[:2] in ("d'", "l'"):
            words.extend([word[:2], word[2:]])
        else:
            words.append(word.strip("'") if word not in PARTICLES and word.strip("'") not in ABBREVIATIONS
                         else word)
    return [w for w in words if w]


def _expand(words: Sequence[str]) -> list[str] | None:
    """The words as particles (abbreviations expanded), or None when one of them is not a particle."""
    out: list[str] = []
    for word in words:
        if word in PARTICLES:
            out.append(word)
        elif word.strip("'") in ABBREVIATIONS:
            out.extend(ABBREVIATIONS[word.strip("'")])
        elif word.startswith("'") and word in ("'t", "'n"):
            out.append(word)
        else:
            return None
    return out


def _split_part(words: list[str]) -> tuple[list[str], list[str]]:
    """Leading (or trailing) particles and the name words of one hyphen-separated part."""
    if not words:
        return [], []
    lead = 0
    while lead < len(words) - 1 and _expand(words[lead : lead + 1]) is not None:
        lead += 1
    if lead:
        return _expand(words[:lead]) or [], _plain(words[lead:])
    # "Linden van der": particles after the name, as in alphabetical lists
    tail = len(words)
    while tail > 1 and _expand(words[tail - 1 : tail]) is not None:
        tail -= 1
    if tail < len(words):
        return _expand(words[tail:]) or [], _plain(words[:tail])
    return [], _plain(words)


def _plain(words: list[str]) -> list[str]:
    """Name words without apostrophes ("O'Brien" and "OBrien" are one name)."""
    return [w.replace("'", "") for w in words if w.replace("'", "")]


def family_name(value: Any, prefix: Any = None) -> FamilyName | None:
    """Rule 2: split a family name (and an optional separate prefix column) into particles and parts."""
    if is_missing(value):
        return None
    text = str(value)
    after_comma: list[str] = []
    if "," in text:
        text, _, rest = text.partition(",")
        after_comma = _particle_words(rest)
        if _expand(after_comma) is None:  # "Linden, Jan": not particles, keep the words as name words
            text, after_comma = f"{text} {rest}", []
    parts_words = [_particle_words(p) for p in _PART_BREAK.split(text)]
    parts_words = [w for w in parts_words if w]
    if not parts_words:
        return None
    prefixes, names = [], []
    for words in parts_words:
        particles, name_words = _split_part(words)
        prefixes.append(" ".join(particles))
        names.append(" ".join(name_words))
    explicit = _expand(_particle_words(prefix)) if not is_missing(prefix) else None
    if explicit is None and not is_missing(prefix):  # unknown words in the prefix column: keep them folded
        explicit = _particle_words(prefix)
    first_prefix = " ".join(explicit or []) or " ".join(_expand(after_comma) or []) or prefixes[0]
    prefixes[0] = first_prefix
    return FamilyName(prefix=first_prefix, parts=tuple(names), part_prefixes=tuple(prefixes))


def family_name_many(values: Sequence[Any], prefixes: Sequence[Any]) -> list[FamilyName | None]:
    """`family_name(value, prefix)` for each pair, splitting each distinct hyphen-separated part once."""
    parts_cache: dict[str, tuple[str, str] | None] = {}
    prefix_cache: dict[Any, str] = {}
    out: list[FamilyName | None] = []
    for value, prefix in zip(values, prefixes, strict=True):
        if value.__class__ is not str or "," in value or is_missing(value) or prefix.__class__ not in (str,
                                                                                                    type(None)):
            out.append(family_name(value, prefix))
            continue
        split: list[tuple[str, str]] = []
        for part in _PART_BREAK.split(value):
            if part in parts_cache:
                found = parts_cache[part]
            else:
                words = _particle_words(part)
                if words:
                    particles, name_words = _split_part(words)
                    found = (" ".join(particles), " ".join(name_words))
                else:
                    found = None
                parts_cache[part] = found
            if found is not None:
                split.append(found)
        if not split:
            out.append(None)
            continue
        first_prefix = prefix_cache.get(prefix)
        if first_prefix is None:
            first_prefix = prefix_cache[prefix] = _explicit_prefix(prefix)
        prefixes_out = [p for p, _ in split]
        prefixes_out[0] = first_prefix or prefixes_out[0]
        out.append(FamilyName(prefix=prefixes_out[0], parts=tuple(n for _, n in split),
                              part_prefixes=tuple(prefixes_out)))
    return out


def _explicit_prefix(prefix: Any) -> str:
    """The particles of a `name_prefix` value as one string ("" when missing)."""
    explicit = _expand(_particle_words(prefix)) if not is_missing(prefix) else None
    if explicit is None and not is_missing(prefix):
        explicit = _particle_words(prefix)
    return " ".join(explicit or [])


def given_names(value: Any, initials: Any = None) -> GivenNames | None:
    """Rule 3: given names, first given name and initials (from the initials column when no names)."""
    names, letters = _given_word(str(value)) if not is_missing(value) else ([], [])
    if not letters and not is_missing(initials):
        letters = [c for c in fold(initials).replace("'", "") if c.isalnum()]
    if not names and not letters:
        return None
    return GivenNames(names=tuple(names), first=names[0] if names else None,
                      initials="".join(letters) or None)


def name_text(value: Any) -> str | None:
    """A single name (roepnaam) or string link field: folded, apostrophes and spaces dropped inside."""
    text = fold(value).replace("'", "")
    return text or None


def _valid(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


# The rule of stdnum.nl.postcode (tests check that both agree), compiled once: stdnum's validate costs
# ~25 µs a value, too slow for the few hundred thousand distinct postcodes of a national cohort.
_POSTCODE = re.compile(r"[1-9][0-9]{3}(?!SA|SD|SS)[A-Z]{2}")
_AREA = re.compile(r"[1-9][0-9]{3}(?![0-9])")
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})")


def birth_date(value: Any) -> BirthDate | None:
    """Rule 4: an ISO date as parts; anything that is not a valid date is missing."""
    if is_missing(value):
        return None
    match = _ISO_DATE.match(str(value))
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    return BirthDate(year, month, day) if _valid(year, month, day) else None


def postcode(value: Any) -> tuple[str | None, str | None]:
    """Rule 5: (`1234AB` or None, four-digit area or None)."""
    if is_missing(value):
        return None, None
    text = str(value).replace(" ", "").upper()
    if _POSTCODE.fullmatch(text):
        return text, text[:4]
    text = _SPACES.sub("", text).replace("-", "")
    if _POSTCODE.fullmatch(text):
        return text, text[:4]
    return None, (text[:4] if _AREA.match(text) else None)


def digits(value: Any) -> str | None:
    """Rule 6: digits only, zero-padded to nine (BSN, onderwijsnummer); None when no digits."""
    if is_missing(value):
        return None
    text = str(value)
    if not (len(text) == 9 and text.isdigit()):
        text = "".join(c for c in text if c.isdigit())
        if not text:
            return None
        text = text.zfill(9)
    return text


def digits_many(values: Sequence[Any]) -> list[str | None]:
    """`digits` of each value; nine-digit strings (already normalised) are kept as they are."""
    return [v if v.__class__ is str and len(v) == 9 and v.isdigit() else digits(v) for v in values]


def postcode_many(values: Sequence[Any]) -> tuple[list[str | None], list[str | None]]:
    """`postcode` of each value as (postcodes, areas); a compact valid `1234AB` is its own result."""
    full = _POSTCODE.fullmatch
    codes: list[str | None] = []
    areas: list[str | None] = []
    for value in values:
        if value.__class__ is str and full(value):
            codes.append(value)
            areas.append(value[:4])
        else:
            pc, area = postcode(value)
            codes.append(pc)
            areas.append(area)
    return codes, areas


def given_name_fields_many(
    values: Sequence[Any], initials: Sequence[Any] | None = None
) -> tuple[list[str | None], list[str | None], list[str | None]]:
    """For each (value, initials) of `given_names`: all names joined by a space, the first name and the
    first initial (None when empty), folding each distinct whitespace-separated word once.

    Folding works character by character and turns every whitespace character into a word break, so the
    words of a folded value are the folded words of its whitespace-separated parts.
    """
    cache: dict[str, tuple[list[str], list[str]]] = {}
    joined: list[str | None] = []
    firsts: list[str | None] = []
    inits: list[str | None] = []
    for i, value in enumerate(values):
        extra = None if initials is None else initials[i]
        if value.__class__ is not str:
            given = given_names(value, extra)
            names, letters = (list(given.names), list(given.initials or "")) if given else ([], [])
        else:
            names, letters = [], []
            for word in value.split():
                found = cache.get(word)
                if found is None:
                    found = cache[word] = _given_word(word)
                names += found[0]
                letters += found[1]
            if not letters and not is_missing(extra):
                letters = [c for c in fold(extra).replace("'", "") if c.isalnum()]
        joined.append(" ".join(names) or None)
        firsts.append(names[0] if names else None)
        inits.append(letters[0] if letters else None)
    return joined, firsts, inits


def _given_word(word: str) -> tuple[list[str], list[str]]:
    """Names and initial letters of a given-names value (or of one word of it)."""
    names: list[str] = []
    letters: list[str] = []
    for piece in fold(_HYPHENS.sub("", word)).split():
        piece = piece.replace("'", "")
        if len(piece) == 1:
            letters.append(piece)
        elif piece:
            names.append(piece)
            letters.append(piece[0])
    return names, letters


def code(value: Any) -> str | None:
    """Rule 6: a code (or number) in upper case without spaces, dots and dashes."""
    if is_missing(value):
        return None
    text = re.sub(r"[\s.\-_/]+", "", unicodedata.normalize("NFKC", str(value))).upper()
    return text or None


def per_distinct(values: pd.Series | Sequence[Any], func: Callable[[Any], T]) -> tuple[list[T], np.ndarray]:
    """Apply `func` once per distinct value: (results per distinct value, code per row; -1 = missing)."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return [func(u) for u in uniques], codes
