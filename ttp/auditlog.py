"""Stores audit events in the database, atomically with the action, and writes signed checkpoints."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from audit import checkpoint as audit_checkpoint
from audit import event as audit_event
from audit import merkle

from .db import AuditCheckpoint, AuditEvent

ORIGIN = "ttp.audit/v1"
_PG_LOCK = 0x77747061  # advisory lock id: serialises appends across processes on PostgreSQL
GENESIS = audit_event.GENESIS.hex()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lock(session: Session) -> None:
    """Take the append lock for this transaction (SQLite holds it from BEGIN IMMEDIATE already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})


OBJECT_FIELDS = {"batch": "batch_id", "job": "job_id", "request": "request_id", "release": "release_id",
                 "key": "key_id"}


def append(
    session: Session,
    *,
    actor: str,
    role: str,
    action: str,
    outcome: str = "ok",
    objects: dict | None = None,
    counts: dict | None = None,
    details: dict | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction: it commits with the action or not at all.

    `objects` names batch, job, request, release and key ids (their own fields of the event); any other
    object (a user, a policy, a list of batches) is kept under `details.objects`.
    """
    lock(session)
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq = 1 if last is None else last.seq + 1
    prev = GENESIS if last is None else last.hash
    fields: dict = {"seq": seq, "time": _now(), "actor": actor, "role": role, "action": action,
                    "outcome": outcome}
    extra: dict = {}
    for name, value in (objects or {}).items():
        if name in OBJECT_FIELDS and isinstance(value, str):
            fields[OBJECT_FIELDS[name]] = value
        else:
            extra[name] = value
    key_id = fields.get("key_id")
    if key_id and "-v" in key_id:
        fields["key_version"] = int(key_id.rsplit("-v", 1)[1])
    fields["counts"] = {k: int(v) for k, v in (counts or {}).items()}
    fields["details"] = dict(details or {})
    if extra:
        fields["details"]["objects"] = extra
    event = audit_event.Event(**fields)
    row = AuditEvent(**audit_event.to_row(event, bytes.fromhex(prev)))
    session.add(row)
    session.flush()
    return row


def unanchored(session: Session) -> int:
    """How many events no checkpoint covers yet (taken under the append lock, so it holds until commit)."""
    lock(session)
    last_seq = session.scalar(select(func.max(AuditEvent.seq))) or 0
    last_size = session.scalar(select(func.max(AuditCheckpoint.size))) or 0
    return max(0, last_seq - last_size)


def event_dict(row: AuditEvent) -> dict:
    """The stored event as the plain document `audit` verifies."""
    return {name: getattr(row, name) for name in (*audit_event.EVENT_FIELDS, "prev_hash", "hash")}


def iter_events(session: Session, batch: int = 10_000, start: int = 1) -> Iterator[dict]:
    """Every event from `start` in sequence order, read in slices so a long log does not sit in memory twice."""
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.seq >= start).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield event_dict(row)
        start = rows[-1].seq + 1


def leaf_hashes(session: Session) -> list[bytes]:
    """The Merkle leaf hash of every event, in order."""
    return [merkle.leaf_hash(audit_event.leaf_bytes(e)) for e in iter_events(session)]


def checkpoint(session: Session, signing_key, key_name: str, outside_file: Path) -> AuditCheckpoint:
    """Sign a checkpoint of the whole log, store it, and append it to the file outside the database.

    The tree state (a compact range, O(log n) hashes) is kept with each checkpoint, so the next one
    hashes only the events appended since.
    """
    lock(session)
    last = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)).first()
    state = merkle.CompactRange.from_dict(last.tree_state) if last is not None else merkle.CompactRange()
    for event in iter_events(session, start=state.size + 1):
        state.append(merkle.leaf_hash(audit_event.leaf_bytes(event)))
    root = state.root()
    note = audit_checkpoint.sign_checkpoint(ORIGIN, state.size, root, _now(), signing_key, key_name)
    row = AuditCheckpoint(size=state.size, root=root.hex(), text=note, tree_state=state.to_dict())
    session.add(row)
    session.flush()
    outside_file.parent.mkdir(parents=True, exist_ok=True)
    with open(outside_file, "a", encoding="utf-8") as fh:
        fh.write(note.rstrip("\n") + "\n\n")
        fh.flush()
        os.fsync(fh.fileno())
    return row


def outside_checkpoints(outside_file: Path) -> list[str]:
    """The checkpoints kept in the file outside the database, oldest first."""
    if not outside_file.exists():
        return []
    notes, current = [], []
    for line in outside_file.read_text(encoding="utf-8").split("\n"):
        current.append(line)
        if line.startswith("\u2014 "):
            notes.append("\n".join(current).strip("\n") + "\n")
            current = []
    return notes
