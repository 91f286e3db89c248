"""The feature frame of a batch: keyed hashes and hardened Bloom filters of normalised identifiers.

Keys (all from the linkage key's 32 bytes by HKDF, `keys.derive.subkey`):
- hash key `ttp/linkage/hmac/v1`: HMAC-SHA256 over `domain | key_version | value` (UTF-8); the first 8
  bytes, big-endian, as int64 (0 means missing; a digest that happens to be 0 becomes 1).
- Bloom keys `ttp/linkage/bloom/<domain>/v<key_version>`, one per Bloom domain (see `linkage.bloom`).

Columns meant to be compared with each other share a domain, so their hashes agree on equal values:
`fam`, `fam_a`, `fam_b` use "fam"; `given1` and `pref` (and `given_bf`, `pref_bf`) use "firstname";
`dob` and `dob_swap` use "dob" (a swapped date matches the other record's `dob`). Every other column is
its own domain, so equal values in different columns never give equal hashes.

`record_id` and `label_id` are the first 16 bytes (32 hex) of HMAC over `record_id|kv|` (`label_id|kv|`)
and the length-prefixed UTF-8 of source, export file (school) and record key: the record key is a local
identifier and leaves this module only keyed.

Work is done once per distinct raw value (names, dates and postcodes repeat), then mapped back to rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from keys.derive import subkey
from linkage import normalise as nz
from linkage.bloom import BloomEncoder, BloomParams

PSEUDONYM_SCHEME = "hmac-sha256/v1"
HASH_COLUMNS = ("bsn", "onr", "nco", "bsn4", "fam", "fam_a", "fam_b", "prefix", "given", "given1", "pref",
                "init", "dob", "dob_swap", "dob_ym", "dob_yd", "dob_md", "dob_y", "pc", "pc4")
BLOOM_COLUMNS = ("fam_bf", "given_bf", "pref_bf")
DOMAINS = {"fam_a": "fam", "fam_b": "fam", "given1": "firstname", "pref": "firstname", "dob_swap": "dob",
           "fam_bf": "fam", "given_bf": "firstname", "pref_bf": "firstname"}
LINK_KINDS = ("string", "number", "code")


class PseudonymError(ValueError):
    """The records cannot be turned into features (names the column or row, never a value)."""


class KeyedHasher:
    """HMAC-SHA256 with precomputed inner and outer states (the same bytes as `hmac.digest`, faster)."""

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        block = key.ljust(64, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def prefixed(self, prefix: bytes) -> Any:
        """The inner state after `prefix` (domain and key version), to be copied per message."""
        state = self._inner.copy()
        state.update(prefix)
        return state

    def digests(self, inner: Any, messages: list[bytes], size: int = 32) -> list[bytes]:
        """HMAC of `prefix + message` for each message, truncated to `size` bytes."""
        inner_copy, outer_copy = inner.copy, self.outer.copy
        out = []
        for message in messages:
            i = inner_copy()
            i.update(message)
            o = outer_copy()
            o.update(i.digest())
            out.append(o.digest()[:size])
        return out

    def int64(self, domain: str, key_version: int, values: list[str]) -> np.ndarray:
        """First 8 digest bytes of each value as int64 (never 0)."""
        inner = self.prefixed(f"{domain}|{key_version}|".encode())
        raw = b"".join(self.digests(inner, [v.encode("utf-8") for v in values], 8))
        out = np.frombuffer(raw, dtype=">i8").astype(np.int64)
        out[out == 0] = 1
        return out


def _lp(text: str) -> bytes:
    data = text.encode("utf-8")
    return len(data).to_bytes(4, "big") + data


def _column(records: pd.DataFrame, name: str) -> pd.Series:
    if name in records.columns:
        return records[name]
    return pd.Series([None] * len(records), index=records.index, dtype=object)


class _Batch:
    """Per-call state: keys, the distinct-value caches and the output columns."""

    def __init__(self, secret: bytes, key_version: int, bloom: BloomParams) -> None:
        self.key_version = key_version
        self.hasher = KeyedHasher(subkey(secret, "ttp/linkage/hmac/v1"))
        self.secret, self.bloom = secret, bloom
        self.encoders: dict[str, BloomEncoder] = {}

    def hash_values(self, column: str, values: list[str | None]) -> np.ndarray:
        """int64 per value (0 for None), one HMAC per distinct value."""
        codes, distinct = pd.factorize(pd.Series(values, dtype=object).replace("", None))
        digests = self.hasher.int64(DOMAINS.get(column, column), self.key_version, list(distinct))
        return _rows(digests, codes, 0, np.int64)

    def bloom_values(self, column: str, values: list[str | None]) -> list[bytes | None]:
        domain = DOMAINS.get(column, column.removesuffix("_bf"))
        if domain not in self.encoders:
            key = subkey(self.secret, f"ttp/linkage/bloom/{domain}/v{self.key_version}")
            self.encoders[domain] = BloomEncoder(key, self.bloom)
        distinct = sorted({v for v in values if v})
        encoded = dict(zip(distinct, self.encoders[domain].encode(distinct), strict=True))
        return [encoded.get(v) if v else None for v in values]


def _rows(per_distinct: list | np.ndarray, codes: np.ndarray, missing: Any, dtype: Any) -> np.ndarray:
    """Map per-distinct results back to rows (code -1 → missing)."""
    table = np.empty(len(per_distinct) + 1, dtype=dtype)
    if dtype is object:
        table[:-1] = np.fromiter(per_distinct, dtype=object, count=len(per_distinct))
    else:
        table[:-1] = per_distinct
    table[-1] = missing
    return table[codes]


def _feature_columns(
    batch: _Batch,
    raw: pd.Series | tuple[list, np.ndarray],
    func: Callable[[Any], dict[str, str | None]],
    hashed: tuple[str, ...],
    blooms: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """Normalise each distinct raw value into named strings, key them, and map back to rows.

    `raw` is a column, or (distinct values, code per row) already factorised.
    """
    results, codes = raw if isinstance(raw, tuple) else nz.per_distinct(raw, func)
    if isinstance(raw, tuple):
        results = [func(value) for value in results]
    out: dict[str, np.ndarray] = {}
    for column in hashed:
        out[column] = _rows(batch.hash_values(column, [r.get(column) for r in results]), codes, 0, np.int64)
    for column in blooms:
        out[column] = _rows(batch.bloom_values(column, [r.get(column) for r in results]), codes, None, object)
    return out


def _family(pair: Any) -> dict[str, str | None]:
    name = nz.family_name(*pair) if isinstance(pair, tuple) else None
    if name is None:
        return {}
    parts = [p for p in name.parts if p]
    return {"fam": name.name or None, "fam_bf": name.name or None, "prefix": name.prefix or None,
            "fam_a": parts[0] if len(parts) > 1 else None, "fam_b": parts[-1] if len(parts) > 1 else None}


def _given(pair: Any) -> dict[str, str | None]:
    given = nz.given_names(*pair) if isinstance(pair, tuple) else None
    if given is None:
        return {}
    return {"given": " ".join(given.names) or None, "given1": given.first, "given_bf": given.first,
            "init": given.initials[0] if given.initials else None}


def _preferred(value: Any) -> dict[str, str | None]:
    given = nz.given_names(value)
    name = "".join(given.names) if given else None
    return {"pref": name or None, "pref_bf": name or None}


def _dob(value: Any) -> dict[str, str | None]:
    date = nz.birth_date(value)
    if date is None:
        return {}
    swapped = date.swapped
    y, m, d = f"{date.year:04d}", f"{date.month:02d}", f"{date.day:02d}"
    return {"dob": date.iso, "dob_swap": swapped.iso if swapped else None, "dob_ym": f"{y}-{m}",
            "dob_yd": f"{y}-{d}", "dob_md": f"{m}-{d}", "dob_y": y}


def _postcode(value: Any) -> dict[str, str | None]:
    pc, pc4 = nz.postcode(value)
    return {"pc": pc, "pc4": pc4}


def _pairs(records: pd.DataFrame, a: str, b: str) -> tuple[list[tuple[Any, Any]], np.ndarray]:
    """Distinct (a, b) value pairs and a code per row (a name and its prefix are normalised together)."""
    codes_a, uniq_a = pd.factorize(_column(records, a))
    codes_b, uniq_b = pd.factorize(_column(records, b))
    combined = (codes_a.astype(np.int64) + 1) * (len(uniq_b) + 1) + (codes_b + 1)
    distinct, codes = np.unique(combined, return_inverse=True)
    ua, ub = list(uniq_a) + [None], list(uniq_b) + [None]
    pairs = [(ua[c // (len(uniq_b) + 1) - 1], ub[c % (len(uniq_b) + 1) - 1]) for c in distinct.tolist()]
    return pairs, codes.reshape(-1)


def _record_keys(records: pd.DataFrame) -> list[bytes]:
    """The record keys as UTF-8; a missing key is an error (named by row, never by value)."""
    keys = _column(records, "record_key")
    missing = (keys.isna() | (keys.astype(str).str.strip() == "")).to_numpy(dtype=bool)
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise PseudonymError(f"record_key is missing in row {row + 1} of the records")
    return [str(k).encode("utf-8") for k in keys.tolist()]


def _ids(
    batch: _Batch, records: pd.DataFrame, keys: list[bytes], source: str, place: str, label: str
) -> np.ndarray:
    """32-hex keyed ids of `source | place | record_key` per row (one inner state per distinct place).

    Source and place are length-prefixed; the record key comes last, so the encoding is unambiguous.
    """
    codes, distinct = pd.factorize(_plain_text(_column(records, place)))
    prefix = f"{label}|{batch.key_version}|".encode() + _lp(source)
    states = [batch.hasher.prefixed(prefix + _lp(p)) for p in distinct]
    outer_copy = batch.hasher.outer.copy
    out = []
    append = out.append
    for code, key in zip(codes.tolist(), keys, strict=True):
        inner = states[code].copy()
        inner.update(key)
        outer = outer_copy()
        outer.update(inner.digest())
        append(outer.digest()[:16].hex())
    return np.array(out, dtype=object)


def _plain_text(values: pd.Series) -> np.ndarray:
    """A plain text column with missing as ""."""
    codes, distinct = pd.factorize(values)
    return _rows(["" if nz.is_missing(v) else str(v) for v in distinct], codes, "", object)


def _sex(value: Any) -> int:
    text = "" if nz.is_missing(value) else str(value).strip().upper()
    return {"M": 1, "F": 2, "V": 2}.get(text, 0)


def _link(column: str, kind: str) -> Callable[[Any], dict[str, str | None]]:
    def normalise(value: Any) -> dict[str, str | None]:
        text = nz.name_text(value) if kind == "string" else nz.code(value)
        return {column: text, f"{column}_bf": text}

    return normalise


def make_features(
    records: pd.DataFrame, *, source: str, secret: bytes, key_version: int,
    link_kinds: Mapping[str, str] | None = None, bloom: BloomParams | None = None, bloom_filters: bool = True,
) -> pd.DataFrame:
    """Features of one batch of canonical records (docs/architecture.md); no plain identifier survives.

    `bloom` overrides the Bloom-filter parameters; `bloom_filters=False` leaves the Bloom columns None
    (for measuring the keyed hashes alone).
    """
    if not isinstance(secret, bytes | bytearray) or len(secret) != 32:
        raise PseudonymError("the linkage key must be 32 bytes")
    if not isinstance(key_version, int) or key_version < 1:
        raise PseudonymError("key_version must be a positive integer")
    link_kinds = dict(link_kinds or {})
    for name, kind in link_kinds.items():
        if kind not in LINK_KINDS:
            raise PseudonymError(f"link field {name!r}: unknown kind {kind!r} ({', '.join(LINK_KINDS)})")
    params = bloom or BloomParams()
    batch = _Batch(bytes(secret), key_version, params)
    n = len(records)
    keys = _record_keys(records)
    cols: dict[str, Any] = {
        "record_id": _ids(batch, records, keys, source, "export_file", "record_id"),
        "label_id": _ids(batch, records, keys, source, "school", "label_id"),
        "source": np.full(n, source, dtype=object),
        "export_file": _plain_text(_column(records, "export_file")),
        "key_version": np.full(n, key_version, dtype=np.int64),
    }
    for column, field, func in (("bsn", "bsn", nz.digits), ("onr", "onderwijsnummer", nz.digits),
                                ("nco", "nco_id", nz.code), ("bsn4", "bsn4", nz.code)):
        cols.update(_feature_columns(batch, _column(records, field), lambda v, f=func, c=column: {c: f(v)},
                                     (column,)))
    def bf(*columns: str) -> tuple[str, ...]:
        return columns if bloom_filters else ()

    cols.update(_feature_columns(batch, _pairs(records, "family_name", "name_prefix"), _family,
                                 ("fam", "fam_a", "fam_b", "prefix"), bf("fam_bf")))
    cols.update(_feature_columns(batch, _pairs(records, "given_names", "initials"), _given,
                                 ("given", "given1", "init"), bf("given_bf")))
    cols.update(_feature_columns(batch, _column(records, "preferred_name"), _preferred,
                                 ("pref",), bf("pref_bf")))
    cols.update(_feature_columns(batch, _column(records, "birth_date"), _dob,
                                 ("dob", "dob_swap", "dob_ym", "dob_yd", "dob_md", "dob_y")))
    cols.update(_feature_columns(batch, _column(records, "postcode"), _postcode, ("pc", "pc4")))
    for name, kind in link_kinds.items():
        column = f"link_{name}"
        cols.update(_feature_columns(batch, _column(records, f"link:{name}"), _link(column, kind), (column,),
                                     bf(f"{column}_bf") if kind == "string" else ()))
    sex_codes, sex_distinct = pd.factorize(_column(records, "sex"))
    cols["sex"] = _rows([_sex(v) for v in sex_distinct], sex_codes, 0, np.int8)
    for column in [*BLOOM_COLUMNS, *(f"link_{name}_bf" for name in link_kinds)]:
        cols.setdefault(column, np.full(n, None, dtype=object))
    order = ["record_id", "label_id", "source", "export_file", "key_version", *HASH_COLUMNS,
             *[f"link_{name}" for name in link_kinds], "sex", *BLOOM_COLUMNS,
             *[f"link_{name}_bf" for name, kind in link_kinds.items() if kind == "string"]]
    frame = pd.DataFrame({c: cols[c] for c in order}, index=pd.RangeIndex(n))
    frame.attrs["ttp.pseudonym"] = PSEUDONYM_SCHEME
    frame.attrs["ttp.bloom"] = params.as_metadata()
    return frame
