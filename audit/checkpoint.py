"""Checkpoints (c2sp.org/tlog-checkpoint) as C2SP signed notes (c2sp.org/signed-note) with Ed25519."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.errors import AuditError

ED25519 = b"\x01"
"""The signed-note signature type of Ed25519."""
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100
TIME_EXTENSION = "time "

PublicKeyLike = Ed25519PublicKey | Ed25519PrivateKey | bytes | str
"""An Ed25519 public key object, PEM (bytes or str), 32 raw bytes, or a vkey string."""

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A parsed checkpoint: origin, tree size, root hash, the `time` extension and any other extensions."""

    origin: str
    size: int
    root: bytes
    time: str | None
    extensions: tuple[str, ...]
    body: str
    signers: tuple[str, ...] = ()
    """Key names of the signature lines (only the verified one after `verify_checkpoint`)."""


def check_key_name(name: str) -> str:
    if not isinstance(name, str) or not name or any(c.isspace() or c == "+" for c in name):
        raise AuditError("key name must be non-empty, without spaces or '+'")
    return name


def load_public_key(value: PublicKeyLike) -> Ed25519PublicKey:
    """An Ed25519 public key from a key object, PEM, 32 raw bytes or a vkey string."""
    if isinstance(value, Ed25519PublicKey):
        return value
    if isinstance(value, Ed25519PrivateKey):
        return value.public_key()
    if isinstance(value, str) and not value.lstrip().startswith("-----"):
        return parse_vkey(value)[1]
    data = value.encode("ascii") if isinstance(value, str) else value
    if isinstance(data, bytes | bytearray) and len(data) == 32:
        return Ed25519PublicKey.from_public_bytes(bytes(data))
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise AuditError("public key is neither PEM, 32 raw bytes nor a vkey") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError("public key is not an Ed25519 key")
    return key


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_hash(key_name: str, key: PublicKeyLike) -> bytes:
    """The 4-byte key ID: SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4]."""
    raw = _raw(load_public_key(key))
    return hashlib.sha256(check_key_name(key_name).encode() + b"\n" + ED25519 + raw).digest()[:4]


def vkey(key_name: str, key: PublicKeyLike) -> str:
    """The verifier key string `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`."""
    raw = _raw(load_public_key(key))
    return f"{key_name}+{key_hash(key_name, key).hex()}+{base64.b64encode(ED25519 + raw).decode()}"


def parse_vkey(text: str) -> tuple[str, Ed25519PublicKey]:
    """(key name, public key) of a vkey; its key ID must match."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise AuditError("vkey must be '<name>+<hex key id>+<base64 key>'")
    name, hex_id, b64 = parts
    try:
        material = base64.b64decode(b64, validate=True)
        declared = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError):
        raise AuditError("vkey: malformed key id or key") from None
    if len(declared) != 4 or len(material) != 33 or material[:1] != ED25519:
        raise AuditError("vkey: not an Ed25519 verifier key")
    key = Ed25519PublicKey.from_public_bytes(material[1:])
    if key_hash(name, key) != declared:
        raise AuditError("vkey: key id does not match the name and key")
    return name, key


def _check_text(text: str, what: str) -> None:
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise AuditError(f"{what} contains a control character")


def sign_note(text: str, private_key: Ed25519PrivateKey, key_name: str) -> str:
    """A signed note: `text` (ending in a newline), a blank line, one Ed25519 signature line."""
    check_key_name(key_name)
    if not text.endswith("\n") or "\n\n" in text:
        raise AuditError("note text must end in a newline and contain no blank line")
    _check_text(text, "note text")
    signature = private_key.sign(text.encode("utf-8"))
    blob = base64.b64encode(key_hash(key_name, private_key) + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{key_name} {blob}\n"


def split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """(text, [(key name, key ID, signature)]) of a signed note, checking its syntax only."""
    if not isinstance(note, str):
        raise AuditError("note must be text")
    _check_text(note, "note")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise AuditError("note has no blank line before its signatures")
    text, lines = note[: cut + 1], note[cut + 2 : -1].split("\n")
    if lines == [""] or len(lines) > MAX_SIGNATURES:
        raise AuditError("note must have between 1 and 100 signature lines")
    signatures = []
    for number, line in enumerate(lines, 1):
        if not line.startswith(SIGNATURE_PREFIX):
            raise AuditError(f"note signature line {number} does not start with an em dash and a space")
        name, _, b64 = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
        try:
            blob = base64.b64decode(b64, validate=True)
            check_key_name(name)
        except (binascii.Error, ValueError, AuditError):
            raise AuditError(f"note signature line {number} is malformed") from None
        if len(blob) < 5:
            raise AuditError(f"note signature line {number} is too short")
        signatures.append((name, blob[:4], blob[4:]))
    return text, signatures


def open_note(note: str, keys: Mapping[str, PublicKeyLike]) -> tuple[str, str]:
    """(text, key name) of a note carrying a valid signature by one of `keys` (key name → public key).

    Signatures by unknown keys are ignored; a signature by a known key that fails rejects the note.
    """
    text, signatures = split_note(note)
    trusted = {name: load_public_key(key) for name, key in keys.items()}
    verified = None
    for name, key_id, signature in signatures:
        key = trusted.get(name)
        if key is None or key_hash(name, key) != key_id:
            continue
        try:
            key.verify(signature, text.encode("utf-8"))
        except InvalidSignature:
            raise AuditError(f"note signature by key '{name}' is invalid") from None
        verified = verified or name
    if verified is None:
        names = ", ".join(sorted(trusted)) or "none"
        raise AuditError(f"note is not signed by a trusted key (trusted: {names})")
    return text, verified


def format_checkpoint_time(value: datetime | str) -> str:
    """RFC 3339 UTC to the second, e.g. `2025-01-31T09:30:00Z`; naive datetimes are UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise AuditError("checkpoint time is not an RFC 3339 time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def checkpoint_body(origin: str, size: int, root: bytes, time: datetime | str,
                    extensions: tuple[str, ...] = ()) -> str:
    """The note text of a checkpoint: origin, size, base64 root, `time <RFC 3339>`, further extensions."""
    if not origin or "\n" in origin or origin != origin.strip():
        raise AuditError("checkpoint origin must be one non-empty line without outer spaces")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise AuditError("checkpoint size must be a non-negative integer")
    if len(root) != 32:
        raise AuditError("checkpoint root must be 32 bytes")
    lines = [origin, str(size), base64.b64encode(root).decode(),
             TIME_EXTENSION + format_checkpoint_time(time), *extensions]
    if any(not line or "\n" in line for line in lines[4:]):
        raise AuditError("checkpoint extensions must be non-empty single lines")
    return "\n".join(lines) + "\n"


