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
and the length-prefixed UTF-8 of source, delivery (school) and record key: the record key is a local
identifier and leaves this module only keyed. A delivery is the export file with the record's school year
(`vo.csv 2022-2023`) when the file name does not already hold it, so next year's export under the same file
name holds other records, and a corrected export of the same year the same ones (`export_file` in the
features is the delivery too: records of one delivery are "within one file" for the matcher).

Work is done once per distinct raw value (names, dates and postcodes repeat), then mapped back to rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from keys.derive import subkey
from linkage import normalise as nz
from linkage.bloom import BloomEncoder, BloomParams
from linkage.forked import Forked, can_fork, cores, idle_core

PSEUDONYM_SCHEME = "hmac-sha256/v1"
HASH_COLUMNS = ("bsn", "onr", "bsn4", "fam", "fam_a", "fam_b", "prefix", "given", "given1", "pref",
                "init", "dob", "dob_swap", "dob_ym", "dob_yd", "dob_md", "dob_y", "pc", "pc4")
BLOOM_COLUMNS = ("fam_bf", "given_bf", "pref_bf")
DOMAINS = {"fam_a": "fam", "fam_b": "fam", "given1": "firstname", "pref": "firstname", "dob_swap": "dob",
           "fam_bf": "fam", "given_bf": "firstname", "pref_bf": "firstname"}
LINK_KINDS = ("string", "number", "code")
# Columns whose distinct raw values nearly always normalise to distinct strings: keyed per distinct raw
# value without a second round of de-duplication (which would cost more than the few HMACs it saves).
DISTINCT_AFTER_NORMALISING = frozenset({"bsn", "onr", "given", "pc"})
# Batches from this size up use a second core by default (below it, forking costs more than it saves).
FORK_MIN_ROWS = 20_000
# The hash columns computed beside the ids (in the child when there is one).
CHILD_COLUMNS = ("pc", "pc4")


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
        raw = self.digest_matrix(inner, messages)
        return [row.tobytes() for row in raw[:, :size]]

    def digest_matrix(self, inner: Any, messages: Iterable[bytes]) -> np.ndarray:
        """HMAC of `prefix + message` for each message as an n × 32 uint8 matrix (one loop, no slicing)."""
        inner_copy, outer_copy = inner.copy, self.outer.copy
        out: list[bytes] = []
        append = out.append
        for message in messages:
            i = inner_copy()
            i.update(message)
            o = outer_copy()
            o.update(i.digest())
            append(o.digest())
        return np.frombuffer(b"".join(out), dtype=np.uint8).reshape(len(out), 32)

    def int64(self, domain: str, key_version: int, values: list[str]) -> np.ndarray:
        """First 8 digest bytes of each value as int64 (never 0)."""
        inner = self.prefixed(f"{domain}|{key_version}|".encode())
        return _int64(self.digest_matrix(inner, map(str.encode, values)))


def _int64(raw: np.ndarray) -> np.ndarray:
    """First 8 bytes of each digest row as big-endian int64, 0 (reserved for missing) replaced by 1."""
    out = np.ascontiguousarray(raw[:, :8]).view(">i8").reshape(-1).astype(np.int64)
    out[out == 0] = 1
    return out


_HEX = np.array([f"{b:02x}".encode() for b in range(256)], dtype="S2")


def _hex16(raw: np.ndarray) -> np.ndarray:
    """The first 16 bytes of each digest row as 32 lower-case hex characters (str objects)."""
    chars = np.ascontiguousarray(_HEX[raw[:, :16]]).view("S32").reshape(-1)
    return chars.astype("U32").astype(object)


def _lp(text: str) -> bytes:
    data = text.encode("utf-8")
    return len(data).to_bytes(4, "big") + data


DELIVERY = "_delivery"


