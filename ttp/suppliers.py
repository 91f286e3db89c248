"""Suppliers at the TTP: registering their keys, and receiving their deliveries as batches under the TTP's layer.

A delivery is refused, with one line and nothing stored, when its supplier is unknown, its signature does
not verify (any changed byte), its id was ingested before (a replay), it is older than the window
(`TTP_DELIVERY_MAX_AGE_DAYS`, default 14) or dated ahead, or it was made under another version of the
suppliers' shared secret than the one registered for its supplier.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import select

from connectors import ExportFile
from keys import delivery as delivery_file
from keys import envelope
from keys.errors import EnvelopeError
from linkage.bloom import BloomParams
from linkage.pseudonym_store import BLOOM_KEY, FeatureWriter
from linkage.pseudonymise import BLOOM_COLUMNS, HASH_COLUMNS, PSEUDONYM_SCHEME
from linkage.rekey import rekey_features, rekey_ids

from . import db
from .app import Acting
from .errors import Conflict, TTPError
from .ids import new_id
from .ingest import FEATURES, IngestResult, commit_batch, refuse_duplicates
from .objections import drop_objected
from .recipients import active_recipient
from .staging import left_behind, staging_folder
from .supply import FEATURES_PART, IDENTITY_PART, PAYLOAD_PART, REJECTS_PART

DEFAULT_MAX_AGE_DAYS = 14
IDENTITIES = "identities.parquet"  # in a batch folder: blobs sealed to designated recipients, unreadable here
FUTURE_SKEW = dt.timedelta(minutes=10)  # clocks of schools and TTP differ a little
FIXED_COLUMNS = ("record_id", "label_id", "source", "export_file", "key_version", *HASH_COLUMNS, "sex",
                 *BLOOM_COLUMNS)


def is_delivery(path: Path) -> bool:
    """Whether a path is a delivery file (by its first bytes), so `ttp ingest FILE` can tell."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(delivery_file.MAGIC)) == delivery_file.MAGIC
    except OSError:
        return False


def add_supplier(act: Acting, name: str, pem: bytes, secret_version: int) -> dict:
    """Register a supplier's Ed25519 public key and the shared secret version its deliveries use."""
    if not name.strip() or len(name) > 100:
        raise TTPError("a supplier name is 1 to 100 characters")
    if secret_version < 1:
        raise TTPError("--secret-version is a positive integer")
    try:
        key = envelope.load_public(pem, Ed25519PublicKey)
    except EnvelopeError as exc:
        raise TTPError(f"the supplier's public key: {exc} (the supplier makes it with `ttp supplier keygen`)") \
            from None
    if act.session.get(db.Supplier, name) is not None:
        raise Conflict(f"supplier {name!r} is registered already")
    row = db.Supplier(name=name, public_key=envelope.public_pem(key).decode(), fingerprint=envelope.fingerprint(key),
                      secret_version=secret_version, added_by=act.user.name)
    act.session.add(row)
    act.session.flush()
    act.objects.update({"supplier": name})
    act.details.update({"fingerprint": row.fingerprint, "secret_version": secret_version})
    return supplier_doc(row)


def update_supplier(act: Acting, name: str, pem: bytes | None, secret_version: int | None) -> dict:
    """Replace a supplier's key (a lost or compromised one) or the secret version its deliveries must use
    (after the region rotated the shared secret); the old values are in the audit event."""
    row = act.session.get(db.Supplier, name)
    if row is None:
        raise TTPError(f"unknown supplier {name!r}: `ttp suppliers list` shows them")
    if pem is None and secret_version is None:
        raise TTPError("give --public-key PEM, --secret-version N, or both")
    act.objects.update({"supplier": name})
    act.details.update({"was": {"fingerprint": row.fingerprint, "secret_version": row.secret_version}})
    if pem is not None:
        try:
            key = envelope.load_public(pem, Ed25519PublicKey)
        except EnvelopeError as exc:
            raise TTPError(f"the supplier's public key: {exc}") from None
        row.public_key, row.fingerprint = envelope.public_pem(key).decode(), envelope.fingerprint(key)
    if secret_version is not None:
        if secret_version < 1:
            raise TTPError("--secret-version is a positive integer")
        row.secret_version = secret_version
    act.details.update({"fingerprint": row.fingerprint, "secret_version": row.secret_version})
    act.session.flush()
    return supplier_doc(row)


def supplier_doc(row: db.Supplier) -> dict:
    return {"name": row.name, "fingerprint": row.fingerprint, "secret_version": row.secret_version,
            "added_by": row.added_by, "added_at": str(row.added_at)}


def list_suppliers(act: Acting) -> list[dict]:
    return [supplier_doc(r) for r in act.session.scalars(select(db.Supplier).order_by(db.Supplier.name))]


def delivery_key_pem(keystore) -> bytes:
    """The TTP's X25519 public key that suppliers seal deliveries to (derived from the active payload key)."""
    return envelope.public_pem(envelope.recipient_key(keystore.secret(keystore.active("payload").id)).public_key())


