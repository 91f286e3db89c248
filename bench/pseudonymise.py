"""Benchmark: keyed features of a synthetic Dutch cohort, with and without Bloom filters, in one process.

Run: .venv/bin/python bench/pseudonymise.py [--records 1000000]
Prints records/s for the keyed hashes alone and with Bloom filters (in one process, then with the per-row
half on a second core: `workers=2`), the TTP's layer over a supplier's
features (`linkage.rekey`), the raw `hmac.digest` ceiling over the
same values (one call per field per row, no normalisation), and the peak resident memory. CPU seconds are
printed next to wall seconds: on a shared machine they show the work done, apart from waiting for a core.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import resource
import secrets
import time

import numpy as np
import pandas as pd

from linkage.pseudonymise import make_features
from linkage.rekey import rekey_features

SYLLABLES = ["ber", "man", "sen", "jan", "de", "vos", "kamp", "hof", "veld", "dijk", "stra", "ma", "bak",
             "ker", "smit", "hui", "zin", "ga", "wit", "mul", "der", "bos", "tel", "ling", "ha", "ren", "ko",
             "ster", "ink", "lo", "bru", "ver", "mee", "el", "gro", "ten", "vlie", "ge", "rink", "hoek"]
PARTICLES = ["", "", "", "", "", "", "de ", "van ", "van der ", "van den ", "ter ", "van 't ", "in 't "]
GIVEN = ["an", "ma", "ri", "jo", "han", "nes", "pie", "ter", "sem", "lu", "cas", "em", "noor", "fleur",
         "daan", "li", "sa", "ruben", "thijs", "eva", "tess", "iris", "mi", "la", "no", "ah", "el", "if"]


def _names(rng: np.random.Generator, count: int, parts: list[str], low: int, high: int) -> list[str]:
    out = set()
    while len(out) < count:
        k = int(rng.integers(low, high + 1))
        out.add("".join(rng.choice(parts, k)).capitalize())
    return sorted(out)


def _zipf(rng: np.random.Generator, n: int, size: int, a: float = 1.1) -> np.ndarray:
    weights = 1.0 / np.arange(1, size + 1) ** a
    return rng.choice(size, n, p=weights / weights.sum())


def _bsns(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct valid BSNs (11-proef) as strings."""
    base = np.unique(rng.integers(10_000_000, 100_000_000, int(n * 1.3) + 10))
    base = rng.permutation(base)
    digits = (base[:, None] // 10 ** np.arange(7, -1, -1)) % 10
    check = (digits * np.arange(9, 1, -1)).sum(axis=1) % 11
    ok = check < 10
    numbers = base[ok][:n] * 10 + check[ok][:n]
    return np.char.zfill(numbers.astype(str), 9).astype(object)


def cohort(n: int, seed: int = 7) -> pd.DataFrame:
    """Synthetic canonical records: names, dates and postcodes repeat (Zipf), BSNs and record keys unique."""
    rng = np.random.default_rng(seed)
    family = np.array([p + f for p, f in zip(rng.choice(PARTICLES, 4000), _names(rng, 4000, SYLLABLES, 1, 3),
                                              strict=True)], dtype=object)
    given = np.array(_names(rng, 2000, GIVEN, 2, 3), dtype=object)
    fam = family[_zipf(rng, n, len(family))]
    double = rng.random(n) < 0.04
    fam[double] = fam[double] + "-" + family[_zipf(rng, int(double.sum()), len(family))]
    g1, g2 = given[_zipf(rng, n, len(given))], given[_zipf(rng, n, len(given))]
    two = rng.random(n) < 0.6
    given_names = np.where(two, g1 + " " + g2, g1).astype(object)
    start = np.datetime64("2006-01-01")
    dates = (start + rng.integers(0, 14 * 365, n).astype("timedelta64[D]")).astype(str).astype(object)
    letters = np.array([a + b for a in "ABCDEGHJKLMNPRTVWXZ" for b in "ABCDEGHJKLMNPRTVWXZ"], dtype=object)
    # about 450,000 postcodes exist; a cohort lives at a few hundred thousand of them
    pool = np.unique(rng.integers(1000, 10000, 450_000).astype(str).astype(object)
                     + letters[rng.integers(0, len(letters), 450_000)])
    postcode = pool[rng.integers(0, len(pool), n)]
    schools = np.array([f"{i:02d}{chr(65 + i % 26)}{chr(65 + i // 26 % 26)}00/2024-2025" for i in range(600)],
                       dtype=object)
    school = schools[rng.integers(0, len(schools), n)]
    bsn = _bsns(rng, n)
    onr = np.where(rng.random(n) < 0.05, _bsns(rng, n), None)
    return pd.DataFrame({
        "export_file": school, "school": [s[:6] for s in school], "row_number": np.arange(1, n + 1),
        "record_key": np.char.add("L", np.arange(n).astype(str)).astype(object), "bsn": bsn,
        "onderwijsnummer": onr, "bsn4": [b[-4:] for b in bsn], "family_name": fam,
        "name_prefix": None, "given_names": given_names,
        "preferred_name": np.where(rng.random(n) < 0.3, g1, None),
        "initials": None, "birth_date": dates, "sex": rng.choice(np.array(["M", "F"], dtype=object), n),
        "postcode": postcode, "brin": school, "school_year": "2024-2025",
    })


HASHED_FIELDS = ["record_key", "record_key", "bsn", "onderwijsnummer", "bsn4", "family_name", "given_names",
                 "preferred_name", "birth_date", "postcode"]


def raw_ceiling(records: pd.DataFrame, key: bytes) -> float:
    """Seconds for one plain hmac.digest per field per row (no normalisation, no caching)."""
    start = time.perf_counter()
    for field in HASHED_FIELDS:
        for value in records[field].to_numpy():
            if value is not None:
                hmac.digest(key, b"f|1|" + value.encode(), hashlib.sha256)
    return time.perf_counter() - start


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.records
    t0 = time.perf_counter()
    records = cohort(n)
    print(f"records: {n:,} generated in {time.perf_counter() - t0:.1f} s "
          f"(family names {records.family_name.nunique():,}, given {records.given_names.nunique():,}, "
          f"dates {records.birth_date.nunique():,}, postcodes {records.postcode.nunique():,} distinct)")
    print(f"peak memory after generation: {peak_mib():,.0f} MiB")
    secret = secrets.token_bytes(32)

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: records/s is wall clock; CPU counts this "
          "process and its children; 'busier process' is the larger of the parent's and the child's CPU, the wall "
          "time two free cores would give")
    features, t_hash = None, 0.0
    for workers in (1, 2):
        for blooms, target in ((False, 200_000), (True, 100_000)):
            t0, c0 = time.perf_counter(), os.times()
            features = make_features(records, source="po", secret=secret, key_version=1, bloom_filters=blooms,
                                     workers=workers)
            wall, c1 = time.perf_counter() - t0, os.times()
            if workers == 1 and not blooms:
                t_hash = wall
            own = c1.user + c1.system - c0.user - c0.system
            child = c1.children_user + c1.children_system - c0.children_user - c0.children_system
            kind = "with Bloom filters" if blooms else "keyed hashes only"
            label = f"{kind}, {workers} process{'es' * (workers > 1)}:"
            line = (f"{label:<36}{wall:6.2f} s {n / wall:>9,.0f} records/s  (target >= {target:,}; CPU "
                    f"{own + child:.2f} s, {n / (own + child):,.0f} records per CPU second")
            if child:
                busier = max(own, child)
                line += f"; busier process {busier:.2f} s: {n / busier:,.0f} records/s on two free cores"
            print(line + ")")
    assert features is not None

    t0, c0 = time.perf_counter(), time.process_time()
    rekey_features(features, secrets.token_bytes(32), 1)
    t_layer, c_layer = time.perf_counter() - t0, time.process_time() - c0
    print(f"TTP layer on delivery: {t_layer:6.2f} s  {n / t_layer:>10,.0f} records/s  (the TTP's HMAC over each "
          f"supplier hash and id, Bloom bits permuted; CPU {c_layer:.2f} s, {n / c_layer:,.0f} records per CPU second)")

    t_raw = raw_ceiling(records, secret)
    calls = int(records[HASHED_FIELDS].notna().sum().sum())
    print(f"raw hmac.digest:       {t_raw:6.2f} s  {n / t_raw:>10,.0f} records/s  ({calls:,} calls, "
          f"{calls / t_raw:,.0f} digests/s)")
    print(f"ratio keyed hashes (1 process) / raw hmac.digest throughput: {t_raw / t_hash:.2f}")
    print(f"feature frame: {features.memory_usage(deep=True).sum() / 2**20:,.0f} MiB; "
          f"peak memory: {peak_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