def sign_checkpoint(origin: str, size: int, root: bytes, time: datetime | str,
                    private_key: Ed25519PrivateKey, key_name: str) -> str:
    """A signed checkpoint note for the tree (size, root) of log `origin`."""
    return sign_note(checkpoint_body(origin, size, root, time), private_key, key_name)


def parse_body(body: str) -> Checkpoint:
    lines = body.split("\n")[:-1]
    if len(lines) < 3:
        raise AuditError("checkpoint needs an origin, a size and a root hash line")
    if "" in lines:
        raise AuditError("checkpoint has an empty line")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise AuditError("checkpoint origin line is empty")
    if not _DECIMAL.fullmatch(size_text):
        raise AuditError("checkpoint size line is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise AuditError("checkpoint root hash line is not base64") from None
    if len(root) != 32 or base64.b64encode(root).decode() != root_text:
        raise AuditError("checkpoint root hash is not a 32-byte hash in canonical base64")
    times = [line[len(TIME_EXTENSION) :] for line in extensions if line.startswith(TIME_EXTENSION)]
    if len(times) > 1:
        raise AuditError("checkpoint has more than one time line")
    time = format_checkpoint_time(times[0]) if times else None
    return Checkpoint(origin, int(size_text), root, time, tuple(extensions), body)


def parse_checkpoint(text: str) -> Checkpoint:
    """A checkpoint note's contents and signer names, checking syntax but NOT the signature."""
    body, signatures = split_note(text)
    checkpoint = parse_body(body)
    return Checkpoint(**{**_fields(checkpoint), "signers": tuple(name for name, _, _ in signatures)})


def verify_checkpoint(text: str, public_key: PublicKeyLike | Mapping[str, PublicKeyLike],
                      key_name: str | None = None) -> Checkpoint:
    """The checkpoint, once its signature by `key_name` (or any name in a mapping) verifies."""
    if isinstance(public_key, Mapping):
        keys = dict(public_key)
    elif key_name is not None:
        keys = {key_name: public_key}
    elif isinstance(public_key, str) and "+" in public_key and not public_key.lstrip().startswith("-----"):
        name, key = parse_vkey(public_key)
        keys = {name: key}
    else:  # only a key: take the names on the signature lines, the key ID still binds name and key
        keys = {name: public_key for name, _, _ in split_note(text)[1]}
    body, signer = open_note(text, keys)
    checkpoint = parse_body(body)
    return Checkpoint(**{**_fields(checkpoint), "signers": (signer,)})


def _fields(checkpoint: Checkpoint) -> dict:
    return {name: getattr(checkpoint, name) for name in Checkpoint.__slots__}
