"""Keyed, diffused Bloom filters over name bigrams, and Dice similarity over arrays of filter pairs.

Encoding of one normalised string (docs/privacy.md gives the threat model and the numbers):

1. q-grams: bigrams of the string padded with one `_` on each side ("jan" → _j ja an n_), as a set.
2. Keyed positions: each bigram sets `hashes` bits, at positions taken from HMAC-SHA256(position key,
   counter | bigram) (independent keyed positions per bigram, not double hashing, so the positions of one
   bigram carry no arithmetic pattern).
3. Linear diffusion (Armknecht, Heng & Schnell, PoPETs 2023): output bit j is the XOR of the `diffusion`
   input bits in row j of a secret index matrix drawn from the diffusion key (AES-CTR keystream); no bit of
   the output belongs to one bigram, which breaks the bigram ↔ bit-pattern mapping that pattern-mining
   and frequency attacks on plain Bloom filters exploit.

Both keys come from the field's Bloom key by HKDF, so filters of different fields or keys never compare.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from keys.derive import subkey

SCHEME = "bigram-hmac-positions+linear-diffusion/v1"


@dataclass(frozen=True)
class BloomParams:
    """The encoding parameters; stored in the feature file's metadata."""

    length: int = 1024  # bits per filter (a power of two, at most 65536)
    hashes: int = 10  # bits set per bigram before diffusion
    q: int = 2
    diffusion: int = 4  # input bits XOR-ed into each output bit
    padding: str = "_"
    scheme: str = SCHEME

    def __post_init__(self) -> None:
        if self.length & (self.length - 1) or not 64 <= self.length <= 65536:
            raise ValueError("Bloom filter length must be a power of two between 64 and 65536")
        if not (1 <= self.hashes <= 64 and 1 <= self.diffusion <= 16 and self.q >= 1):
            raise ValueError("Bloom filter parameters out of range")

    @property
    def nbytes(self) -> int:
        return self.length // 8

    def as_metadata(self) -> dict[str, object]:
        return asdict(self)


def qgrams(text: str, q: int = 2, padding: str = "_") -> set[str]:
    """The set of padded q-grams of a string (empty for an empty string)."""
    if not text:
        return set()
    padded = padding * (q - 1) + text + padding * (q - 1)
    return {padded[i : i + q] for i in range(len(padded) - q + 1)}


