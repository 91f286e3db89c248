"""`ttp supply` at the school: an export becomes one signed delivery sealed to the TTP; rejects stay here.

The same connectors, validation, normalisation and pseudonymiser as the TTP's own ingest, keyed with the
suppliers' shared secret instead of the TTP's key. Nothing of this touches a TTP data directory.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import secrets
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

import connectors
from keys import delivery as delivery_file
from keys import envelope, identity, seal
from keys.derive import subkey
from keys.errors import EnvelopeError
from linkage.pseudonym_store import FeatureWriter
from linkage.pseudonymise import PSEUDONYM_SCHEME, make_features

from .errors import TTPError, UsageError
from .ingest import ATTR, tally

FEATURES_PART, PAYLOAD_PART, REJECTS_PART = "features.parquet", "payload.parquet", "rejects.jsonl"
IDENTITY_PART = "identities.parquet"  # per record and designated recipient: the identity sealed to it
QUARANTINE_SUFFIX = ".quarantine"


@dataclass
class SupplyResult:
    """What `ttp supply` reports: the delivery and its counts (never a value)."""

    delivery_id: str
    out: Path
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    reasons: dict = field(default_factory=dict)
    quarantine_file: Path | None = None
    identities: dict = field(default_factory=dict)  # recipient -> records whose identity was sealed to it

    def as_json(self) -> dict:
        return {"delivery_id": self.delivery_id, "out": str(self.out), "rows_read": self.rows_read,
                "accepted": self.accepted, "quarantined": self.quarantined, "reasons": self.reasons,
                "quarantine_file": str(self.quarantine_file) if self.quarantine_file else None,
                "identities": self.identities}


def read_shared_secret(path: Path | None) -> tuple[int, bytes]:
    """The suppliers' shared secret from `--secret FILE`, else the file named by `TTP_SUPPLIER_SECRET_FILE`."""
    path = path or (Path(os.environ["TTP_SUPPLIER_SECRET_FILE"]) if os.environ.get("TTP_SUPPLIER_SECRET_FILE")
                    else None)
    if path is None:
        raise UsageError("no shared secret: give --secret FILE or set TTP_SUPPLIER_SECRET_FILE")
    try:
        return delivery_file.parse_shared_secret(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        raise TTPError(f"{path}: cannot read the shared secret file") from None
    except EnvelopeError as exc:
        raise TTPError(f"{path}: {exc}") from None


def read_supplier_key(path: Path, passphrase: str) -> Ed25519PrivateKey:
    """The supplier's Ed25519 signing key from its encrypted PEM file."""
    try:
        return envelope.load_private(path.read_bytes(), passphrase)
    except OSError as exc:
        raise TTPError(f"{path}: cannot read the supplier key ({exc.strerror})") from None
    except EnvelopeError as exc:
        raise TTPError(f"{path}: {exc}") from None


def read_ttp_key(path: Path) -> X25519PublicKey:
    """The TTP's delivery public key (PEM, from `ttp keys export-delivery-key`)."""
    try:
        return envelope.load_public(path.read_bytes(), X25519PublicKey)
    except OSError as exc:
        raise TTPError(f"{path}: cannot read the TTP's key ({exc.strerror})") from None
    except EnvelopeError as exc:
        raise TTPError(f"{path}: {exc} (the TTP gives it with `ttp keys export-delivery-key`)") from None


def read_recipients(specs: list[str]) -> dict[str, X25519PublicKey]:
    """`--recipient NAME=PEM` options: each designated recipient's X25519 public key by name."""
    out: dict[str, X25519PublicKey] = {}
    for spec in specs:
        name, sep, path_text = spec.partition("=")
        if not sep or not name or not path_text or "|" in name:
            raise UsageError(f"--recipient {spec!r}: give NAME=PEM-FILE, e.g. cbs=cbs.pem")
        if name in out:
            raise UsageError(f"--recipient {name} is given twice")
        path = Path(path_text)
        try:
            out[name] = envelope.load_public(path.read_bytes(), X25519PublicKey)
        except OSError as exc:
            raise TTPError(f"{path}: cannot read recipient {name}'s key ({exc.strerror})") from None
        except EnvelopeError as exc:
            raise TTPError(f"{path}: recipient {name}'s key: {exc}") from None
    return out


def seal_identities(records: pd.DataFrame, record_ids, recipients: dict[str, X25519PublicKey]) -> pa.Table:
    """Per record and recipient, the identity CBS links on sealed to that recipient (records with nothing to
    link on get no blob)."""
    def column(name: str) -> list:
        return records[name].tolist() if name in records.columns else [None] * len(records)

    rows: dict[str, list] = {"record_id": [], "recipient": [], "blob": []}
    for rid, *values in zip(record_ids, column("bsn"), column("birth_date"), column("sex"), column("postcode"),
                            column("link:huisnummer"), strict=True):
        fields = identity.identity_fields(*[v if isinstance(v, str) and v else None for v in values])
        if fields is None:
            continue
        for name, key in recipients.items():
            rows["record_id"].append(str(rid))
            rows["recipient"].append(name)
            rows["blob"].append(identity.seal_identity(key, name, fields))
    return pa.table({"record_id": pa.array(rows["record_id"], pa.string()),
                     "recipient": pa.array(rows["recipient"], pa.string()),
                     "blob": pa.array(rows["blob"], pa.binary())})


def quarantine_key(signer: Ed25519PrivateKey) -> bytes:
    """The supplier's own key for its rejected rows, derived from its signing key (nothing more to keep)."""
    return subkey(envelope.private_seed(signer), "ttp/supplier/quarantine/v1")


def make_delivery(export: connectors.Export, *, source: str, supplier: str, secret: tuple[int, bytes],
                  signer: Ed25519PrivateKey, ttp_key: X25519PublicKey, out: Path,
                  now: dt.datetime | None = None,
                  recipients: dict[str, X25519PublicKey] | None = None) -> SupplyResult:
    """Read, validate and pseudonymise the export, and write the delivery to `out` (and the sealed rejects
    beside it); nothing is written unless all of it is."""
    if out.exists():
        raise TTPError(f"{out} exists already: give a new --out")
    version, shared = secret
    delivery_id = "d_" + secrets.token_hex(12)
    result = SupplyResult(delivery_id=delivery_id, out=out)
    reasons: Counter = Counter()
    dropped: dict[str, dict[str, int]] = {}
    rejected_rows, rejects_travelling = io.BytesIO(), io.BytesIO()
    payload_buffer, payload_writer = io.BytesIO(), None
    identity_buffer, identity_writer = io.BytesIO(), None
    sealed_to: Counter = Counter()
    years: set[str] = set()  # the school years of the accepted records
    with tempfile.TemporaryDirectory(prefix="ttp-supply-") as work:
        features_path, writer = Path(work) / FEATURES_PART, None
        try:
            for chunk in export.chunks():
                tally(chunk, result, dropped)
                for row in chunk.rejected:
                    reasons.update(row.reasons)
                    where = {"export_file": row.export_file, "row_number": row.row_number,
                             "reasons": list(row.reasons)}
                    rejects_travelling.write(json.dumps(where).encode() + b"\n")
                    rejected_rows.write(json.dumps(where | {"raw": row.raw}, ensure_ascii=False).encode() + b"\n")
                records = chunk.records
                if len(records) == 0:
                    continue
                result.accepted += len(records)
                if "school_year" in records.columns:
                    years.update(records["school_year"].dropna().astype(str).unique().tolist())
                features = make_features(records, source=export.attach_to or source, secret=shared,
                                         key_version=version, link_kinds=export.link_kinds)
                if writer is None:
                    writer = FeatureWriter(features_path, features.attrs.get("ttp.bloom"), version)
                writer.write(features)
                payload = pd.DataFrame({"record_id": features["record_id"].to_numpy()})
                for col in [c for c in records.columns if c.startswith(ATTR)]:
                    payload[col[len(ATTR):]] = records[col].to_numpy()
                table = pa.Table.from_pandas(payload.astype("string"), preserve_index=False)
                if payload_writer is None:
                    payload_writer = pq.ParquetWriter(payload_buffer, table.schema)
                payload_writer.write_table(table.cast(payload_writer.schema))
                if recipients:
                    blobs = seal_identities(records, features["record_id"].tolist(), recipients)
                    sealed_to.update(blobs.column("recipient").to_pylist())
                    if identity_writer is None:
                        identity_writer = pq.ParquetWriter(identity_buffer, blobs.schema)
                    identity_writer.write_table(blobs)
        except connectors.ConnectorError as exc:
            raise TTPError(str(exc)) from None
        if writer is None or payload_writer is None:
            raise TTPError("no row of the export was accepted: nothing to deliver")
        writer.close()
        payload_writer.close()
        if identity_writer is not None:
            identity_writer.close()
        bloom = writer.params
        features_bytes = features_path.read_bytes()
    if result.rows_read != result.accepted + result.quarantined:
        raise TTPError("counts do not reconcile: rows read differ from accepted + quarantined")
    result.reasons = dict(sorted(reasons.items()))
    result.identities = {name: sealed_to.get(name, 0) for name in recipients or {}}
    created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0).isoformat()
    manifest = {
        "delivery_id": delivery_id, "supplier": supplier, "created": created, "source": source,
        "sector": export.sector,
        "school_year": export.school_year or (min(years) if len(years) == 1 else None), "attach_to": export.attach_to,
        "link_kinds": dict(export.link_kinds),
        "counts": {"rows_read": result.rows_read, "accepted": result.accepted, "quarantined": result.quarantined,
                   "fields_dropped": dropped, "quarantine_reasons": result.reasons},
        "exports": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in export.files],
        "scheme": {"pseudonym": PSEUDONYM_SCHEME, "secret_version": version, "bloom": bloom},
    }
    parts = {FEATURES_PART: features_bytes, PAYLOAD_PART: payload_buffer.getvalue(),
             REJECTS_PART: rejects_travelling.getvalue()}
    if recipients:
        manifest["recipients"] = [{"name": name, "fingerprint": envelope.fingerprint(key),
                                   "scheme": identity.SCHEME, "identities": result.identities[name]}
                                  for name, key in recipients.items()]
        parts[IDENTITY_PART] = identity_buffer.getvalue()
    blob = delivery_file.pack(manifest, parts, signer, ttp_key)
    quarantine = out.with_name(out.name + QUARANTINE_SUFFIX) if result.quarantined else None
    sealed_rejects = seal.seal(quarantine_key(signer), rejected_rows.getvalue(), delivery_id.encode()) \
        if quarantine else b""
    write_new(out, blob)
    if quarantine is not None:
        try:
            write_new(quarantine, sealed_rejects)
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        result.quarantine_file = quarantine
    return result


def open_quarantine(path: Path, signer: Ed25519PrivateKey, delivery_id: str) -> list[dict]:
    """The supplier's own rejected rows (with their raw values), opened with its key."""
    try:
        blob = seal.unseal(quarantine_key(signer), path.read_bytes(), delivery_id.encode())
    except OSError as exc:
        raise TTPError(f"{path}: cannot read ({exc.strerror})") from None
    except Exception:  # noqa: BLE001 - every failure to unseal is one line
        raise TTPError(f"{path}: not the rejected rows of delivery {delivery_id} under this key") from None
    return [json.loads(line) for line in blob.decode("utf-8").splitlines() if line]


def write_new(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write a new file via a temp file and a rename (never a half-written delivery)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise TTPError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
