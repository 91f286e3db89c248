"""RFC 6962 / RFC 9162 Merkle tree: hashes, roots, inclusion and consistency proofs, incremental state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import sha256

from audit.errors import AuditError

EMPTY_ROOT = sha256(b"").digest()
"""The root of the empty tree (RFC 6962: the hash of the empty string)."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ data)."""
    return sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): the size of the left subtree."""
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The perfect subtrees covering leaves [0, size): O(log n) state, amortised O(1) per appended leaf."""

    __slots__ = ("size", "_hashes")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != size.bit_count():
            raise AuditError("compact range: the number of hashes does not match the size")
        self.size = size
        self._hashes = list(hashes)

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf (its RFC 6962 leaf hash), merging equal-sized subtrees."""
        hashes = self._hashes
        hashes.append(leaf_hash)
        s = self.size
        while s & 1:
            right = hashes.pop()
            hashes[-1] = node_hash(hashes[-1], right)
            s >>= 1
        self.size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        """The RFC 6962 root of the leaves so far: O(log n)."""
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        r = hashes[-1]
        for h in reversed(hashes[:-1]):
            r = node_hash(h, r)
        return r

    @property
    def hashes(self) -> list[bytes]:
        """The subtree hashes, largest (leftmost) first."""
        return list(self._hashes)

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self._hashes)

    def to_dict(self) -> dict:
        """JSON-able state, so a log can persist it and keep appending without rereading all leaves."""
        return {"size": self.size, "hashes": [h.hex() for h in self._hashes]}

    @classmethod
    def from_dict(cls, state: dict) -> CompactRange:
        try:
            return cls(int(state["size"]), [bytes.fromhex(h) for h in state["hashes"]])
        except (KeyError, TypeError, ValueError):
            raise AuditError("compact range: malformed state") from None


class MerkleTree:
    """All perfect subtree hashes of a growing tree: O(n) memory; roots and proofs for any earlier size."""

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf_hash: bytes) -> None:
        levels = self._levels
        row = levels[0]
        row.append(leaf_hash)
        i, level = len(row) - 1, 0
        while i & 1:
            if level + 1 == len(levels):
                levels.append([])
            below = levels[level]
            levels[level + 1].append(node_hash(below[i - 1], below[i]))
            i >>= 1
            level += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for h in leaf_hashes:
            self.append(h)

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def _mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for the aligned ranges the RFC 6962 recursion visits: O(log n)."""
        n = hi - lo
        if n & (n - 1) == 0:
            level = n.bit_length() - 1
            return self._levels[level][lo >> level]
        k = _split(n)
        return node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))

    def _size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise AuditError(f"tree size {size} is outside 0..{self.size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """The root of the first `size` leaves (default: all)."""
        size = self._size(size)
        return EMPTY_ROOT if size == 0 else self._mth(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 PATH(index, D[0:size])."""
        size = self._size(size)
        if not 0 <= index < size:
            raise AuditError(f"leaf index {index} is outside a tree of size {size}")
        proof: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                proof.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._mth(lo, lo + k))
                lo += k
        proof.reverse()
        return proof

    def consistency_proof(self, m: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 PROOF(m, D[0:size]); empty when m is 0 or equals the size."""
        n = self._size(size)
        if not 0 <= m <= n:
            raise AuditError(f"consistency proof: size {m} is outside 0..{n}")
        if m in (0, n):
            return []
        proof: list[bytes] = []
        lo, hi, complete = 0, n, True
        while m != hi - lo:
            k = _split(hi - lo)
            if m <= k:
                proof.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._mth(lo, lo + k))
                m -= k
                lo += k
                complete = False
        if not complete:
            proof.append(self._mth(lo, hi))
        proof.reverse()
        return proof


def root(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH of the given leaf hashes, in O(n) time and O(log n) memory."""
    state = CompactRange()
    state.extend(leaf_hashes)
    return state.root()


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf `index` in the tree of all `leaf_hashes`."""
    return MerkleTree(leaf_hashes).inclusion_proof(index)


def consistency_proof(m: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The proof that the tree of the first m leaves is a prefix of the tree of all `leaf_hashes`."""
    return MerkleTree(leaf_hashes).consistency_proof(m)


def _ok_hashes(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes | bytearray) and len(h) == 32 for h in hashes)


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes,
                              proof: Sequence[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root implied by a proof, or None when the proof has the wrong shape."""
    if not 0 <= index < size or not _ok_hashes(leaf_hash, *proof):
        return None
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """True when `proof` shows leaf `index` with `leaf_hash` is in the tree of `size` leaves with `root`."""
    return root_from_inclusion_proof(index, size, leaf_hash, proof) == root


def verify_consistency(m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: True when the tree (m, root_m) is a prefix of the tree (n, root_n)."""
    if not 0 <= m <= n or not _ok_hashes(*proof):
        return False
    if m == n:
        return not proof and root_m == root_n
    if m == 0:
        return not proof
    if not proof or not _ok_hashes(root_m, root_n):
        return False
    path = list(proof)
    if m & (m - 1) == 0:
        path.insert(0, root_m)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root_m and sr == root_n
