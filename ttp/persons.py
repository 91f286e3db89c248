"""The persons frame the export layer aggregates: one row per linked person, payload by source."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy import select

from policies.indicators import career_column
from policies.moments import CAREER, at_moment, parse_moment

from . import db
from .ingest import open_payload
from .linkjob import PERSON_MAP, job_batches


def person_records(app, session, job: db.Job) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The job's person map and, per source, every record of its persons: `person_id`, the record's
    payload (school year, grade, school, level, ...) and `_order` (delivery order). Payload-only batches
    (`attach_to`) join the records of the source they attach to; superseded batches are left out."""
    settings = app.settings
    person_map = pq.read_table(settings.job_dir(job.id) / PERSON_MAP).to_pandas()
    person_map = person_map[["record_id", "person_id", "source"]]
    batches = job_batches(session, job)
    attached = session.scalars(
        select(db.Batch).where(db.Batch.attach_to.in_(job.sources), db.Batch.superseded_by.is_(None))
        .order_by(db.Batch.created_at)
    ).all()
    own: dict[str, list[pd.DataFrame]] = {}
    extra: dict[str, list[pd.DataFrame]] = {}
    for order, batch in enumerate([*batches, *attached]):
        payload = open_payload(app.keystore, batch, settings.batch_dir(batch.id))
        if len(payload) == 0:
            continue
        payload["_order"] = order
        (extra if batch.attach_to else own).setdefault(batch.attach_to or batch.source, []).append(payload)
    records: dict[str, pd.DataFrame] = {}
    for source in sorted(job.sources):
        members = person_map[person_map["source"] == source]
        frames = own.get(source)
        if not frames:
            continue
        combined = _combine(frames, extra.get(source, []))
        merged = members[["record_id", "person_id"]].merge(combined, on="record_id", how="inner")
        sort_cols = [c for c in ("school_year", "_order") if c in merged.columns]
        records[source] = merged.sort_values(sort_cols, kind="stable") if sort_cols else merged
    return person_map, records


class PersonsFrame:
    """The persons frame of a link job, with columns at a moment added when a request needs them."""

    def __init__(self, app, session, job: db.Job) -> None:
        person_map, self.records = person_records(app, session, job)
        self.schools = {s.brin: s for s in session.scalars(select(db.School))}
        self.frame = _latest(person_map, self.records, job.sources, self.schools)

    def with_columns(self, columns: list[str]) -> pd.DataFrame:
        """The frame with every moment column among `columns` (`policies.moments`); rows keep their order."""
        added = {}
        for column in columns:
            moment = parse_moment(column)
            if moment is None or column in self.frame.columns or column in added:
                continue
            records = self.records.get(moment.source, _NO_RECORDS)
            if moment.source == CAREER:
                values = career_column(self._career_records(), moment.attribute, moment.kind, moment.value)
            elif moment.attribute in REGISTER:  # the board or municipality of the school at that moment
                field = REGISTER[moment.attribute]
                looked_up = {b: getattr(s, field) for b, s in self.schools.items()}
                values = at_moment(records, replace(moment, attribute="brin")).map(looked_up)
            else:
                values = at_moment(records, moment)
            added[column] = self.frame["person_id"].map(values).astype(object)
        if added:
            self.frame = self.frame.assign(**added)
        return self.frame

    def _career_records(self) -> pd.DataFrame:
        """The persons' vo and mbo records together, with their source."""
        parts = [r.assign(source=source) for source, r in self.records.items() if source in ("vo", "mbo")]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            {"person_id": [], "school_year": [], "source": []})


REGISTER = {"bestuur": "board", "gemeente": "municipality"}  # from the school register, on the brin
_NO_RECORDS = pd.DataFrame({"person_id": pd.Series([], dtype=object)})


def build_persons(app, session, job: db.Job, columns: list[str] | None = None) -> pd.DataFrame:
    """`person_id`, `in_<source>` and `<source>.<attribute>` (from the person's latest record there), and
    the moment columns among `columns` (`vo.niveau@grade=3`: see `policies.moments`).

    Schools are joined from the register on `<source>.brin` as `<source>.bestuur` and `<source>.gemeente`.
    """
    return PersonsFrame(app, session, job).with_columns(columns or [])


def _latest(person_map: pd.DataFrame, records: dict[str, pd.DataFrame], sources: list[str],
            schools: dict) -> pd.DataFrame:
    persons = pd.DataFrame({"person_id": pd.unique(person_map["person_id"])})
    for source in sorted(sources):
        members = person_map[person_map["source"] == source]
        persons[f"in_{source}"] = persons["person_id"].isin(members["person_id"])
        merged = records.get(source)
        if merged is None:
            continue
        latest = merged.drop_duplicates("person_id", keep="last").drop(columns=["record_id", "_order"],
                                                                        errors="ignore")
        latest = latest.rename(columns={c: f"{source}.{c}" for c in latest.columns if c != "person_id"})
        persons = persons.merge(latest, on="person_id", how="left")
        brin_col = f"{source}.brin"
        if brin_col in persons.columns and schools:
            persons[f"{source}.bestuur"] = persons[brin_col].map(
                lambda b: schools[b].board if isinstance(b, str) and b in schools else None)
            persons[f"{source}.gemeente"] = persons[brin_col].map(
                lambda b: schools[b].municipality if isinstance(b, str) and b in schools else None)
    return persons


def _combine(frames: list[pd.DataFrame], attached: list[pd.DataFrame]) -> pd.DataFrame:
    """Records of one source across its batches (every delivery of every year), with the payload of the
    batches attached to it joined by record id: every attached batch, each onto its own records (a test file
    per school year joins that year's records); where an attached value and the record's own disagree on a
    column both have, the record's own value stands."""
    combined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if not attached:
        return combined
    payload = pd.concat(attached, ignore_index=True).drop(columns=["_order"], errors="ignore")
    payload = payload.drop_duplicates("record_id", keep="last")  # a later attached batch corrects an earlier
    shared = [c for c in payload.columns if c in combined.columns and c != "record_id"]
    merged = combined.merge(payload, on="record_id", how="left", suffixes=("", "__attached"))
    for column in shared:
        merged[column] = merged[column].where(merged[column].notna(), merged[f"{column}__attached"])
    return merged.drop(columns=[f"{c}__attached" for c in shared])
