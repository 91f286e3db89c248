"""Designated recipients (CBS): registered like a supplier, in force only after a second officer approves."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from sqlalchemy import select

from keys import envelope
from keys.errors import EnvelopeError

from . import db
from .app import Acting
from .errors import Conflict, TTPError

PENDING, ACTIVE, DENIED = "pending", "active", "denied"


def add_recipient(act: Acting, name: str, pem: bytes) -> dict:
    """Register a recipient's X25519 public key; it waits for another privacy officer's approval."""
    if not name.strip() or len(name) > 100 or "|" in name:
        raise TTPError("a recipient name is 1 to 100 characters, without '|'")
    try:
        key = envelope.load_public(pem, X25519PublicKey)
    except EnvelopeError as exc:
        raise TTPError(f"the recipient's public key: {exc} (an X25519 public key in PEM)") from None
    if act.session.get(db.Recipient, name) is not None:
        raise Conflict(f"recipient {name!r} is registered already")
    row = db.Recipient(name=name, public_key=envelope.public_pem(key).decode(), fingerprint=envelope.fingerprint(key),
                       status=PENDING, added_by=act.user.name)
    act.session.add(row)
    act.session.flush()
    act.objects.update({"recipient": name})
    act.details.update({"fingerprint": row.fingerprint, "status": PENDING})
    return recipient_doc(row)


def decide_recipient(act: Acting, name: str, approve: bool) -> dict:
    """Approve or deny a pending recipient: a privacy officer other than the one who added it."""
    row = act.session.get(db.Recipient, name)
    if row is None:
        raise TTPError(f"unknown recipient {name!r}: `ttp recipients list` shows them")
    if row.status != PENDING:
        raise Conflict(f"recipient {name!r} is {row.status} already")
    if row.added_by == act.user.name:
        raise TTPError(f"recipient {name!r} was added by {act.user.name}: another privacy officer decides it")
    row.status, row.decided_by = (ACTIVE if approve else DENIED), act.user.name
    act.session.flush()
    act.objects.update({"recipient": name})
    act.details.update({"fingerprint": row.fingerprint, "status": row.status, "added_by": row.added_by})
    return recipient_doc(row)


def recipient_doc(row: db.Recipient) -> dict:
    return {"name": row.name, "fingerprint": row.fingerprint, "status": row.status, "added_by": row.added_by,
            "decided_by": row.decided_by, "added_at": str(row.added_at)}


def list_recipients(act: Acting) -> list[dict]:
    return [recipient_doc(r) for r in act.session.scalars(select(db.Recipient).order_by(db.Recipient.name))]


def active_recipient(session, name: str, fingerprint: str | None = None) -> db.Recipient:
    """The approved recipient of that name (and key, when a fingerprint is given), else one clear line."""
    row = session.get(db.Recipient, name)
    if row is None:
        raise TTPError(f"unknown recipient {name!r}: register it with `ttp recipients add`")
    if row.status != ACTIVE:
        raise TTPError(f"recipient {name!r} is {row.status}: a second privacy officer approves it with "
                       "`ttp recipients approve`")
    if fingerprint is not None and fingerprint != row.fingerprint:
        raise TTPError(f"the identities are sealed to key {fingerprint}, not to recipient {name}'s registered key "
                       f"{row.fingerprint}")
    return row
