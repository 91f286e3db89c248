"""The audit commands' work: verify (with the keystore or only a public key), show, prove, export."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from audit import checkpoint as audit_checkpoint
from audit import verify as audit_verify
from audit.bundle import export_bundle
from audit.errors import AuditError
from audit.merkle import MerkleTree

from . import auditlog, db
from .app import App, audit_key_name
from .errors import TTPError


def _checkpoint_texts(app: App, session) -> list[str]:
    stored = [c.text for c in session.scalars(select(db.AuditCheckpoint).order_by(db.AuditCheckpoint.id))]
    return stored + auditlog.outside_checkpoints(app.settings.checkpoint_log)


def _signer_names(texts: list[str]) -> set[str]:
    names: set[str] = set()
    for text in texts:
        try:
            _, signatures = audit_checkpoint.split_note(text)
        except AuditError:
            continue
        names.update(name for name, *_ in signatures)
    return names


def verify(app: App, kept_checkpoint: Path | None, public_key_file: Path | None) -> dict:
    """Verify the log; with a public key no passphrase is needed, and the act is not audited."""
    app.require_schema()
    if kept_checkpoint and not public_key_file:
        raise TTPError("--checkpoint needs --public-key (the exported verify key)")
    if public_key_file:
        try:
            key = audit_checkpoint.load_public_key(public_key_file.read_bytes())
        except (AuditError, ValueError):
            raise TTPError(f"{public_key_file}: not an Ed25519 public key (PEM)") from None
        with app.session() as session:
            events = list(auditlog.iter_events(session))
            texts = _checkpoint_texts(app, session)
        if kept_checkpoint:
            result = audit_verify.verify_against_checkpoint(events, kept_checkpoint.read_text(encoding="utf-8"), key)
        else:
            keys = {name: key for name in _signer_names(texts)} or {"ttp-audit": key}
            result = audit_verify.verify_log(events, texts, keys)
        doc = result.to_dict()
        doc["checkpoints"] = len(doc["checkpoints"])
        return doc
    with app.acting("audit.verify") as act:
        keystore = app.keystore
        keys = {audit_key_name(e): keystore.public_key_for(e.id) for e in keystore.entries()
                if e.purpose == "audit-signing"}
        events = list(auditlog.iter_events(act.session))
        texts = _checkpoint_texts(app, act.session)
        result = audit_verify.verify_log(events, texts, keys)
        act.outcome = "ok" if result.ok else "tampered"
        act.counts.update({"events": result.events, "checkpoints": len(result.checkpoints),
                           "unanchored": result.unanchored})
        # Signing now would anchor, unseen, whatever no checkpoint covered (a rewritten tail as well): leave
        # that to the next command, with this event saying how many events were unanchored when verified.
        act.anchor = result.unanchored == 0
        if result.first_bad_event is not None:
            act.details["first_bad_event"] = result.first_bad_event
    doc = result.to_dict()
    doc["checkpoints"] = len(doc["checkpoints"])
    return doc


def show(session, actor, role, action, obj, since, until, limit) -> list[dict]:
    """Events matching every given filter, newest last, at most `limit`."""
    query = select(db.AuditEvent)
    if actor:
        query = query.where(db.AuditEvent.actor == actor)
    if role:
        query = query.where(db.AuditEvent.role == role)
    if action:
        query = query.where(db.AuditEvent.action.startswith(action))
    if obj:
        e = db.AuditEvent
        query = query.where((e.batch_id == obj) | (e.job_id == obj) | (e.request_id == obj)
                            | (e.release_id == obj) | (e.key_id == obj))
    if since:
        query = query.where(db.AuditEvent.time >= since)
    if until:
        query = query.where(db.AuditEvent.time <= until)
    rows = session.scalars(query.order_by(db.AuditEvent.seq.desc()).limit(limit)).all()
    return [_shown(auditlog.event_dict(r)) for r in reversed(rows)]


def _shown(event: dict) -> dict:
    objects = {k.removesuffix("_id"): event[k] for k in ("batch_id", "job_id", "request_id", "release_id", "key_id")
               if event.get(k)}
    return {**event, "objects": objects}


def _tree(session) -> MerkleTree:
    return MerkleTree(auditlog.leaf_hashes(session))


def latest_checkpoint(app: App) -> str:
    with app.session() as session:
        row = session.scalars(select(db.AuditCheckpoint).order_by(db.AuditCheckpoint.id.desc()).limit(1)).first()
    return row.text if row else ""


def prove(session, seq: int) -> dict:
    """An inclusion proof of event `seq` in the tree of the latest checkpoint, with that checkpoint."""
    checkpoint = session.scalars(select(db.AuditCheckpoint).order_by(db.AuditCheckpoint.id.desc()).limit(1)).first()
    tree = _tree(session)
    size = checkpoint.size if checkpoint else tree.size
    if not 1 <= seq <= size:
        raise TTPError(f"no event {seq} in the checkpointed log (1..{size})")
    proof = audit_verify.prove(seq - 1, tree, size)
    proof["checkpoint"] = checkpoint.text if checkpoint else None
    return proof


def export(session, app: App, out: Path) -> int:
    """Every event with its inclusion proof and the latest checkpoint (audit.bundle), plus the verify key."""
    latest = session.scalars(select(db.AuditCheckpoint).order_by(db.AuditCheckpoint.id.desc()).limit(1)).first()
    if latest is None:
        raise TTPError("no checkpoint yet: run `ttp audit checkpoint` first")
    try:
        bundle = export_bundle(auditlog.iter_events(session), latest.text)
    except AuditError as exc:
        raise TTPError(f"cannot export: {exc}") from None
    bundle["verify_key_pem"] = app.keystore.verify_key_pem().decode()
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(bundle, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(out)
    return len(bundle["events"])
