"""Verify a stored log: the hash chain, the Merkle tree, and every signed checkpoint against both."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from audit.checkpoint import Checkpoint, PublicKeyLike, load_public_key, parse_vkey, verify_checkpoint
from audit.errors import AuditError
from audit.event import GENESIS, chain_from_leaf_hash, stored_leaf_bytes
from audit.findings import Findings
from audit.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion

LOOKBACK = 1024


@dataclass
class Verification:
    """The outcome of a verification; `first_bad_event` is the lowest sequence number found wrong."""

    ok: bool
    events: int
    first_bad_event: int | None
    problems: list[str]
    anchored: int = 0
    """Events 1..anchored are covered by a valid checkpoint that matches the recomputed tree."""
    root: bytes = b""
    """The recomputed root of all events."""
    checkpoints: list[Checkpoint] = field(default_factory=list)
    """The checkpoints whose signature verified."""

    @property
    def unanchored(self) -> int:
        """Events after the last checkpoint that matches: nothing on this machine vouches for them. A tail
        rewritten together with the checkpoints that covered it looks just like this; only a checkpoint
        kept elsewhere (a witness's) tells the two apart."""
        return self.events - self.anchored

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "first_bad_event": self.first_bad_event,
                "problems": list(self.problems), "anchored": self.anchored, "unanchored": self.unanchored,
                "root": self.root.hex(),
                "checkpoints": [{"origin": c.origin, "size": c.size, "root": c.root.hex(), "time": c.time,
                                 "signer": c.signers[0] if c.signers else None} for c in self.checkpoints]}


KeysLike = Mapping[str, PublicKeyLike] | PublicKeyLike | list[str] | tuple[str, ...]


def trusted_keys(public_keys: KeysLike) -> dict[str, Any] | Any:
    """{key name: public key} from a mapping or vkey string(s); a bare key (object, PEM, raw) stays one key,
    and is then trusted under whatever key name a signature line gives (the key ID still binds the two)."""
    if isinstance(public_keys, Mapping):
        return {name: load_public_key(key) for name, key in public_keys.items()}
    if isinstance(public_keys, str) and not public_keys.lstrip().startswith("-----"):
        return dict([parse_vkey(public_keys)])
    if isinstance(public_keys, list | tuple):
        return dict(parse_vkey(text) for text in public_keys)
    return load_public_key(public_keys)


def _as_hash(value: Any) -> bytes | None:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            return None
    return None


def _replay(events: Iterable[Mapping[str, Any]], findings: Findings) -> MerkleTree:
    """Walk the rows in order, checking sequence numbers and the chain; returns the tree of their leaves."""
    tree = MerkleTree()
    prev = GENESIS
    expected = 1
    recent, window = {GENESIS: 0}, deque([GENESIS])  # recent chain hashes → position, to spot insertions
    for position, row in enumerate(events, 1):
        seq = row.get("seq")
        if seq != expected:
            if isinstance(seq, int) and not isinstance(seq, bool) and seq > expected:
                gap = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
                findings.add(f"event {gap} missing: row {position} has seq {seq} (deleted or reordered)",
                             position)
            else:
                findings.add(f"row {position} has seq {seq!r}, expected {expected} (reordered or inserted)",
                             position)
        expected = seq + 1 if isinstance(seq, int) and not isinstance(seq, bool) else expected + 1
        try:
            leaf = stored_leaf_bytes(row)
        except AuditError as error:
            findings.add(f"event {position}: {error}", position)
            leaf = repr(sorted(row.items(), key=str)).encode()  # still a leaf, so later sizes line up
        lh = leaf_hash(leaf)
        tree.append(lh)
        stored_prev, stored_hash = _as_hash(row.get("prev_hash")), _as_hash(row.get("hash"))
        if stored_prev != prev:
            follows = recent.get(stored_prev) if stored_prev is not None else None
            if follows is not None and follows < position - 1:
                findings.add(f"event {position}: chained to event {follows}, so rows {follows + 1}.."
                             f"{position - 1} were inserted or moved", follows + 1)
            else:
                findings.add(f"event {position}: prev_hash is not the hash of the event before it "
                             "(an event was removed, inserted or reordered here)", position)
        if stored_prev is None or len(stored_prev) != 32 or stored_hash != chain_from_leaf_hash(stored_prev, lh):
            findings.add(f"event {position}: hash does not match its contents (the event was changed)",
                         position)
        # continue from the stored hash so one damaged event is reported once, not for every later event
        prev = stored_hash if stored_hash is not None else chain_from_leaf_hash(prev, lh)
        recent[prev] = position
        window.append(prev)
        if len(window) > LOOKBACK:
            recent.pop(window.popleft(), None)
    return tree


