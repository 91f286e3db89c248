"""The TTP's own keyed layer over features a supplier made: a supplier cannot recompute what the TTP stores.

A supplier's features are keyed with the suppliers' shared secret (`make_features`). On arrival the TTP
replaces every keyed hash h of domain d by the first 8 bytes of HMAC-SHA256(K, "supplier-layer|d|v|" + h as 8
big-endian bytes), and every record / label id by HMAC of its hex, with K derived from the TTP's linkage key
version v. Columns of one domain stay comparable (equal in, equal out); 0 (missing) stays 0.

Bloom filters cannot be re-keyed: a keyed hash of a filter would destroy the similarity they carry. What the
TTP can do without losing any Dice value is permute the bits with a key of its own (the same permutation for
every filter of a domain). That stops a supplier from looking its own filters up in the TTP's store, but
it is no more than that: anyone holding a few filters of the same names before and after can recover the
permutation. The protection of the filters is their hardening (`linkage.bloom`) and the secret (docs/privacy.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from keys.derive import subkey
from linkage.pseudonymise import DOMAINS, HASH_COLUMNS, KeyedHasher, PseudonymError, _hex16, _int64

LAYER_SCHEME = "supplier-hmac-sha256/v1+ttp-hmac-sha256/v1"
ID_COLUMNS = ("record_id", "label_id")


def rekey_features(features: pd.DataFrame, secret: bytes, key_version: int) -> pd.DataFrame:
    """The features with the TTP's layer applied (a new frame; the Bloom filters permuted, not re-keyed)."""
    if not isinstance(secret, bytes | bytearray) or len(secret) != 32:
        raise PseudonymError("the linkage key must be 32 bytes")
    hasher = KeyedHasher(subkey(bytes(secret), "ttp/linkage/supplier-layer/v1"))
    out = features.copy()
    hashed = [c for c in features.columns if c in HASH_COLUMNS or (c.startswith("link_") and not c.endswith("_bf"))]
    for column in hashed:
        domain = DOMAINS.get(column, column)
        out[column] = _rehash(hasher, f"supplier-layer|{domain}|{key_version}|",
                              features[column].to_numpy(dtype=np.int64))
    for column in ID_COLUMNS:
        if column in features.columns:
            out[column] = _rehash_ids(hasher, column, key_version, features[column])
    for column in [c for c in features.columns if c.endswith("_bf")]:
        domain = DOMAINS.get(column, column.removesuffix("_bf"))
        out[column] = permute_filters(features[column].tolist(),
                                      subkey(bytes(secret), f"ttp/linkage/bloom-permutation/{domain}/v{key_version}"))
    out["key_version"] = np.full(len(out), key_version, dtype=np.int64)
    out.attrs = dict(features.attrs)
    out.attrs["ttp.pseudonym"] = LAYER_SCHEME
    return out


def rekey_ids(ids: pd.Series, secret: bytes, key_version: int, column: str = "record_id") -> np.ndarray:
    """Record (or label) ids under the TTP's layer, as `rekey_features` turns them (for the payload's ids)."""
    return _rehash_ids(KeyedHasher(subkey(bytes(secret), "ttp/linkage/supplier-layer/v1")), column, key_version, ids)


def _rehash_ids(hasher: KeyedHasher, column: str, key_version: int, ids: pd.Series) -> np.ndarray:
    """One HMAC per row: ids are (nearly) unique, so finding the distinct ones would cost more than it saves."""
    values = ids.astype(str).tolist()
    if not values:
        return np.empty(0, dtype=object)
    inner = hasher.prefixed(f"supplier-layer|{column}|{key_version}|".encode())
    return _hex16(hasher.digest_matrix(inner, map(str.encode, values)))


def _rehash(hasher: KeyedHasher, prefix: str, values: np.ndarray) -> np.ndarray:
    """HMAC of each distinct non-zero int64 (as 8 big-endian bytes), mapped back to rows; 0 stays 0."""
    codes, distinct = pd.factorize(values)
    present = distinct != 0
    keyed = np.zeros(len(distinct), dtype=np.int64)
    if present.any():
        raw = distinct[present].astype(">i8").tobytes()
        messages = [raw[i : i + 8] for i in range(0, len(raw), 8)]
        keyed[present] = _int64(hasher.digest_matrix(hasher.prefixed(prefix.encode()), messages))
    return keyed[codes]


def permutation(key: bytes, length: int) -> np.ndarray:
    """A keyed permutation of `length` bit positions (Fisher–Yates over an AES-256-CTR keystream)."""
    stream = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(8 * length))
    draws = np.frombuffer(stream, dtype="<u8")
    order = np.arange(length, dtype=np.int64)
    for i in range(length - 1, 0, -1):
        j = int(draws[i] % np.uint64(i + 1))
        order[i], order[j] = order[j], order[i]
    return order


def permute_filters(filters: list[bytes | None], key: bytes) -> np.ndarray:
    """The same keyed bit permutation applied to every filter (Dice between any two filters is unchanged)."""
    codes, distinct = pd.factorize(pd.Series(filters, dtype=object))  # None → code -1
    out = np.full(len(filters), None, dtype=object)
    if not len(distinct):
        return out
    widths = {len(f) for f in distinct}
    if len(widths) > 1:
        raise PseudonymError("Bloom filters of different lengths")
    width = widths.pop()
    matrix = np.frombuffer(b"".join(distinct), dtype=np.uint8).reshape(len(distinct), width)
    bits = np.unpackbits(matrix, axis=1, bitorder="little")[:, permutation(key, width * 8)]
    packed = np.packbits(bits, axis=1, bitorder="little")
    table = np.empty(len(distinct) + 1, dtype=object)
    table[:-1] = [row.tobytes() for row in packed]
    table[-1] = None
    return table.take(codes)
