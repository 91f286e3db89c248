"""Ingest: an export becomes a batch of keyed features, a sealed payload and a sealed quarantine, or nothing."""

from __future__ import annotations

import io
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import connectors
from connectors.profile import load_profile
from keys import seal
from linkage.pseudonym_store import FeatureWriter
from linkage.pseudonymise import make_features

from . import db
from .app import Acting
from .errors import TTPError
from .ids import new_id
from .objections import TTP_SCHEME, drop_objected
from .staging import left_behind, move_on_commit, staging_folder

FEATURES = "features.parquet"
PAYLOAD = "payload.sealed"
QUARANTINE = "quarantine.sealed"
ATTR = "attr:"


@dataclass
class IngestResult:
    """What an ingest reports: the batch and its reconciled counts."""

    batch_id: str
    source: str
    sector: str
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    objected: int = 0  # accepted rows dropped because the objection register holds the child
    fields_dropped: dict = field(default_factory=dict)
    files: list = field(default_factory=list)
    key_id: str = ""

    def as_json(self) -> dict:
        return {
            "batch_id": self.batch_id,
            "source": self.source,
            "sector": self.sector,
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "objected": self.objected,
            "fields_dropped": self.fields_dropped,
            "files": self.files,
            "key_id": self.key_id,
        }


def payload_aad(batch_id: str, what: str) -> bytes:
    """Associated data binding a sealed file (or its wrapped key) to its batch and kind."""
    return f"ttp/{what}/{batch_id}".encode()


def open_source(paths: list[Path], profile: Path | None, fmt: str | None, school_year: str | None):
    """Open an export with its profile or format; every problem is one line, before any row is read."""
    if (profile is None) == (fmt is None):
        raise TTPError("give either --profile FILE.toml or --format edexml")
    for path in paths:
        if not path.exists():
            raise TTPError(f"{path}: no such file or folder")
    try:
        loaded = load_profile(profile) if profile is not None else None
        return connectors.open_export(paths, profile=loaded, fmt=fmt, school_year=school_year)
    except connectors.ConnectorError as exc:
        raise TTPError(str(exc)) from None


def refuse_duplicates(session, files: list) -> None:
    """Refuse an export file whose content was ingested before (itself or in a delivery), naming the batch."""
    for f in files:
        earlier = session.get(db.BatchFile, f.sha256)
        if earlier is not None:
            raise TTPError(f"{f.name} was ingested before (same content) as batch {earlier.batch_id}")


class RunningCounts(Protocol):
    """The counts an ingest or a supply keeps while it reads an export."""

    rows_read: int
    quarantined: int


def tally(chunk: connectors.Chunk, result: RunningCounts, dropped: dict[str, dict[str, int]]) -> None:
    """Count a chunk into the running counts: rows read and quarantined, fields dropped per reason."""
    result.rows_read += chunk.rows_read
    result.quarantined += len(chunk.rejected)
    for (fname, reason), n in chunk.dropped.items():
        dropped.setdefault(fname, {}).setdefault(reason, 0)
        dropped[fname][reason] += n


