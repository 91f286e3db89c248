"""Key rotation for sealed batches: re-wrap every batch's data keys under the active payload or quarantine
key (the sealed files stay as they are), and destroy a retired key once nothing needs it."""

from __future__ import annotations

from sqlalchemy import func, select

from keys import seal
from keys.keystore import KeystoreError

from . import db
from .app import Acting
from .errors import TTPError
from .ingest import payload_aad

WRAPPED = {"payload": ("payload_key_id", "wrapped_payload_key", "payload-key"),
           "quarantine": ("quarantine_key_id", "wrapped_quarantine_key", "quarantine-key")}


def rewrap(act: Acting, purpose: str) -> int:
    """Re-wrap, in the acting transaction, the data key of every batch not yet under the active key of
    `purpose` (as `MultiFernet.rotate` does for tokens); the number re-wrapped, also in the event's counts."""
    if purpose not in WRAPPED:
        raise TTPError(f"only payload and quarantine keys wrap data keys, not {purpose} keys")
    keystore = act.app.keystore
    active = keystore.active(purpose)
    key_column, wrapped_column, what = WRAPPED[purpose]
    column = getattr(db.Batch, key_column)
    done = 0
    for batch in act.session.scalars(select(db.Batch).where(column != active.id).order_by(db.Batch.id)):
        aad = payload_aad(batch.id, what)
        data_key = seal.unwrap(keystore.secret(getattr(batch, key_column)), getattr(batch, wrapped_column), aad)
        setattr(batch, wrapped_column, seal.wrap(keystore.secret(active.id), data_key, aad))
        setattr(batch, key_column, active.id)
        done += 1
    act.session.flush()
    act.objects["key"] = active.id
    act.counts["rewrapped_batches"] = done
    return done


def users_of(act: Acting, key_id: str, purpose: str) -> int:
    """How many batches still need a key: their data keys wrapped under it, or their features keyed with it."""
    column = {"payload": db.Batch.payload_key_id, "quarantine": db.Batch.quarantine_key_id,
              "linkage": db.Batch.key_id}[purpose]
    return act.session.scalar(select(func.count()).select_from(db.Batch).where(column == key_id)) or 0


def destroy(act: Acting, key_id: str) -> str:
    """Destroy a retired key nothing needs any more; every refusal is one line saying what to do first."""
    keystore = act.app.keystore
    try:
        entry = keystore.entry(key_id)
    except KeystoreError as exc:
        raise TTPError(str(exc)) from None
    act.objects["key"] = entry.id
    if entry.purpose == "audit-signing":
        raise TTPError(f"cannot destroy {key_id}: the audit checkpoints it signed are verified with it")
    if entry.status != "retired":
        raise TTPError(f"cannot destroy {key_id}: it is active (`ttp keys retire {key_id}` first)")
    users = users_of(act, key_id, entry.purpose)
    if users:
        if entry.purpose == "linkage":
            raise TTPError(f"cannot destroy {key_id}: {users} batch(es) were keyed with it (keyed pseudonyms "
                           "cannot be re-keyed; they go by `ttp retention apply`, or re-ingest them under the new key)")
        raise TTPError(f"cannot destroy {key_id}: {users} batch(es) have data keys wrapped under it "
                       f"(`ttp keys rewrap --purpose {entry.purpose}` first)")
    try:
        keystore.destroy(key_id)
    except KeystoreError as exc:
        raise TTPError(str(exc)) from None
    act.details["fingerprint"] = entry.fingerprint
    return entry.purpose