def _recipient(keystore, fingerprint: str) -> X25519PrivateKey:
    for entry in keystore.entries():
        if entry.purpose == "payload":
            key = envelope.recipient_key(keystore.secret(entry.id))
            if envelope.fingerprint(key.public_key()) == fingerprint:
                return key
    raise TTPError("the delivery is sealed to a TTP key this keystore does not hold: give the supplier the key "
                   "of `ttp keys export-delivery-key`")


def max_age() -> dt.timedelta:
    text = os.environ.get("TTP_DELIVERY_MAX_AGE_DAYS", str(DEFAULT_MAX_AGE_DAYS))
    try:
        days = float(text)
    except ValueError:
        raise TTPError(f"TTP_DELIVERY_MAX_AGE_DAYS={text!r} is not a number of days") from None
    return dt.timedelta(days=days)


def check_delivery(act: Acting, path: Path, now: dt.datetime) -> tuple[delivery_file.Delivery, db.Supplier]:
    """Read and verify a delivery file; every refusal is one line naming the file and the reason."""
    try:
        found = delivery_file.read(path.read_bytes())
    except OSError as exc:
        raise TTPError(f"{path}: cannot read ({exc.strerror})") from None
    except EnvelopeError as exc:
        raise TTPError(f"{path}: {exc}") from None
    manifest = found.manifest
    name = str(manifest.get("supplier"))
    supplier = act.session.get(db.Supplier, name)
    if supplier is None:
        raise TTPError(f"{path}: unknown supplier {name!r}: an operator registers it with `ttp suppliers add`")
    act.objects.update({"supplier": name})
    try:
        found.verify(envelope.load_public(supplier.public_key.encode(), Ed25519PublicKey))
    except EnvelopeError:
        raise TTPError(f"{path}: the signature does not verify against supplier {name}'s key: the file was "
                       f"altered, or not made by {name}") from None
    earlier = act.session.get(db.Delivery, found.delivery_id)
    if earlier is not None:
        raise TTPError(f"{path}: delivery {found.delivery_id} was ingested before (batch {earlier.batch_id}); "
                       "a replay is refused")
    try:
        created = dt.datetime.fromisoformat(str(manifest["created"]))
        if created.tzinfo is None:
            raise ValueError
    except (KeyError, ValueError):
        raise TTPError(f"{path}: the delivery's creation time is unreadable") from None
    window = max_age()
    if now - created > window:
        raise TTPError(f"{path}: delivery {found.delivery_id} was made {created:%Y-%m-%d %H:%M} UTC, longer ago "
                       f"than the {window.days}-day window: ask {name} for a new delivery")
    if created - now > FUTURE_SKEW:
        raise TTPError(f"{path}: delivery {found.delivery_id} is dated in the future ({created:%Y-%m-%d %H:%M} UTC)")
    scheme = manifest.get("scheme") or {}
    if scheme.get("secret_version") != supplier.secret_version:
        raise TTPError(f"{path}: made under version {scheme.get('secret_version')} of the suppliers' secret; "
                       f"the TTP expects version {supplier.secret_version} from {name}")
    if scheme.get("pseudonym") != PSEUDONYM_SCHEME:
        raise TTPError(f"{path}: pseudonym scheme {scheme.get('pseudonym')!r} is not this ttp's "
                       f"({PSEUDONYM_SCHEME})")
    return found, supplier


def _check_identities(act: Acting, path: Path, manifest: dict, identities: pa.Table | None, record_ids: set[str],
                      secret: bytes, key_version: int) -> bytes | None:
    """The identity blobs of a delivery, their record ids under the TTP's layer, as Parquet to keep beside the
    batch; every recipient they are sealed to must be registered and approved with that very key."""
    named = manifest.get("recipients") or []
    if identities is None:
        if named and any(r.get("identities") for r in named):
            raise TTPError(f"{path}: the manifest names identities the delivery does not hold")
        return None
    fingerprints = {str(r.get("name")): str(r.get("fingerprint")) for r in named}
    if set(identities.column_names) != {"record_id", "recipient", "blob"}:
        raise TTPError(f"{path}: the identities are not the columns `ttp supply` makes")
    frame = identities.to_pandas()
    if set(frame["recipient"]) - set(fingerprints) or not set(frame["record_id"]) <= record_ids:
        raise TTPError(f"{path}: the identities do not match the manifest's recipients and records")
    for name, fingerprint in fingerprints.items():
        active_recipient(act.session, name, fingerprint)
    frame["record_id"] = rekey_ids(frame["record_id"], secret, key_version)
    act.counts["identities"] = len(frame)
    act.details["recipients"] = sorted(fingerprints)
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out)
    return out.getvalue()