def run_ingest(act: Acting, export, source: str, progress=None) -> IngestResult:
    """Read, validate, pseudonymise and seal an export into a new batch inside the acting transaction."""
    settings = act.app.settings
    keystore = act.app.keystore
    session = act.session
    refuse_duplicates(session, export.files)
    attach_to = getattr(export, "attach_to", None)
    feature_source = attach_to or source
    linkage_key = keystore.active("linkage")

    batch_id = new_id("b")
    batches_dir = settings.data_dir / "batches"
    act.counts.update(left_behind(act, batches_dir, db.Batch.id))
    tmp = staging_folder(batches_dir, batch_id)
    result = IngestResult(batch_id=batch_id, source=source, sector=export.sector, key_id=linkage_key.id)
    result.files = [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in export.files]
    dropped: dict[str, dict[str, int]] = {}
    years: set[str] = set()  # the school years of the accepted records
    try:
        writer = None
        payload_buffer = io.BytesIO()
        payload_writer = None
        rejected_lines = io.BytesIO()
        secret = keystore.secret(linkage_key.id)
        for chunk in export.chunks():
            tally(chunk, result, dropped)
            for row in chunk.rejected:
                rejected_lines.write(json.dumps({
                    "export_file": row.export_file, "row_number": row.row_number,
                    "reasons": list(row.reasons), "raw": row.raw,
                }, ensure_ascii=False).encode() + b"\n")
            records = chunk.records
            if len(records) == 0:
                continue
            result.accepted += len(records)
            if "school_year" in records.columns:
                years.update(records["school_year"].dropna().astype(str).unique().tolist())
            features = make_features(records, source=feature_source, secret=secret,
                                     key_version=linkage_key.version, link_kinds=export.link_kinds)
            objected = drop_objected(act, features, TTP_SCHEME, records).to_numpy()
            if objected.any():  # the child of an objection: dropped here, counted, never stored
                result.objected += int(objected.sum())
                result.accepted -= int(objected.sum())
                metadata = dict(features.attrs)
                features = features[~objected].reset_index(drop=True)
                features.attrs = metadata
                records = records[~objected]
                if len(records) == 0:
                    continue
            if writer is None:
                writer = FeatureWriter(tmp / FEATURES, features.attrs.get("ttp.bloom"), linkage_key.version)
            writer.write(features)
            attrs = [c for c in records.columns if c.startswith(ATTR)]
            payload = pd.DataFrame({"record_id": features["record_id"].to_numpy()})
            for col in attrs:
                payload[col[len(ATTR):]] = records[col].to_numpy()
            ptable = pa.Table.from_pandas(payload.astype("string"), preserve_index=False)
            if payload_writer is None:
                payload_writer = pq.ParquetWriter(payload_buffer, ptable.schema)
            payload_writer.write_table(ptable.cast(payload_writer.schema))
            if progress:
                progress(f"ingest {source}: rows", result.rows_read, None)
        if writer is not None:
            writer.close()
        if payload_writer is not None:
            payload_writer.close()
        if result.rows_read != result.accepted + result.quarantined + result.objected:
            raise TTPError("counts do not reconcile: rows read differ from accepted + quarantined")
        if result.accepted == 0 and not attach_to:
            held = f"; {result.objected} dropped: the objection register holds them" if result.objected else ""
            raise TTPError(f"no row of the export was accepted: nothing to ingest (see the quarantine reasons{held})")
        result.fields_dropped = dropped
        batch = db.Batch(
            id=batch_id, source=source, sector=export.sector, attach_to=attach_to,
            school_year=export.school_year or (min(years) if len(years) == 1 else None),
            key_id=linkage_key.id, key_version=linkage_key.version,
            rows_read=result.rows_read, accepted=result.accepted, quarantined=result.quarantined,
            objected=result.objected, fields_dropped=dropped, link_kinds=dict(export.link_kinds),
            created_by=act.user.name,
        )
        commit_batch(act, tmp, batch, export.files, payload_buffer.getvalue(), rejected_lines.getvalue())
    except connectors.ConnectorError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise TTPError(str(exc)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def commit_batch(act: Acting, tmp: Path, batch: db.Batch, files: list, payload: bytes, rejected: bytes) -> None:
    """Seal the payload and the rejected rows into the batch's temporary folder, add the batch and its files
    to the acting transaction, record the event, and move the folder into place (the transaction commits
    after: a crash leaves a temporary folder the next command cleans (`staging`), never a batch without its files)."""
    settings, keystore = act.app.settings, act.app.keystore
    payload_key, quarantine_key = keystore.active("payload"), keystore.active("quarantine")
    data_key = seal.new_data_key()
    (tmp / PAYLOAD).write_bytes(seal.seal(data_key, payload, payload_aad(batch.id, "payload")))
    batch.payload_key_id = payload_key.id
    batch.wrapped_payload_key = seal.wrap(keystore.secret(payload_key.id), data_key,
                                          payload_aad(batch.id, "payload-key"))
    q_key = seal.new_data_key()
    (tmp / QUARANTINE).write_bytes(seal.seal(q_key, rejected, payload_aad(batch.id, "quarantine")))
    batch.quarantine_key_id = quarantine_key.id
    batch.wrapped_quarantine_key = seal.wrap(keystore.secret(quarantine_key.id), q_key,
                                             payload_aad(batch.id, "quarantine-key"))
    act.session.add(batch)
    act.session.flush()
    for f in files:
        act.session.add(db.BatchFile(sha256=f.sha256, batch_id=batch.id, name=f.name, size=f.size))
    act.session.flush()
    act.objects.update({"batch": batch.id, "source": batch.source, "key": batch.key_id})
    act.counts.update({"rows_read": batch.rows_read, "accepted": batch.accepted, "quarantined": batch.quarantined})
    if batch.objected:
        act.counts["objected"] = batch.objected
    act.details.update({"sector": batch.sector, "files": [{"sha256": f.sha256} for f in files],
                        "fields_dropped": batch.fields_dropped, "attach_to": batch.attach_to})
    act.record()
    _pause_for_tests()
    move_on_commit(act.session, tmp, settings.batch_dir(batch.id))


def _pause_for_tests() -> None:
    """With TTP_TEST_PAUSE_INGEST set, stop here (files written, nothing committed) until killed.

    The kill -9 test uses it to interrupt an ingest at its most delicate point deterministically.
    """
    if os.environ.get("TTP_TEST_PAUSE_INGEST"):
        import signal

        print("paused", flush=True)
        while True:
            signal.pause()


def open_payload(keystore, batch: db.Batch, batch_dir: Path) -> pd.DataFrame:
    """The batch's payload (record_id and attributes), opened with the payload key."""
    data_key = seal.unwrap(keystore.secret(batch.payload_key_id), batch.wrapped_payload_key,
                           payload_aad(batch.id, "payload-key"))
    blob = seal.unseal(data_key, (batch_dir / PAYLOAD).read_bytes(), payload_aad(batch.id, "payload"))
    if not blob:
        return pd.DataFrame({"record_id": pd.Series([], dtype="string")})
    return pq.read_table(io.BytesIO(blob)).to_pandas()


def open_quarantine(keystore, batch: db.Batch, batch_dir: Path) -> list[dict]:
    """The batch's rejected rows, opened with the quarantine key."""
    data_key = seal.unwrap(keystore.secret(batch.quarantine_key_id), batch.wrapped_quarantine_key,
                           payload_aad(batch.id, "quarantine-key"))
    blob = seal.unseal(data_key, (batch_dir / QUARANTINE).read_bytes(), payload_aad(batch.id, "quarantine"))
    return [json.loads(line) for line in blob.decode().splitlines() if line]
