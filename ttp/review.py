"""Clerical review: the review pairs of a job by pattern and weight, and the decisions on them."""

from __future__ import annotations

import pyarrow.parquet as pq
from sqlalchemy import select

from . import db
from .app import Acting
from .errors import TTPError
from .linkjob import PAIRS, get_job


def review_pairs(act: Acting, job_id: str) -> list[dict]:
    """The job's review pairs, numbered, with pattern, weight and any decision already taken."""
    job = get_job(act.session, job_id)
    act.objects["job"] = job.id
    pairs = pq.read_table(act.app.settings.job_dir(job.id) / PAIRS).to_pandas()
    pairs = pairs[pairs["decision"] == "review"].sort_values("weight", ascending=False, kind="stable")
    decided = {(r.record_id_l, r.record_id_r): r.decision for r in act.session.scalars(select(db.ReviewDecision))}
    shown = []
    for number, row in enumerate(pairs.itertuples(index=False), 1):
        key = (row.record_id_l, row.record_id_r)
        shown.append({"pair": number, "pattern": str(row.pattern), "weight": float(row.weight),
                      "probability": float(row.probability), "decision": decided.get(key),
                      "_key": key})
    return shown


def decide(act: Acting, job_id: str, pairs: list[dict], accepts, rejects) -> dict:
    """Record accept/reject decisions by pair number; later runs respect them."""
    by_number = {p["pair"]: p for p in pairs}
    counts = {"accepted": 0, "rejected": 0}
    for decision, numbers in (("accept", accepts), ("reject", rejects)):
        for number in numbers:
            try:
                pair = by_number[int(number)]
            except (KeyError, ValueError):
                raise TTPError(f"no review pair {number} in job {job_id}: `ttp link review {job_id}` lists them") \
                    from None
            left, right = pair["_key"]
            row = act.session.get(db.ReviewDecision, (left, right))
            if row is None:
                act.session.add(db.ReviewDecision(record_id_l=left, record_id_r=right, decision=decision,
                                                  job_id=job_id, decided_by=act.user.name))
            else:
                row.decision, row.decided_by, row.job_id = decision, act.user.name, job_id
            pair["decision"] = decision
            counts["accepted" if decision == "accept" else "rejected"] += 1
    for p in pairs:
        p.pop("_key", None)
    return counts
