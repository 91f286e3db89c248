"""Merkle tree: published RFC 6962 vectors, a plain recursive reference, and corrupted proofs."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.errors import AuditError
from audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# Test vectors (data only) from transparency-dev/merkle testonly/constants.go and proof/verify_test.go,
# the same as in the Certificate Transparency reference tests.
LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f"]]
ROOTS = [bytes.fromhex(h) for h in [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]]
H = {name: bytes.fromhex(h) for name, h in {
    "l1": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "l4": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "l6": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "n01": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "n10": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "n11": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "n21": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
}.items()}
# (leaf index, tree size, proof) — the vectors' 1-based leaf numbers made 0-based
INCLUSION = [(0, 8, [H["l1"], H["n01"], H["n21"]]), (5, 8, [H["l4"], H["n11"], ROOTS[4]]),
             (2, 3, [ROOTS[2]]), (1, 5, [ROOTS[1], H["n01"], H["l4"]]), (0, 1, [])]
CONSISTENCY = [(1, 1, []), (1, 8, [H["l1"], H["n01"], H["n21"]]), (6, 8, [H["n10"], H["n11"], ROOTS[4]]),
               (2, 5, [H["n01"], H["l4"]]), (6, 7, [H["n10"], H["l6"], ROOTS[4]])]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


# --- a plain, obviously correct transcription of RFC 6962 §2.1 -------------------------------------
def ref_mth(data: list[bytes]) -> bytes:
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < len(data):
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(data[:k]) + ref_mth(data[k:])).digest()


def ref_path(m: int, data: list[bytes]) -> list[bytes]:
    if len(data) == 1:
        return []
    k = 1
    while k * 2 < len(data):
        k *= 2
    if m < k:
        return ref_path(m, data[:k]) + [ref_mth(data[k:])]
    return ref_path(m - k, data[k:]) + [ref_mth(data[:k])]


def ref_subproof(m: int, data: list[bytes], complete: bool) -> list[bytes]:
    if m == len(data):
        return [] if complete else [ref_mth(data)]
    k = 1
    while k * 2 < len(data):
        k *= 2
    if m <= k:
        return ref_subproof(m, data[:k], complete) + [ref_mth(data[k:])]
    return ref_subproof(m - k, data[k:], False) + [ref_mth(data[:k])]


def ref_proof(m: int, data: list[bytes]) -> list[bytes]:
    return [] if m in (0, len(data)) else ref_subproof(m, data, True)


def data_of(n: int) -> list[bytes]:
    return [i.to_bytes(4, "big") for i in range(n)]


# --- published vectors ------------------------------------------------------------------------------
@pytest.mark.parametrize("size", range(9))
def test_roots_match_published_vectors(size):
    hashes = [leaf_hash(d) for d in LEAVES[:size]]
    assert root(hashes) == ROOTS[size]
    assert MerkleTree(hashes).root() == ROOTS[size]
    assert MerkleTree([leaf_hash(d) for d in LEAVES]).root(size) == ROOTS[size]
    assert ref_mth(LEAVES[:size]) == ROOTS[size]


def test_empty_root_is_hash_of_empty_string():
    assert EMPTY_ROOT == ROOTS[0] == CompactRange().root()


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_inclusion_proofs_match_published_vectors(index, size, expected):
    hashes = [leaf_hash(d) for d in LEAVES[:size]]
    assert inclusion_proof(index, hashes) == expected
    assert verify_inclusion(index, size, hashes[index], expected, ROOTS[size])


@pytest.mark.parametrize(("m", "n", "expected"), CONSISTENCY)
def test_consistency_proofs_match_published_vectors(m, n, expected):
    assert consistency_proof(m, [leaf_hash(d) for d in LEAVES[:n]]) == expected
    assert verify_consistency(m, n, ROOTS[m], ROOTS[n], expected)


def inclusion_probes(index, size, proof, good_root, leaf):
    """Wrong index, size, leaf, root, and mangled proofs (after transparency-dev's corruptInclusionProof)."""
    r = good_root
    probes = [(index - 1, size, r, leaf, proof), (index + 1, size, r, leaf, proof),
              (index ^ 2, size, r, leaf, proof), (index, size * 2, r, leaf, proof),
              (index, size // 2, r, leaf, proof), (index, size, r, b"WrongLeaf", proof),
              (index, size, EMPTY_ROOT, leaf, proof), (index, size, SOME_HASH, leaf, proof),
              (index, size, r, leaf, [*proof, b""]), (index, size, r, leaf, [*proof, r]),
              (index, size, r, leaf, [b"", *proof]), (index, size, r, leaf, [r, *proof])]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, good_root, leaf, flipped))
    if proof:
        probes.append((index, size, good_root, leaf, proof[:-1]))
    if len(proof) > 1:
        probes.append((index, size, good_root, leaf, [proof[0], SOME_HASH, *proof[1:]]))
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION[:4])
def test_corrupted_inclusion_proofs_fail(index, size, proof):
    leaf = leaf_hash(LEAVES[index])
    for probe in inclusion_probes(index, size, proof, ROOTS[size], leaf):
        assert not verify_inclusion(*probe[:2], probe[3], probe[4], probe[2]), probe[:2]