def _check_checkpoints(tree: MerkleTree, valid: list[tuple[str, Checkpoint]], findings: Findings,
                       origin: str | None) -> int:
    """Each checkpoint against the recomputed tree and against the next larger one; returns `anchored`."""
    n = tree.size
    agrees = {id(cp): cp.size <= n and tree.root(cp.size) == cp.root for _, cp in valid}
    disputed = {cp.size for _, cp in valid if not agrees[id(cp)]}
    matching = sorted({cp.size for _, cp in valid if agrees[id(cp)]} - disputed)
    anchored = matching[-1] if matching else 0
    for label, cp in valid:
        if origin is not None and cp.origin != origin:
            findings.add(f"{label} is for log '{cp.origin}', not '{origin}'")
        if cp.size > n:
            gone = f"event {n + 1} was" if cp.size == n + 1 else f"events {n + 1}..{cp.size} were"
            findings.add(f"{label} covers {cp.size} events but the log has {n}: {gone} removed", n + 1)
        elif not agrees[id(cp)]:
            good = max((s for s in matching if s < cp.size), default=0)
            findings.add(f"{label} does not match events 1..{cp.size}: an event in {good + 1}..{cp.size} "
                         "was changed, removed, reordered or inserted", good + 1, cp.size)
    by_size: dict[int, tuple[str, Checkpoint]] = {}
    for label, cp in valid:
        seen = by_size.setdefault(cp.size, (label, cp))
        if seen[1].root != cp.root:
            findings.add(f"{seen[0]} and {label} are both signed for size {cp.size} but differ (forked log)",
                         1, cp.size)
    # Each checkpoint against the next larger one that matches the tree (only from such a tree is a
    # consistency proof worth anything): a failure means the log was rewritten, not only appended to.
    anchors = {size: by_size[size] for size in matching}
    for label, cp in valid:
        later = next((anchors[s] for s in matching if s > cp.size), None)
        if later is None or cp.size > n:
            continue
        proof = tree.consistency_proof(cp.size, later[1].size)
        if not verify_consistency(cp.size, later[1].size, cp.root, later[1].root, proof):
            findings.add(f"{label} is not consistent with {later[0]}: the log was rewritten, "
                         "not only appended to", 1, cp.size)
    return anchored


def verify_log(events: Iterable[Mapping[str, Any]], checkpoints: Iterable[str],
               public_keys: KeysLike, *,
               origin: str | None = None) -> Verification:
    """Recompute chain and tree over `events` (stored rows, in seq order) and check every checkpoint text.

    `checkpoints` are the database's and the outside file's; `public_keys` maps key name → public key,
    or is one or more vkey strings, or one bare public key. A log without any valid checkpoint is not ok
    (nothing anchors it).
    """
    findings = Findings()
    keys = trusted_keys(public_keys)
    valid: list[tuple[str, Checkpoint]] = []
    for number, text in enumerate(checkpoints, 1):
        try:
            cp = verify_checkpoint(text, keys)
        except AuditError as error:
            findings.add(f"checkpoint {number}: {error}")
            continue
        valid.append((f"checkpoint {number} (size {cp.size})", cp))
    tree = _replay(events, findings)
    anchored = _check_checkpoints(tree, valid, findings, origin)
    if not valid and tree.size:
        findings.add("no validly signed checkpoint: nothing anchors the log")
    return Verification(ok=findings.ok, events=tree.size,
                        first_bad_event=findings.first_bad, problems=findings.listed(), anchored=anchored,
                        root=tree.root(), checkpoints=[cp for _, cp in valid])


def verify_against_checkpoint(events: Iterable[Mapping[str, Any]], checkpoint_text: str,
                              public_key: PublicKeyLike, key_name: str | None = None) -> Verification:
    """For a witness who kept an earlier checkpoint: the current log must extend that checkpoint's tree.

    Checks the checkpoint's signature, the chain, that the first `size` events rebuild its root, and a
    consistency proof from it to the current tree (the log only grew).
    """
    findings = Findings()
    try:
        cp = verify_checkpoint(checkpoint_text, public_key, key_name)
    except AuditError as error:
        return Verification(False, 0, None, [f"checkpoint: {error}"])
    tree = _replay(events, findings)
    _check_checkpoints(tree, [("the kept checkpoint", cp)], findings, None)
    if cp.size <= tree.size:
        proof = tree.consistency_proof(cp.size)
        if not verify_consistency(cp.size, tree.size, cp.root, tree.root(), proof):
            findings.add(f"the current log (size {tree.size}) does not extend the kept checkpoint")
    ok = findings.ok
    return Verification(ok, tree.size, findings.first_bad, findings.listed(),
                        anchored=cp.size if ok else 0, root=tree.root(), checkpoints=[cp])


def prove(index: int, leaf_hashes: Sequence[bytes] | MerkleTree, size: int | None = None) -> dict[str, Any]:
    """JSON-able inclusion proof of leaf `index` (0-based; event seq = index + 1) in the tree of `size`."""
    tree = leaf_hashes if isinstance(leaf_hashes, MerkleTree) else MerkleTree(leaf_hashes)
    size = tree.size if size is None else size
    proof = tree.inclusion_proof(index, size)
    return {"seq": index + 1, "index": index, "tree_size": size, "leaf_hash": tree.leaf(index).hex(),
            "proof": [h.hex() for h in proof], "root": tree.root(size).hex()}


def check_proof(proof: Mapping[str, Any], root: bytes | None = None) -> bool:
    """True when a `prove` dict is a valid inclusion proof (against `root` if given, else its own root)."""
    try:
        expected = root if root is not None else bytes.fromhex(proof["root"])
        path = [bytes.fromhex(h) for h in proof["proof"]]
        return verify_inclusion(int(proof["index"]), int(proof["tree_size"]),
                                bytes.fromhex(proof["leaf_hash"]), path, expected)
    except (KeyError, TypeError, ValueError):
        return False
