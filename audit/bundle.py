"""Export bundle: events, their inclusion proofs and a signed checkpoint, checkable offline."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from audit.checkpoint import PublicKeyLike, parse_checkpoint, verify_checkpoint
from audit.errors import AuditError
from audit.event import GENESIS, Event, chain_from_leaf_hash, leaf_bytes
from audit.findings import Findings
from audit.merkle import MerkleTree, leaf_hash, verify_inclusion
from audit.verify import Verification

FORMAT = "ttp-audit-bundle/v1"


def export_bundle(events: Iterable[Mapping[str, Any]], checkpoint: str,
                  select: Callable[[Mapping[str, Any]], bool] | None = None) -> dict[str, Any]:
    """A JSON-able bundle of stored rows 1..checkpoint size (or those `select` keeps), each with its proof.

    `events` must be the whole log in seq order (the proofs need every leaf); the checkpoint must match it.
    """
    cp = parse_checkpoint(checkpoint)
    tree = MerkleTree()
    rows: list[Mapping[str, Any]] = []
    for row in events:
        if tree.size == cp.size:
            break
        rows.append(row)
        tree.append(leaf_hash(leaf_bytes(row)))
    if tree.size < cp.size or tree.root(cp.size) != cp.root:
        raise AuditError(f"checkpoint (size {cp.size}) does not match the log; verify the log first")
    entries = []
    for index, row in enumerate(rows):
        if select is not None and not select(row):
            continue
        entries.append({"event": Event.from_row(row).to_dict(), "prev_hash": _hex(row.get("prev_hash")),
                        "hash": _hex(row.get("hash")),
                        "proof": [h.hex() for h in tree.inclusion_proof(index, cp.size)]})
    return {"format": FORMAT, "origin": cp.origin, "tree_size": cp.size, "root": cp.root.hex(),
            "checkpoint": checkpoint, "events": entries}


def _hex(value: Any) -> str | None:
    return bytes(value).hex() if isinstance(value, bytes | bytearray | memoryview) else value


def verify_bundle(bundle: Mapping[str, Any], public_key: PublicKeyLike,
                  key_name: str | None = None) -> Verification:
    """Check the checkpoint signature, each event's inclusion proof and the chain between adjacent events."""
    findings = Findings()
    if bundle.get("format") != FORMAT:
        return Verification(False, 0, None, [f"not a {FORMAT} bundle"])
    try:
        cp = verify_checkpoint(bundle["checkpoint"], public_key, key_name)
    except (AuditError, KeyError, TypeError) as error:
        return Verification(False, 0, None, [f"checkpoint: {error}"])
    if bundle.get("tree_size") != cp.size or bundle.get("root") != cp.root.hex():
        findings.add("bundle header does not match its signed checkpoint")
    entries = bundle.get("events") or []
    last: tuple[int, bytes | None] | None = None
    for number, entry in enumerate(entries, 1):
        try:
            seq = int(entry["event"]["seq"])
            lh = leaf_hash(leaf_bytes(entry["event"]))
            proof = [bytes.fromhex(h) for h in entry["proof"]]
            prev, stored = _bytes(entry.get("prev_hash")), _bytes(entry.get("hash"))
        except (AuditError, KeyError, TypeError, ValueError) as error:
            findings.add(f"bundle entry {number}: malformed ({error})", None)
            continue
        if not verify_inclusion(seq - 1, cp.size, lh, proof, cp.root):
            findings.add(f"event {seq}: not included in the signed tree (changed, moved or forged)", seq)
        chained = prev is not None and len(prev) == 32 and chain_from_leaf_hash(prev, lh) == stored
        if stored is not None and not chained:
            findings.add(f"event {seq}: hash does not match its contents", seq)
        if seq == 1 and prev is not None and prev != GENESIS:
            findings.add("event 1: prev_hash is not the genesis hash", 1)
        if last is not None and last[0] + 1 == seq and prev != last[1]:
            findings.add(f"event {seq}: prev_hash is not the hash of event {seq - 1}", seq)
        last = (seq, stored)
    return Verification(findings.ok, len(entries), findings.first_bad, findings.listed(),
                        anchored=cp.size if findings.ok else 0, root=cp.root, checkpoints=[cp])


def _bytes(value: Any) -> bytes | None:
    return bytes.fromhex(value) if isinstance(value, str) else None