def receive_delivery(act: Acting, path: Path, now: dt.datetime | None = None) -> IngestResult:
    """Verify, open and re-key a delivery into a new batch inside the acting transaction, or refuse it."""
    now = now or dt.datetime.now(dt.UTC)
    found, supplier = check_delivery(act, path, now)
    manifest = found.manifest
    keystore, settings = act.app.keystore, act.app.settings
    recipient = _recipient(keystore, str((manifest.get("sealed") or {}).get("recipient")))
    try:
        parts = found.open(recipient)
        counts = manifest["counts"]
        exports = [ExportFile(str(f["name"]), str(f["sha256"]), int(f["size"])) for f in manifest["exports"]]
        source, attach_to = str(manifest["source"]), manifest.get("attach_to")
        features_table = pq.read_table(io.BytesIO(parts[FEATURES_PART]))
        payload = pq.read_table(io.BytesIO(parts[PAYLOAD_PART])).to_pandas()
        rejects = parts[REJECTS_PART]
        identities = pq.read_table(io.BytesIO(parts[IDENTITY_PART])) if parts.get(IDENTITY_PART) else None
    except (EnvelopeError, KeyError, TypeError, ValueError, pa.ArrowException) as exc:
        reason = str(exc) if isinstance(exc, EnvelopeError) else "its parts are not what a delivery holds"
        raise TTPError(f"{path}: {reason}") from None
    refuse_duplicates(act.session, exports)
    features = features_table.to_pandas()
    unexpected = set(features.columns) - set(FIXED_COLUMNS) - {c for c in features.columns if c.startswith("link_")}
    if unexpected or set(FIXED_COLUMNS) - set(features.columns):
        raise TTPError(f"{path}: the features are not the columns `ttp supply` makes")
    if len(features) != counts.get("accepted") or set(features["source"]) - {attach_to or source}:
        raise TTPError(f"{path}: the features do not match the manifest's counts and source")
    try:
        bloom = BloomParams(**json.loads(features_table.schema.metadata[BLOOM_KEY]))
    except (KeyError, TypeError, ValueError):
        raise TTPError(f"{path}: the features carry no valid Bloom parameters") from None
    held = drop_objected(act, features, f"supplier-v{supplier.secret_version}").to_numpy()
    if held.any():  # the child of an objection: dropped before the TTP's layer, counted, never stored
        dropped_ids = set(features.loc[held, "record_id"].astype(str))
        features = features[~held].reset_index(drop=True)
        payload = payload[~payload["record_id"].astype(str).isin(dropped_ids)].reset_index(drop=True)
        if identities is not None:
            keep = pc.invert(pc.is_in(identities["record_id"].cast(pa.string()),
                                      value_set=pa.array(sorted(dropped_ids), type=pa.string())))
            identities = identities.filter(keep)
    objected_rows = int(held.sum())
    linkage_key = keystore.active("linkage")
    secret = keystore.secret(linkage_key.id)
    layered = rekey_features(features, secret, linkage_key.version)
    payload["record_id"] = rekey_ids(payload["record_id"], secret, linkage_key.version)
    identity_bytes = _check_identities(act, path, manifest, identities, set(features["record_id"].astype(str)),
                                       secret, linkage_key.version)
    payload_bytes = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(payload.astype("string"), preserve_index=False), payload_bytes)

    batch_id = new_id("b")
    batches_dir = settings.data_dir / "batches"
    act.counts.update(left_behind(act, batches_dir, db.Batch.id))
    tmp = staging_folder(batches_dir, batch_id)
    try:
        writer = FeatureWriter(tmp / FEATURES, bloom.as_metadata(), linkage_key.version)
        writer.write(layered)
        writer.close()
        if identity_bytes is not None:
            (tmp / IDENTITIES).write_bytes(identity_bytes)
        batch = db.Batch(
            id=batch_id, source=source, sector=str(manifest["sector"]), attach_to=attach_to,
            school_year=manifest.get("school_year"),
            key_id=linkage_key.id, key_version=linkage_key.version,
            rows_read=int(counts["rows_read"]), accepted=int(counts["accepted"]) - objected_rows,
            objected=objected_rows,
            quarantined=int(counts["quarantined"]), fields_dropped=dict(counts.get("fields_dropped") or {}),
            link_kinds=dict(manifest.get("link_kinds") or {}), created_by=act.user.name,
            supplier=supplier.name, secret_version=supplier.secret_version,
        )
        act.session.add(db.Delivery(id=found.delivery_id, supplier=supplier.name, created=str(manifest["created"]),
                                    batch_id=batch_id))
        act.details.update({"delivery": found.delivery_id, "secret_version": supplier.secret_version})
        commit_batch(act, tmp, batch, exports, payload_bytes.getvalue(), rejects)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result = IngestResult(batch_id=batch_id, source=source, sector=batch.sector, rows_read=batch.rows_read,
                          accepted=batch.accepted, quarantined=batch.quarantined, objected=batch.objected,
                          fields_dropped=batch.fields_dropped, key_id=linkage_key.id)
    result.files = [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in exports]
    return result
