"""verify_log: an intact log passes; every kind of tampering is caught and the first bad event named."""

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.checkpoint import sign_checkpoint, vkey
from audit.event import GENESIS, Event, leaf_bytes, to_row
from audit.merkle import MerkleTree, leaf_hash
from audit.verify import check_proof, prove, verify_against_checkpoint, verify_log
from tests.audit.conftest import KEY_NAME, ORIGIN, START, build_log, make_event

N = 23


@pytest.fixture(scope="module")
def log(key):
    return build_log(N, key)


def keys(key):
    return {KEY_NAME: key.public_key()}


def rehash(rows, start_index=0):
    """What an attacker without the signing key can do: recompute every chain hash from a row on."""
    rows = [dict(r) for r in rows]
    prev = GENESIS if start_index == 0 else bytes.fromhex(rows[start_index - 1]["hash"])
    for i in range(start_index, len(rows)):
        event = Event.from_row(rows[i])
        rows[i] = to_row(event, prev)
        prev = bytes.fromhex(rows[i]["hash"])
    return rows


def renumber(rows):
    return [{**r, "seq": i} for i, r in enumerate(rows, 1)]


def test_intact_log_verifies(log, key, other_key):
    rows, checkpoints = log
    result = verify_log(rows, checkpoints, keys(key), origin=ORIGIN)
    assert result.ok, result.problems
    assert (result.events, result.first_bad_event, result.anchored) == (N, None, N)
    assert result.root == MerkleTree(leaf_hash(leaf_bytes(r)) for r in rows).root()
    assert verify_log(rows, checkpoints, vkey(KEY_NAME, key)).ok
    assert verify_log(rows, checkpoints, [vkey("other", other_key), vkey(KEY_NAME, key)]).ok
    assert verify_log(rows, checkpoints, key.public_key()).ok
    assert not verify_log(rows, checkpoints, other_key.public_key()).ok


def test_unanchored_log_is_not_ok(log, key):
    rows, _ = log
    result = verify_log(rows, [], keys(key))
    assert not result.ok and "no validly signed checkpoint" in result.problems[0]
    assert verify_log([], [], keys(key)).ok


@pytest.mark.parametrize(("field", "value"), [("actor", "mallory"), ("counts", {"rows": 1}),
                                              ("outcome", "denied"), ("key_version", 2), ("details", {})])
def test_edited_field_is_named(log, key, field, value):
    rows, checkpoints = log
    rows = [dict(r) for r in rows]
    rows[9][field] = value
    result = verify_log(rows, checkpoints, keys(key))
    assert not result.ok and result.first_bad_event == 10
    assert any("event 10: hash does not match" in p for p in result.problems)


def test_edit_with_recomputed_chain_is_caught_by_checkpoints(log, key):
    rows, checkpoints = log
    rows = [dict(r) for r in rows]
    rows[11]["actor"] = "mallory"
    result = verify_log(rehash(rows, 11), checkpoints, keys(key))
    assert not result.ok
    assert result.first_bad_event == 11  # only bounded: the checkpoint at 10 still matches
    assert result.anchored == 10
    assert any("an event in 11..15" in p for p in result.problems)


@pytest.mark.parametrize("index", [0, 4, 12, N - 1])
def test_deleted_event_is_named(log, key, index):
    rows, checkpoints = log
    result = verify_log(rows[:index] + rows[index + 1:], checkpoints, keys(key))
    assert not result.ok and result.first_bad_event == index + 1


def test_deleted_event_with_renumbered_recomputed_log(log, key):
    rows, checkpoints = log
    result = verify_log(rehash(renumber(rows[:7] + rows[8:])), checkpoints, keys(key))
    assert not result.ok and result.first_bad_event == 6


def test_swapped_events_are_named(log, key):
    rows, checkpoints = log
    swapped = rows[:6] + [rows[7], rows[6]] + rows[8:]
    result = verify_log(swapped, checkpoints, keys(key))
    assert not result.ok and result.first_bad_event == 7
    renumbered = verify_log(rehash(renumber(swapped)), checkpoints, keys(key))
    assert not renumbered.ok and renumbered.first_bad_event == 6


def test_inserted_event_is_named(log, key):
    rows, checkpoints = log
    forged = to_row(make_event(13), bytes.fromhex(rows[11]["hash"]))
    result = verify_log(rows[:12] + [forged] + rows[12:], checkpoints, keys(key))
    assert not result.ok and result.first_bad_event == 13
    shifted = verify_log(rehash(renumber(rows[:12] + [forged] + rows[12:])), checkpoints, keys(key))
    assert not shifted.ok and shifted.first_bad_event == 11