def _delivery(records: pd.DataFrame) -> pd.Series:
    """The export file, with the record's school year when the name does not hold it already."""
    files = _column(records, "export_file")
    if "school_year" not in records.columns:
        return files
    codes_f, files_u = pd.factorize(files)
    codes_y, years_u = pd.factorize(records["school_year"])
    if all(type(v) is str for v in files_u) and all(type(v) is str for v in years_u):
        # all strings (the usual case): decided once per distinct (file, year) pair, as `_delivery_rows` does
        width = len(years_u) + 1
        codes, distinct = pd.factorize((codes_f.astype(np.int64) + 1) * width + (codes_y + 1))
        named: list[str | None] = []
        for c in distinct.tolist():
            f = files_u[c // width - 1] if c // width else None
            y = years_u[c % width - 1] if c % width else None
            named.append(f"{f} {y}" if f is not None and y and y not in f else f)
        return pd.Series(_rows(named, codes, None, object), index=records.index)
    return _delivery_rows(records)


def _delivery_rows(records: pd.DataFrame) -> pd.Series:
    """`_delivery` row by row (any value types)."""
    files = _column(records, "export_file")
    years = records["school_year"]
    add = years.notna() & files.notna() & (years.astype(str) != "")
    add &= ~pd.Series([str(y) in str(f) for f, y in zip(files, years, strict=True)], index=records.index)
    return files.where(~add, files.astype(str) + " " + years.astype(str))


def _column(records: pd.DataFrame, name: str) -> pd.Series:
    if name in records.columns:
        return records[name]
    return pd.Series([None] * len(records), index=records.index, dtype=object)


class _Batch:
    """Per-call state: keys, the distinct-value caches and the output columns."""

    def __init__(self, secret: bytes, key_version: int, bloom: BloomParams, source: str = "") -> None:
        self.key_version, self.source = key_version, source
        self.hasher = KeyedHasher(subkey(secret, "ttp/linkage/hmac/v1"))
        self.secret, self.bloom = secret, bloom
        self.encoders: dict[str, BloomEncoder] = {}

    def hash_values(self, column: str, values: list[str | None], dedupe: bool = True) -> np.ndarray:
        """int64 per value (0 for None and ""), one HMAC per distinct value (per value without `dedupe`)."""
        domain = DOMAINS.get(column, column)
        if not dedupe:
            present = np.fromiter(map(bool, values), dtype=bool, count=len(values))
            out = np.zeros(len(values), dtype=np.int64)
            out[present] = self.hasher.int64(domain, self.key_version, [v for v in values if v])
            return out
        codes, distinct = pd.factorize(np.asarray(values, dtype=object))
        empty = np.flatnonzero(distinct == "")
        if len(empty):
            codes[codes == empty[0]] = -1
        digests = self.hasher.int64(domain, self.key_version, [v or "-" for v in distinct])
        return _rows(digests, codes, 0, np.int64)

    def bloom_values(self, column: str, values: list[str | None]) -> np.ndarray:
        """Bloom filter (`bytes`) per value, None for None and ""; one encoding per distinct value."""
        domain = DOMAINS.get(column, column.removesuffix("_bf"))
        if domain not in self.encoders:
            key = subkey(self.secret, f"ttp/linkage/bloom/{domain}/v{self.key_version}")
            self.encoders[domain] = BloomEncoder(key, self.bloom)
        codes, distinct = pd.factorize(np.asarray(values, dtype=object))
        encoded = self.encoders[domain].encode(list(distinct))
        return _rows(encoded, codes, None, object)


def _rows(per_distinct: list | np.ndarray, codes: np.ndarray, missing: Any, dtype: Any) -> np.ndarray:
    """Map per-distinct results back to rows (code -1 → missing)."""
    table = np.empty(len(per_distinct) + 1, dtype=dtype)
    if dtype is object:
        table[:-1] = np.fromiter(per_distinct, dtype=object, count=len(per_distinct))
    else:
        table[:-1] = per_distinct
    table[-1] = missing
    return table.take(codes)


Normaliser = Callable[[list[Any]], dict[str, list[str | None]]]


def _per_value(func: Callable[[Any], dict[str, str | None]], columns: tuple[str, ...]) -> Normaliser:
    """A normaliser over distinct values from one that turns a single value into named strings."""
    def normalise(values: list[Any]) -> dict[str, list[str | None]]:
        results = [func(v) for v in values]
        return {c: [r.get(c) for r in results] for c in columns}

    return normalise


def _feature_columns(
    batch: _Batch,
    raw: pd.Series | tuple[list, np.ndarray],
    normalise: Normaliser,
    hashed: tuple[str, ...],
    blooms: tuple[str, ...] = (),
    per_row: bool = False,
) -> dict[str, np.ndarray]:
    """Normalise the distinct raw values into named strings, key them, and map back to rows.

    `raw` is a column, or (distinct values, code per row) already factorised. `per_row` skips finding the
    distinct values (for a column of unique identifiers, where it would find nothing).
    """
    if isinstance(raw, tuple):
        distinct, codes = raw
    elif per_row:
        distinct, codes = raw.tolist(), np.arange(len(raw))
    else:
        codes, uniques = pd.factorize(pd.Series(raw, dtype=object), use_na_sentinel=True)
        distinct = list(uniques)
    results = normalise(distinct)
    out: dict[str, np.ndarray] = {}
    for column in hashed:
        keyed = batch.hash_values(column, results[column], column not in DISTINCT_AFTER_NORMALISING)
        out[column] = keyed if per_row else _rows(keyed, codes, 0, np.int64)
    for column in blooms:
        encoded = batch.bloom_values(column, results[column])
        out[column] = encoded if per_row else _rows(encoded, codes, None, object)
    return out


def _family_fields(name: nz.FamilyName | None) -> dict[str, str | None]:
    if name is None:
        return {}
    parts = [p for p in name.parts if p]
    return {"fam": name.name or None, "fam_bf": name.name or None, "prefix": name.prefix or None,
            "fam_a": parts[0] if len(parts) > 1 else None, "fam_b": parts[-1] if len(parts) > 1 else None}


def _given(pairs: list[tuple[Any, Any]]) -> dict[str, list[str | None]]:
    joined, first, init = nz.given_name_fields_many([p[0] for p in pairs], [p[1] for p in pairs])
    return {"given": joined, "given1": first, "given_bf": first, "init": init}


def _families(pairs: list[tuple[Any, Any]]) -> dict[str, list[str | None]]:
    results = [_family_fields(name) for name in nz.family_name_many([p[0] for p in pairs],
                                                                     [p[1] for p in pairs])]
    return {c: [r.get(c) for r in results] for c in ("fam", "fam_a", "fam_b", "prefix", "fam_bf")}


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


def _postcode(values: list[Any]) -> dict[str, list[str | None]]:
    pc, pc4 = nz.postcode_many(values)
    return {"pc": pc, "pc4": pc4}


def _pairs(records: pd.DataFrame, a: str, b: str) -> tuple[list[tuple[Any, Any]], np.ndarray]:
    """Distinct (a, b) value pairs and a code per row (a name and its prefix are normalised together)."""
    codes_a, uniq_a = pd.factorize(_column(records, a))
    codes_b, uniq_b = pd.factorize(_column(records, b))
    combined = (codes_a.astype(np.int64) + 1) * (len(uniq_b) + 1) + (codes_b + 1)
    codes, distinct = pd.factorize(combined)
    ua, ub = list(uniq_a) + [None], list(uniq_b) + [None]
    pairs = [(ua[c // (len(uniq_b) + 1) - 1], ub[c % (len(uniq_b) + 1) - 1]) for c in distinct.tolist()]
    return pairs, codes


def _record_keys(records: pd.DataFrame) -> list[bytes]:
    """The record keys as UTF-8; a missing key is an error (named by row, never by value)."""
    keys = _column(records, "record_key")
    values = keys.tolist()
    try:  # the usual case, all keys strings: encoded and checked in C loops
        encoded = list(map(str.encode, values))
        if "" not in values and not any(map(str.isspace, values)):
            return encoded
    except TypeError:
        pass
    missing = (keys.isna() | (keys.astype(str).str.strip() == "")).to_numpy(dtype=bool)
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise PseudonymError(f"record_key is missing in row {row + 1} of the records")
    return [str(k).encode("utf-8") for k in keys.tolist()]


def _id_digests(
    batch: _Batch, records: pd.DataFrame, keys: list[bytes], source: str, place: str, label: str
) -> bytes:
    """First 16 bytes of the keyed id of `source | place | record_key` per row, concatenated.

    One inner state per distinct place. Source and place are length-prefixed; the record key comes last,
    so the encoding is unambiguous.
    """
    codes, texts = _plain_codes(_column(records, place))
    prefix = f"{label}|{batch.key_version}|".encode() + _lp(source)
    # code -1 (missing) picks the last state, that of ""
    states = [batch.hasher.prefixed(prefix + _lp(p)) for p in [*texts, ""]]
    inner_copies = [state.copy for state in states]
    outer_copy = batch.hasher.outer.copy
    out: list[bytes] = []
    append = out.append
    for code, key in zip(codes.tolist(), keys, strict=True):
        inner = inner_copies[code]()
        inner.update(key)
        outer = outer_copy()
        outer.update(inner.digest())
        append(outer.digest()[:16])
    return b"".join(out)


def _hex_ids(digests: bytes) -> np.ndarray:
    """Concatenated 16-byte digests as 32 lower-case hex characters each (str objects)."""
    text = digests.hex()
    out = np.empty(len(digests) // 16, dtype=object)
    out[:] = list(map(text.__getitem__, map(slice, range(0, len(text), 32), range(32, len(text) + 1, 32))))
    return out


def _plain_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """A plain text column as a code per row (-1 missing) and the text of each code."""
    codes, distinct = pd.factorize(values)
    return codes, ["" if nz.is_missing(v) else str(v) for v in distinct]


def _plain_text(values: pd.Series) -> np.ndarray:
    """A plain text column with missing as ""."""
    codes, texts = _plain_codes(values)
    return _rows(texts, codes, "", object)


def _sex(value: Any) -> int:
    text = "" if nz.is_missing(value) else str(value).strip().upper()
    return {"M": 1, "F": 2, "V": 2}.get(text, 0)


def _link(column: str, kind: str) -> Callable[[Any], dict[str, str | None]]:
    def normalise(value: Any) -> dict[str, str | None]:
        text = nz.name_text(value) if kind == "string" else nz.code(value)
        return {column: text, f"{column}_bf": text}

    return normalise


def _identifier(column: str, func: Callable[[list[Any]], list[str | None]]) -> Normaliser:
    return lambda values: {column: func(values)}


def _single(func: Callable[[Any], str | None]) -> Callable[[list[Any]], list[str | None]]:
    return lambda values: [func(v) for v in values]


def _use_fork(workers: int | None, rows: int) -> bool:
    """Whether the per-row work goes to a forked child: asked for (workers=2), or by default on a batch of
    at least `FORK_MIN_ROWS` rows when a second core is there and idle and forking is safe
    (`linkage.forked`)."""
    if workers is None:
        return rows >= FORK_MIN_ROWS and cores() > 1 and idle_core() and can_fork()
    if workers not in (1, 2):
        raise PseudonymError("workers must be 1, 2 or None (automatic)")
    return workers == 2 and can_fork()


def _other_columns(
    batch: _Batch, records: pd.DataFrame, link_kinds: Mapping[str, str], bloom_filters: bool
) -> dict[str, Any]:
    """Every column but the ids and `CHILD_COLUMNS` (this process's part while a child does those)."""
    n = len(records)
    cols: dict[str, Any] = {
        "source": np.full(n, batch.source, dtype=object),
        "export_file": _plain_text(_column(records, DELIVERY)),
        "key_version": np.full(n, batch.key_version, dtype=np.int64),
    }
    for column, field, func in (("bsn", "bsn", nz.digits_many), ("onr", "onderwijsnummer", nz.digits_many),
                                ("bsn4", "bsn4", _single(nz.code))):
        cols.update(_feature_columns(batch, _column(records, field), _identifier(column, func), (column,),
                                     per_row=column == "bsn"))

    def bf(*columns: str) -> tuple[str, ...]:
        return columns if bloom_filters else ()

    cols.update(_feature_columns(batch, _pairs(records, "family_name", "name_prefix"), _families,
                                 ("fam", "fam_a", "fam_b", "prefix"), bf("fam_bf")))
    cols.update(_feature_columns(batch, _pairs(records, "given_names", "initials"), _given,
                                 ("given", "given1", "init"), bf("given_bf")))
    cols.update(_feature_columns(batch, _column(records, "preferred_name"),
                                 _per_value(_preferred, ("pref", "pref_bf")), ("pref",), bf("pref_bf")))
    dob = _per_value(_dob, ("dob", "dob_swap", "dob_ym", "dob_yd", "dob_md", "dob_y"))
    cols.update(_feature_columns(batch, _column(records, "birth_date"), dob,
                                 ("dob", "dob_swap", "dob_ym", "dob_yd", "dob_md", "dob_y")))
    for name, kind in link_kinds.items():
        column = f"link_{name}"
        link = _per_value(_link(column, kind), (column, f"{column}_bf"))
        cols.update(_feature_columns(batch, _column(records, f"link:{name}"), link, (column,),
                                     bf(f"{column}_bf") if kind == "string" else ()))
    sex_codes, sex_distinct = pd.factorize(_column(records, "sex"))
    cols["sex"] = _rows([_sex(v) for v in sex_distinct], sex_codes, 0, np.int8)
    return cols


def make_features(
    records: pd.DataFrame, *, source: str, secret: bytes, key_version: int,
    link_kinds: Mapping[str, str] | None = None, bloom: BloomParams | None = None, bloom_filters: bool = True,
    workers: int | None = None,
) -> pd.DataFrame:
    """Features of one batch of canonical records (docs/architecture.md); no plain identifier survives.

    `bloom` overrides the Bloom-filter parameters; `bloom_filters=False` leaves the Bloom columns None
    (for measuring the keyed hashes alone). `workers` is the number of processes (1, or 2: the per-row
    work in a forked child); None chooses. The features are the same bytes whichever is used.
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
    batch = _Batch(bytes(secret), key_version, params, source)
    n = len(records)
    keys = _record_keys(records)
    records = records.assign(**{DELIVERY: _delivery(records)})

    def in_child() -> bytes:
        """Both ids and the postcode hashes (about half of the work): 16 + 16 + 8 + 8 bytes a row."""
        postcodes = _feature_columns(batch, _column(records, "postcode"), _postcode, CHILD_COLUMNS)
        return b"".join((_id_digests(batch, records, keys, source, DELIVERY, "record_id"),
                         _id_digests(batch, records, keys, source, "school", "label_id"),
                         *(postcodes[c].astype(np.int64).tobytes() for c in CHILD_COLUMNS)))

    # that half runs on a second core (a forked child) while this process does the rest
    child = Forked(in_child, _use_fork(workers, n))
    try:
        cols = _other_columns(batch, records, link_kinds, bloom_filters)
    except BaseException:
        child.cancel()
        raise
    rows = child.result()
    cols["record_id"] = _hex_ids(rows[: 16 * n])
    cols["label_id"] = _hex_ids(rows[16 * n : 32 * n])
    for i, column in enumerate(CHILD_COLUMNS):
        cols[column] = np.frombuffer(rows, dtype=np.int64, offset=(32 + 8 * i) * n, count=n).copy()
    for column in [*BLOOM_COLUMNS, *(f"link_{name}_bf" for name in link_kinds)]:
        cols.setdefault(column, np.full(n, None, dtype=object))
    order = ["record_id", "label_id", "source", "export_file", "key_version", *HASH_COLUMNS,
             *[f"link_{name}" for name in link_kinds], "sex", *BLOOM_COLUMNS,
             *[f"link_{name}_bf" for name, kind in link_kinds.items() if kind == "string"]]
    frame = pd.DataFrame({c: cols[c] for c in order}, index=pd.RangeIndex(n), copy=False)
    frame.attrs["ttp.pseudonym"] = PSEUDONYM_SCHEME
    frame.attrs["ttp.bloom"] = params.as_metadata()
    return frame
