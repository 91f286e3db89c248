"""Audit events: the model, their canonical leaf bytes and the hash chain over them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stdnum.nl import bsn, onderwijsnummer

from audit.errors import AuditError

GENESIS = bytes(32)
"""The `prev_hash` of the first event."""

ID_FIELDS = ("batch_id", "job_id", "request_id", "release_id", "key_id")
EVENT_FIELDS = (
    "seq", "time", "actor", "role", "action", "outcome",
    *ID_FIELDS, "key_version", "counts", "details",
)
"""Exactly the fields that go into an event's leaf bytes (a stored row adds `prev_hash` and `hash`)."""

_CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_NINE_DIGITS = re.compile(r"\d{9}")
_POSTCODE = re.compile(r"[1-9]\d{3} ?[A-Za-z]{2}")


def format_time(value: datetime | str) -> str:
    """RFC 3339 UTC time with microseconds, e.g. `2025-01-31T09:30:00.000000Z`; naive datetimes are UTC."""
    if isinstance(value, str):
        if _CANONICAL_TIME.fullmatch(value):
            return value
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise AuditError("event field 'time': not an RFC 3339 time") from None
    if not isinstance(value, datetime):
        raise AuditError("event field 'time': expected a datetime or an RFC 3339 string")
    if value.tzinfo is None:  # SQLite hands back naive datetimes; everything is stored as UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _check_json(value: Any, where: str) -> Any:
    """A JSON document with str keys, no floats and no value that looks identifying; returns a plain copy."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        compact = value.replace(" ", "")
        if _NINE_DIGITS.fullmatch(compact) and (bsn.is_valid(compact) or onderwijsnummer.is_valid(compact)):
            raise AuditError(f"event {where}: looks like a BSN or onderwijsnummer (no identifiers)")
        if _POSTCODE.fullmatch(value.strip()):
            raise AuditError(f"event {where}: looks like a postcode (no identifying values)")
        return value
    if isinstance(value, float):
        raise AuditError(f"event {where}: floats are not allowed (hashing needs exact values)")
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditError(f"event {where}: keys must be strings")
            out[key] = _check_json(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_check_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise AuditError(f"event {where}: {type(value).__name__} is not a JSON value")


def _text(value: Any, name: str, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise AuditError(f"event field '{name}' is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise AuditError(f"event field '{name}': expected a string")
    text = str(value)
    if required and not text:
        raise AuditError(f"event field '{name}' is empty")
    return text


@dataclass(frozen=True, slots=True)
class Event:
    """One audited action: who, in what role, did what to which objects, with which key, and how many."""

    seq: int
    time: datetime | str  # given as either; always the canonical text (`format_time`) once constructed
    actor: str
    role: str
    action: str
    outcome: str = "ok"
    batch_id: str | None = None
    job_id: str | None = None
    request_id: str | None = None
    release_id: str | None = None
    key_id: str | None = None
    key_version: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        put = object.__setattr__
        if isinstance(self.seq, bool) or not isinstance(self.seq, int) or self.seq < 1:
            raise AuditError("event field 'seq': expected an integer >= 1")
        put(self, "time", format_time(self.time))
        for name in ("actor", "role", "action", "outcome"):
            put(self, name, _text(getattr(self, name), name, required=True))
        for name in ID_FIELDS:
            put(self, name, _text(getattr(self, name), name, required=False))
        if self.key_version is not None and (isinstance(self.key_version, bool)
                                             or not isinstance(self.key_version, int)):
            raise AuditError("event field 'key_version': expected an integer")
        counts = self.counts or {}
        if not isinstance(counts, Mapping):
            raise AuditError("event field 'counts': expected a mapping of name to integer")
        for key, number in counts.items():
            if not isinstance(key, str) or isinstance(number, bool) or not isinstance(number, int):
                raise AuditError(f"event field 'counts': entry {key!r} must map a name to an integer")
        put(self, "counts", dict(counts))
        details = self.details or {}
        if not isinstance(details, Mapping):
            raise AuditError("event field 'details': expected a JSON object")
        put(self, "details", _check_json(details, "details"))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Event:
        """The event of a stored row (extra columns such as `prev_hash`, `hash` or a row id are ignored)."""
        if "seq" not in row:
            raise AuditError("event row has no 'seq'")
        values: dict[str, Any] = {name: row.get(name) for name in EVENT_FIELDS}
        values["outcome"] = values["outcome"] if values["outcome"] is not None else "ok"
        values["counts"] = values["counts"] or {}
        values["details"] = values["details"] or {}
        for name in ("counts", "details"):  # a JSON column may come back as text
            if isinstance(values[name], str | bytes):
                try:
                    values[name] = json.loads(values[name])
                except ValueError:
                    raise AuditError(f"event {row['seq']}: field '{name}' is not valid JSON") from None
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """All event fields, in EVENT_FIELDS order, as plain JSON values."""
        return {name: getattr(self, name) for name in EVENT_FIELDS}


def new_event(seq: int, actor: str, role: str, action: str, *, time: datetime | str | None = None,
              **fields: Any) -> Event:
    """An event stamped now (UTC) unless `time` is given; other fields by keyword."""
    return Event(seq=seq, time=time if time is not None else datetime.now(UTC), actor=actor, role=role,
                 action=action, **fields)


def leaf_bytes(event: Event | Mapping[str, Any]) -> bytes:
    """Canonical JSON of the event fields: sorted keys, compact separators, UTF-8, ints as ints, no floats."""
    if not isinstance(event, Event):
        event = Event.from_row(event)
    return _encode(event.to_dict())


def _encode(fields: dict[str, Any]) -> bytes:
    try:
        return _ENCODER.encode(fields).encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError):
        raise AuditError(f"event {fields.get('seq')!r}: not encodable as canonical UTF-8 JSON") from None


def stored_leaf_bytes(row: Mapping[str, Any]) -> bytes:
    """`leaf_bytes` of a stored row without re-validating the event: for verifying large logs fast.

    Normalises exactly as `Event` does (time to canonical UTC, ids to text, JSON text columns parsed), so
    an untouched row gives the bytes it was hashed with; a changed row gives other bytes, which is all a
    verifier needs.
    """
    fields: dict[str, Any] = {name: row.get(name) for name in EVENT_FIELDS}
    time = fields["time"]
    if not (isinstance(time, str) and _CANONICAL_TIME.fullmatch(time)):
        fields["time"] = format_time(time)
    for name in ID_FIELDS:
        value = fields[name]
        if value is not None and not isinstance(value, str):
            fields[name] = _text(value, name, required=False)
    if fields["outcome"] is None:
        fields["outcome"] = "ok"
    for name in ("counts", "details"):
        value = fields[name]
        if isinstance(value, str | bytes):
            try:
                fields[name] = json.loads(value)
            except ValueError:
                raise AuditError(f"event {row.get('seq')!r}: field '{name}' is not valid JSON") from None
        elif not value:
            fields[name] = {}
    return _encode(fields)


def chain_from_leaf_hash(prev_hash: bytes, leaf_hash: bytes) -> bytes:
    """SHA-256(prev_hash ‖ leaf_hash), for callers that already hold the RFC 6962 leaf hash."""
    if len(prev_hash) != 32:
        raise AuditError("prev_hash must be 32 bytes")
    return hashlib.sha256(prev_hash + leaf_hash).digest()


def chain(prev_hash: bytes, leaf: bytes) -> bytes:
    """SHA-256(prev_hash ‖ SHA-256(0x00 ‖ leaf)): the chain hash of an event after `prev_hash`."""
    return chain_from_leaf_hash(prev_hash, hashlib.sha256(b"\x00" + leaf).digest())


def to_row(event: Event, prev_hash: bytes) -> dict[str, Any]:
    """The row to store: event fields plus `prev_hash` and `hash` (lowercase hex)."""
    row = event.to_dict()
    row["prev_hash"] = prev_hash.hex()
    row["hash"] = chain(prev_hash, leaf_bytes(event)).hex()
    return row