def test_truncated_tail_with_its_checkpoint_is_caught_by_the_outside_file(log, key):
    rows, checkpoints = log
    database = [c for c in checkpoints if int(c.split("\n")[1]) <= 15]
    outside = checkpoints  # the copy kept outside the database still has sizes 20 and 23
    assert verify_log(rows[:15], database, keys(key)).ok  # the database alone cannot tell
    result = verify_log(rows[:15], database + outside, keys(key))
    assert not result.ok and result.first_bad_event == 16
    assert any("events 16..20 were removed" in p for p in result.problems)


def test_replaced_checkpoint_is_refused(log, key, other_key):
    rows, checkpoints = log
    tree = MerkleTree(leaf_hash(leaf_bytes(r)) for r in rows)
    replaced = sign_checkpoint(ORIGIN, 10, tree.root(10), START, other_key, KEY_NAME)
    result = verify_log(rows, [*checkpoints[:1], replaced, *checkpoints[2:]], keys(key))
    assert not result.ok
    assert any("checkpoint 2: note is not signed by a trusted key" in p for p in result.problems)


def test_forged_signature_is_refused(log, key):
    rows, checkpoints = log
    body, sig = checkpoints[1].rsplit(" ", 1)
    blob = bytearray(base64.b64decode(sig))
    blob[10] ^= 0x40
    result = verify_log(rows, [*checkpoints[:1], body + " " + base64.b64encode(blob).decode() + "\n"],
                        keys(key))
    assert not result.ok and any("checkpoint 2" in p and "invalid" in p for p in result.problems)


def test_checkpoint_with_the_key_for_a_rewritten_log_is_a_fork(log, key):
    """Someone with the key rewrote event 3 and signed new checkpoints; the outside copy exposes it."""
    rows, checkpoints = log
    rewritten = [dict(r) for r in rows]
    rewritten[2]["outcome"] = "denied"
    rewritten = rehash(rewritten, 2)
    tree = MerkleTree(leaf_hash(leaf_bytes(r)) for r in rewritten)
    resigned = [sign_checkpoint(ORIGIN, s, tree.root(s), START, key, KEY_NAME) for s in (12, N)]
    assert verify_log(rewritten, resigned, keys(key)).ok
    result = verify_log(rewritten, resigned + checkpoints, keys(key))
    assert not result.ok and result.first_bad_event == 1
    assert any(f"signed for size {N} but differ (forked log)" in p for p in result.problems)
    assert any("(size 5) is not consistent with checkpoint 1 (size 12)" in p for p in result.problems)


def test_wrong_origin_is_reported(log, key):
    rows, checkpoints = log
    result = verify_log(rows, checkpoints, keys(key), origin="other.log")
    assert not result.ok and "not 'other.log'" in result.problems[0]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, N - 1), st.sampled_from(["edit", "delete", "duplicate"]))
def test_any_single_tampering_names_its_event(log, key, index, kind):
    rows, checkpoints = log
    rows = [dict(r) for r in rows]
    if kind == "edit":
        rows[index]["action"] = "tampered"
    elif kind == "delete":
        del rows[index]
    else:
        rows.insert(index, dict(rows[index]))
    result = verify_log(rows, checkpoints, keys(key))
    assert not result.ok and result.first_bad_event == index + 1


def test_witness_with_an_earlier_checkpoint(log, key):
    rows, checkpoints = log
    kept = checkpoints[1]  # size 10
    assert verify_against_checkpoint(rows, kept, key.public_key()).ok
    assert verify_against_checkpoint(rows, kept, vkey(KEY_NAME, key)).ok
    assert verify_against_checkpoint(rows[:10], kept, key.public_key(), KEY_NAME).ok
    shrunk = verify_against_checkpoint(rows[:9], kept, key.public_key())
    assert not shrunk.ok and shrunk.first_bad_event == 10
    changed = [dict(r) for r in rows]
    changed[4]["role"] = "admin"
    result = verify_against_checkpoint(rehash(changed, 4), kept, key.public_key())
    assert not result.ok and result.first_bad_event == 1


def test_prove_is_json_and_checks(log):
    rows, _ = log
    hashes = [leaf_hash(leaf_bytes(r)) for r in rows]
    proof = prove(6, hashes)
    assert proof["seq"] == 7 and proof["tree_size"] == N and check_proof(proof)
    assert check_proof(prove(6, hashes, size=10), MerkleTree(hashes).root(10))
    assert not check_proof({**proof, "index": 5})
    assert not check_proof(proof, MerkleTree(hashes).root(10))
