"""Export bundles: they verify offline with only the public key, and any change to them is caught."""

import json

import pytest

from audit.bundle import export_bundle, verify_bundle
from audit.checkpoint import vkey
from audit.errors import AuditError
from tests.audit.conftest import KEY_NAME, build_log


@pytest.fixture(scope="module")
def bundle(key):
    rows, checkpoints = build_log(12, key, every=4)
    return json.loads(json.dumps(export_bundle(rows, checkpoints[-1])))  # as it would travel


def test_bundle_verifies_offline(bundle, key):
    result = verify_bundle(bundle, vkey(KEY_NAME, key))
    assert result.ok, result.problems
    assert result.events == 12 and bundle["tree_size"] == 12


def test_subset_bundle_verifies(key):
    rows, checkpoints = build_log(12, key, every=4)
    subset = export_bundle(rows, checkpoints[-1], select=lambda row: row["seq"] in (3, 7, 8))
    assert [e["event"]["seq"] for e in subset["events"]] == [3, 7, 8]
    assert verify_bundle(subset, key.public_key(), KEY_NAME).ok


def test_bundle_up_to_an_earlier_checkpoint(key):
    rows, checkpoints = build_log(12, key, every=4)
    early = export_bundle(rows, checkpoints[0])
    assert early["tree_size"] == 4 and len(early["events"]) == 4
    assert verify_bundle(early, key.public_key()).ok


@pytest.mark.parametrize("tamper", ["edit", "swap", "drop_proof_node", "wrong_seq", "chain"])
def test_tampered_bundle_is_caught(bundle, key, tamper):
    bad = json.loads(json.dumps(bundle))
    events = bad["events"]
    if tamper == "edit":
        events[5]["event"]["actor"] = "mallory"
    elif tamper == "swap":
        events[5]["event"], events[6]["event"] = events[6]["event"], events[5]["event"]
    elif tamper == "drop_proof_node":
        events[5]["proof"].pop()
    elif tamper == "wrong_seq":
        events[5]["event"]["seq"] = 7
    else:
        events[5]["prev_hash"] = events[3]["hash"]
    result = verify_bundle(bad, key.public_key())
    assert not result.ok and result.first_bad_event in (6, 7)


def test_bundle_with_other_key_or_forged_checkpoint_fails(bundle, key, other_key):
    assert not verify_bundle(bundle, other_key.public_key(), KEY_NAME).ok
    forged = {**bundle, "checkpoint": bundle["checkpoint"].replace("\n12\n", "\n11\n")}
    result = verify_bundle(forged, key.public_key())
    assert not result.ok and "invalid" in result.problems[0]


def test_export_refuses_a_checkpoint_that_does_not_match(key, other_key):
    rows, checkpoints = build_log(8, key, every=4)
    with pytest.raises(AuditError):
        export_bundle(rows[:6], checkpoints[-1])
    changed = [dict(r) for r in rows]
    changed[1]["action"] = "other"
    with pytest.raises(AuditError):
        export_bundle(changed, checkpoints[-1])
