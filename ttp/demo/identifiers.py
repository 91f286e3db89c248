"""Synthetic Dutch identifiers: BSNs and onderwijsnummers that pass their check digits, BRIN codes."""

from __future__ import annotations

import random
import string

_BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)


def _weighted(digits: str) -> int:
    return sum(w * int(d) for w, d in zip(_BSN_WEIGHTS, digits, strict=False))


def draw_bsn(rng: random.Random, taken: set[str]) -> str:
    """A fresh 9-digit number that passes the 11-proef (stdnum.nl.bsn)."""
    while True:
        head = f"{rng.randrange(10_000_000, 100_000_000):08d}"
        check = _weighted(head) % 11
        number = head + str(check)
        if check < 10 and number not in taken:
            taken.add(number)
            return number


def draw_onderwijsnummer(rng: random.Random, taken: set[str]) -> str:
    """A fresh onderwijsnummer: starts with 10, weighted sum minus last digit is 5 mod 11."""
    while True:
        head = f"10{rng.randrange(0, 1_000_000):06d}"
        check = (_weighted(head) - 5) % 11
        number = head + str(check)
        if check < 10 and number not in taken:
            taken.add(number)
            return number


def break_check_digit(number: str, rng: random.Random) -> str:
    """The same number with another last digit: any other digit fails the 11-proef."""
    last = int(number[-1])
    return number[:-1] + str(rng.choice([d for d in range(10) if d != last]))


def draw_brin(rng: random.Random, taken: set[str]) -> str:
    """A fresh four-character BRIN code (two digits, two capitals)."""
    while True:
        code = f"{rng.randrange(100):02d}{rng.choice(string.ascii_uppercase)}{rng.choice(string.ascii_uppercase)}"
        if code not in taken:
            taken.add(code)
            return code
