"""Deliveries over the years: which batches are in force, and a corrected export superseding an earlier one."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from sqlalchemy import func, select

from . import db
from .app import Acting
from .errors import Conflict, NotFound, TTPError


def in_force(batches: Iterable[db.Batch]) -> list[db.Batch]:
    """The batches no corrected delivery has superseded."""
    return [b for b in batches if b.superseded_by is None]


def supersede(act: Acting, old_id: str, new_id: str) -> dict:
    """Let batch `new_id` (a corrected delivery) replace `old_id`: link jobs from now on leave `old_id` out.
    Both must be of the same source; the earlier batch and its files stay (earlier jobs and releases used
    them), and the decision is audited with both ids."""
    old, new = act.session.get(db.Batch, old_id), act.session.get(db.Batch, new_id)
    if old is None or new is None:
        unknown = old_id if old is None else new_id
        raise NotFound(f"unknown batch {unknown!r}: `ttp batches list` shows them")
    if old_id == new_id:
        raise TTPError("a batch cannot supersede itself")
    if (old.source, old.attach_to) != (new.source, new.attach_to):
        raise TTPError(f"batch {new_id} is of source {new.source!r}, batch {old_id} of {old.source!r}: "
                       "a delivery supersedes one of its own source")
    if old.superseded_by is not None:
        raise Conflict(f"batch {old_id} was superseded already, by {old.superseded_by}")
    if new.superseded_by is not None:
        raise Conflict(f"batch {new_id} was itself superseded, by {new.superseded_by}")
    old.superseded_by, old.superseded_at = new.id, db.utcnow()
    act.objects.update({"batch": old.id, "source": old.source})
    act.details.update({"superseded_by": new.id, "school_year": old.school_year})
    act.session.flush()
    return {"batch_id": old.id, "superseded_by": new.id, "source": old.source, "school_year": old.school_year}


def refuse_shared_records(features: pd.DataFrame, batch_of_row: pd.Series, session) -> None:
    """Two batches in force that hold the same records (the same export of the same school year, delivered
    twice) are refused in one line that says how to settle it."""
    dup = features["record_id"].duplicated(keep=False)
    if not dup.any():
        return
    clash = sorted(set(batch_of_row[dup]))
    rows = {b.id: b for b in session.scalars(select(db.Batch).where(db.Batch.id.in_(clash)))}
    if len(clash) == 1:
        raise TTPError(f"batch {clash[0]} holds a record twice: re-ingest its export")
    # the order of ingest is the order of their events (created_at has whole seconds)
    ingested = dict(session.execute(select(db.AuditEvent.batch_id, func.min(db.AuditEvent.seq))
                                    .where(db.AuditEvent.batch_id.in_(clash), db.AuditEvent.action == "ingest")
                                    .group_by(db.AuditEvent.batch_id)).all())
    ordered = sorted(clash, key=lambda b: (ingested.get(b, 0), rows[b].created_at, b))
    raise TTPError(f"batches {', '.join(ordered)} ({rows[ordered[0]].source}) hold the same records: the same "
                   f"delivery twice; if {ordered[-1]} corrects {ordered[0]}, run "
                   f"`ttp batches supersede {ordered[0]} {ordered[-1]}`")