class BloomEncoder:
    """Encodes strings of one field under one key; caches bigram positions (few thousand distinct)."""

    def __init__(self, key: bytes, params: BloomParams | None = None) -> None:
        self.params = params or BloomParams()
        self._position_key = subkey(key, "ttp/bloom/positions/v1")
        self._positions: dict[str, np.ndarray] = {}
        self.diffusion_rows = _diffusion_matrix(subkey(key, "ttp/bloom/diffusion/v1"), self.params)
        # how many output bits each input bit feeds: the bound in `dice_lower_bound` uses the largest
        self.column_weights = np.bincount(self.diffusion_rows.ravel(), minlength=self.params.length)

    def positions(self, gram: str) -> np.ndarray:
        """The keyed bit positions of one q-gram (before diffusion)."""
        found = self._positions.get(gram)
        if found is None:
            p = self.params
            need, stream, counter = p.hashes * 2, b"", 0
            while len(stream) < need:
                msg = counter.to_bytes(4, "big") + gram.encode("utf-8")
                stream += hmac.digest(self._position_key, msg, hashlib.sha256)
                counter += 1
            found = np.frombuffer(stream[:need], dtype="<u2").astype(np.int64) & (p.length - 1)
            self._positions[gram] = found
        return found

    def input_bits(self, texts: Sequence[str]) -> np.ndarray:
        """Plain keyed Bloom filters (before diffusion) as a bool matrix, one row per text."""
        matrix = np.zeros((len(texts), self.params.length), dtype=bool)
        rows, positions = self._set_bits(texts)
        matrix[rows, positions] = True
        return matrix

    def _set_bits(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(text index, bit position) of every bit the texts' q-grams set, each distinct q-gram hashed once."""
        p = self.params
        gram_ids: dict[str, int] = {}
        rows: list[int] = []
        grams: list[int] = []
        for i, text in enumerate(texts):
            for gram in qgrams(text, p.q, p.padding):
                grams.append(gram_ids.setdefault(gram, len(gram_ids)))
                rows.append(i)
        if not grams:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        table = np.stack([self.positions(g) for g in gram_ids])  # distinct q-grams × hashes
        return np.repeat(np.array(rows), p.hashes), table[np.array(grams)].ravel()

    def diffuse(self, bits: np.ndarray) -> np.ndarray:
        """The linear diffusion layer: output bit j = XOR of input bits diffusion_rows[j, :]."""
        out = bits[:, self.diffusion_rows[:, 0]].copy()
        for s in range(1, self.diffusion_rows.shape[1]):
            out ^= bits[:, self.diffusion_rows[:, s]]
        return out

    def encode_bits(self, texts: Sequence[str]) -> np.ndarray:
        """Diffused filters as a bool matrix."""
        return self.diffuse(self.input_bits(texts))

    def encode(self, texts: Sequence[str | None]) -> list[bytes | None]:
        """Diffused filters as `bytes` of `params.nbytes` each; None (and "") stay None."""
        present = [(i, t) for i, t in enumerate(texts) if t]
        out: list[bytes | None] = [None] * len(texts)
        for start in range(0, len(present), 8192):  # bounded memory for many distinct values
            chunk = present[start : start + 8192]
            packed = self._encode_packed([t for _, t in chunk])
            for (i, _), row in zip(chunk, packed, strict=True):
                out[i] = row.tobytes()
        return out

    def _encode_packed(self, texts: Sequence[str]) -> np.ndarray:
        """`packbits(encode_bits(texts), axis=1, bitorder="little")`, computed bit-position-major.

        With one row per bit position and one column per text, the diffusion gathers whole contiguous
        rows instead of scattered columns, and packing along positions gives each filter's bytes.
        """
        p = self.params
        bits = np.zeros((p.length, len(texts)), dtype=bool)
        rows, positions = self._set_bits(texts)
        bits[positions, rows] = True
        out = bits[self.diffusion_rows[:, 0]]
        for s in range(1, self.diffusion_rows.shape[1]):
            out ^= bits[self.diffusion_rows[:, s]]
        return np.ascontiguousarray(np.packbits(out, axis=0, bitorder="little").T)


def _diffusion_matrix(key: bytes, params: BloomParams) -> np.ndarray:
    """length × diffusion distinct input positions per output bit, from an AES-256-CTR keystream."""
    m, t = params.length, params.diffusion
    encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    rows = np.empty((m, t), dtype=np.int64)
    pool = np.frombuffer(encryptor.update(bytes(4 * m * t)), dtype="<u2").astype(np.int64) & (m - 1)
    cursor = 0
    for j in range(m):
        chosen: list[int] = []
        while len(chosen) < t:
            if cursor == len(pool):
                fresh = encryptor.update(bytes(2 * m * t))
                pool = np.frombuffer(fresh, dtype="<u2").astype(np.int64) & (m - 1)
                cursor = 0
            candidate = int(pool[cursor])
            cursor += 1
            if candidate not in chosen:
                chosen.append(candidate)
        rows[j] = chosen
    return rows


def as_matrix(filters: Sequence[bytes | None]) -> tuple[np.ndarray, np.ndarray]:
    """Filters as an n × nbytes uint8 matrix (missing rows zero) and a bool mask of present rows."""
    lengths = {len(f) for f in filters if isinstance(f, bytes | bytearray)}
    if len(lengths) > 1:
        raise ValueError("Bloom filters of different lengths")
    width = lengths.pop() if lengths else 0
    empty = bytes(width)
    present = np.fromiter((isinstance(f, bytes | bytearray) for f in filters), dtype=bool, count=len(filters))
    joined = b"".join(bytes(f) if isinstance(f, bytes | bytearray) else empty for f in filters)
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(filters), width), present


def popcount(matrix: np.ndarray) -> np.ndarray:
    """Set bits per row of a uint8 (or any unsigned integer) matrix."""
    return np.bitwise_count(matrix).sum(axis=1, dtype=np.int64)


def dice(a_bits: np.ndarray, b_bits: np.ndarray) -> np.ndarray:
    """Row-wise Dice 2|a∧b| / (|a|+|b|) of two equally shaped filter matrices; NaN when both are empty."""
    a_bits, b_bits = np.atleast_2d(a_bits), np.atleast_2d(b_bits)
    if a_bits.dtype == bool:
        a_bits = np.packbits(a_bits, axis=1)
    if b_bits.dtype == bool:
        b_bits = np.packbits(b_bits, axis=1)
    both = popcount(a_bits & b_bits)
    total = popcount(a_bits) + popcount(b_bits)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2.0 * both / np.maximum(total, 1), np.nan)


def dice_pairs(matrix: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Dice of the filter pairs (matrix[left[i]], matrix[right[i]]), processed in blocks to bound memory."""
    out = np.empty(len(left), dtype=np.float64)
    for start in range(0, len(left), 1 << 16):
        sl = slice(start, start + (1 << 16))
        out[sl] = dice(matrix[left[sl]], matrix[right[sl]])
    return out


def dice_lower_bound(encoder: BloomEncoder, a: str, b: str) -> float:
    """A proven lower bound on the Dice of the diffused filters of a and b.

    If D is the set of input bits where the plain filters differ, the diffused filters can only differ in
    output bits whose row touches D, so |a' Δ b'| ≤ Σ_{i∈D} w_i (w = column weights) and
    Dice = 1 − |a' Δ b'| / (|a'| + |b'|) ≥ 1 − Σ_{i∈D} w_i / (|a'| + |b'|). D is at most `hashes` bits per
    q-gram in the symmetric difference of the q-gram sets: at most 4 q-grams for one substitution (bigrams).
    """
    plain = encoder.input_bits([a, b])
    changed = plain[0] ^ plain[1]
    out = encoder.diffuse(plain)
    total = int(out[0].sum() + out[1].sum())
    if total == 0:
        return float("nan")
    return 1.0 - float(encoder.column_weights[changed].sum()) / total