@pytest.mark.parametrize(("m", "n", "proof"), CONSISTENCY[1:])
def test_corrupted_consistency_proofs_fail(m, n, proof):
    r1, r2 = ROOTS[m], ROOTS[n]
    probes = [(m - 1, n, r1, r2, proof), (m + 1, n, r1, r2, proof), (m ^ 2, n, r1, r2, proof),
              (m, n * 2, r1, r2, proof), (m, n // 2, r1, r2, proof), (m, n, b"WrongRoot", r2, proof),
              (m, n, r1, b"WrongRoot", proof), (m, n, r2, r1, proof), (m, n, r1, r2, []),
              (m, n, r1, r2, [*proof, b""]), (m, n, r1, r2, [*proof, r1]), (m, n, r1, r2, [*proof, r2]),
              (m, n, r1, r2, [b"", *proof]), (m, n, r1, r2, [r1, *proof]), (m, n, r1, r2, [r2, *proof]),
              (m, n, r1, r2, [proof[0], *proof]), (m, n, r1, r2, proof[:-1])]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((m, n, r1, r2, flipped))
    for probe in probes:
        assert not verify_consistency(*probe), probe[:2]


def test_consistency_edge_cases():
    assert verify_consistency(0, 0, ROOTS[0], ROOTS[0], [])
    assert verify_consistency(0, 5, b"anything", ROOTS[5], [])
    assert not verify_consistency(0, 5, ROOTS[0], ROOTS[5], [ROOTS[0]])
    assert not verify_consistency(1, 1, ROOTS[1], ROOTS[2], [])
    assert not verify_consistency(2, 1, ROOTS[2], ROOTS[1], [])
    assert not verify_consistency(1, 2, ROOTS[1], ROOTS[2], [])


def test_inclusion_rejects_out_of_range():
    tree = MerkleTree([leaf_hash(d) for d in LEAVES])
    with pytest.raises(AuditError):
        tree.inclusion_proof(8)
    with pytest.raises(AuditError):
        tree.root(9)
    assert not verify_inclusion(0, 0, leaf_hash(b""), [], EMPTY_ROOT)


# --- against the recursive reference, over many sizes ----------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 130), st.data())
def test_proofs_match_reference(n, draw):
    data = data_of(n)
    hashes = [leaf_hash(d) for d in data]
    tree = MerkleTree(hashes)
    size = draw.draw(st.integers(1, n))
    index = draw.draw(st.integers(0, size - 1))
    m = draw.draw(st.integers(0, size))
    assert tree.root(size) == ref_mth(data[:size])
    proof = tree.inclusion_proof(index, size)
    assert proof == ref_path(index, data[:size])
    assert verify_inclusion(index, size, hashes[index], proof, tree.root(size))
    cproof = tree.consistency_proof(m, size)
    assert cproof == ref_proof(m, data[:size])
    assert verify_consistency(m, size, tree.root(m), tree.root(size), cproof)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 70), st.data())
def test_proofs_fail_for_other_leaves_and_roots(n, draw):
    data = data_of(n)
    tree = MerkleTree(leaf_hash(d) for d in data)
    index = draw.draw(st.integers(0, n - 1))
    other = draw.draw(st.integers(0, n - 1).filter(lambda i: i != index))
    proof = tree.inclusion_proof(index)
    assert not verify_inclusion(index, n, tree.leaf(other), proof, tree.root())
    assert not verify_inclusion(other, n, tree.leaf(index), proof, tree.root())
    m = draw.draw(st.integers(1, n - 1))
    changed = list(data)
    changed[draw.draw(st.integers(0, m - 1))] += b"!"
    assert not verify_consistency(m, n, ref_mth(changed[:m]), tree.root(), tree.consistency_proof(m))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 300), st.integers(0, 300))
def test_compact_range_roots_and_state(n, extra):
    hashes = [leaf_hash(d) for d in data_of(n + extra)]
    state = CompactRange()
    state.extend(hashes[:n])
    assert state.size == n and state.root() == ref_mth(data_of(n))
    resumed = CompactRange.from_dict(state.to_dict())
    resumed.extend(hashes[n:])
    assert resumed.root() == MerkleTree(hashes).root()


def test_compact_range_rejects_bad_state():
    with pytest.raises(AuditError):
        CompactRange(3, [EMPTY_ROOT])
    with pytest.raises(AuditError):
        CompactRange.from_dict({"size": 1})
