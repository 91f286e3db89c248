"""A supplier delivery as one file: a signed manifest and parts sealed to the TTP, and the suppliers' secret file.

File layout (integers unsigned, big-endian):

    magic "TTPDLVR\\0" (8) | format version (1) | manifest length (4) | manifest (canonical UTF-8 JSON)
    | Ed25519 signature (64) over "ttp/delivery/v1\\0" + manifest | sealed parts (the rest)

The sealed parts are the parts' bytes one after another, sealed to the TTP's X25519 key (`keys.envelope`,
HPKE) with the delivery id as `info`. The manifest names each part with its size and SHA-256 and the sealed
blob with its SHA-256, so the signature covers every byte of the file.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from keys import envelope
from keys.errors import EnvelopeError

MAGIC = b"TTPDLVR\x00"
FORMAT_VERSION = 1
FORMAT = "ttp-delivery/v1"
_HEADER = struct.Struct(">8sBI")
_SIGNED = b"ttp/delivery/v1\x00"
SIGNATURE_BYTES = 64
MAX_MANIFEST = 1 << 20
SECRET_FORMAT = "ttp-supplier-secret/v1"


def canonical(document: dict[str, Any]) -> bytes:
    """The one byte form of a manifest that is signed."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _sealing_info(delivery_id: str) -> bytes:
    return f"ttp/delivery/v1|{delivery_id}".encode()


def pack(manifest: dict[str, Any], parts: dict[str, bytes], signer: Ed25519PrivateKey,
         recipient: X25519PublicKey) -> bytes:
    """The delivery file: `manifest` (with `delivery_id`) completed with the parts' and the seal's hashes,
    signed by the supplier, the parts sealed to the TTP."""
    delivery_id = manifest.get("delivery_id")
    if not isinstance(delivery_id, str) or not delivery_id:
        raise EnvelopeError("a delivery manifest needs a delivery_id")
    body = b"".join(parts.values())
    sealed = envelope.seal_to(recipient, body, _sealing_info(delivery_id))
    document = dict(manifest)
    document["format"] = FORMAT
    document["parts"] = [{"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                         for name, data in parts.items()]
    document["sealed"] = {"size": len(sealed), "sha256": hashlib.sha256(sealed).hexdigest(),
                          "scheme": envelope.SEALING, "recipient": envelope.fingerprint(recipient)}
    document["signature"] = {"scheme": envelope.SIGNATURE,
                             "signer": envelope.fingerprint(signer.public_key())}
    text = canonical(document)
    signature = envelope.sign(signer, _SIGNED + text)
    return _HEADER.pack(MAGIC, FORMAT_VERSION, len(text)) + text + signature + sealed


@dataclass(frozen=True)
class Delivery:
    """A delivery file split into its manifest, signature and sealed parts (nothing verified yet)."""

    manifest: dict[str, Any]
    manifest_bytes: bytes
    signature: bytes
    sealed: bytes

    @property
    def delivery_id(self) -> str:
        return str(self.manifest["delivery_id"])

    def verify(self, supplier_key: Ed25519PublicKey) -> None:
        """Raise `EnvelopeError` unless the supplier signed this manifest and the sealed bytes are the ones
        it names (so no byte of the file was changed)."""
        envelope.verify(supplier_key, self.signature, _SIGNED + self.manifest_bytes)
        sealed = self.manifest.get("sealed") or {}
        if sealed.get("sha256") != hashlib.sha256(self.sealed).hexdigest():
            raise EnvelopeError("the sealed parts are not the ones the signed manifest names")

    def open(self, recipient: X25519PrivateKey) -> dict[str, bytes]:
        """The parts, decrypted and checked against their hashes in the manifest (call `verify` first)."""
        body = envelope.open_sealed(recipient, self.sealed, _sealing_info(self.delivery_id))
        out: dict[str, bytes] = {}
        offset = 0
        for part in self.manifest["parts"]:
            data = body[offset : offset + int(part["size"])]
            offset += int(part["size"])
            if hashlib.sha256(data).hexdigest() != part["sha256"]:
                raise EnvelopeError(f"part {part['name']} does not match its hash")
            out[str(part["name"])] = data
        if offset != len(body):
            raise EnvelopeError("the sealed parts hold more than the manifest names")
        return out


def read(blob: bytes) -> Delivery:
    """Split a delivery file; anything that is not one (or is cut short) is `EnvelopeError`."""
    if len(blob) < _HEADER.size or blob[:8] != MAGIC:
        raise EnvelopeError("not a ttp delivery file")
    _, version, length = _HEADER.unpack_from(blob)
    if version != FORMAT_VERSION:
        raise EnvelopeError(f"delivery format version {version} is not supported (this ttp reads {FORMAT_VERSION})")
    end = _HEADER.size + length
    if length > MAX_MANIFEST or len(blob) < end + SIGNATURE_BYTES:
        raise EnvelopeError("the delivery file is damaged or cut short")
    text = blob[_HEADER.size : end]
    try:
        manifest = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise EnvelopeError("the delivery's manifest is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not manifest.get("delivery_id") \
            or not isinstance(manifest.get("parts"), list):
        raise EnvelopeError("the delivery's manifest is damaged")
    return Delivery(manifest, bytes(text), bytes(blob[end : end + SIGNATURE_BYTES]),
                    bytes(blob[end + SIGNATURE_BYTES :]))


def new_shared_secret(version: int) -> str:
    """The text of a new suppliers' shared linkage secret file (made once by the coordinating party)."""
    if not isinstance(version, int) or version < 1:
        raise EnvelopeError("a secret version is a positive integer")
    return json.dumps({"format": SECRET_FORMAT, "version": version, "secret": secrets.token_hex(32)}) + "\n"


def parse_shared_secret(text: str) -> tuple[int, bytes]:
    """(version, 32 secret bytes) of a shared secret file; anything else is `EnvelopeError`."""
    try:
        document = json.loads(text)
        version, secret = document["version"], bytes.fromhex(document["secret"])
        ok = document["format"] == SECRET_FORMAT and isinstance(version, int) and version >= 1
    except (ValueError, TypeError, KeyError):
        ok = False
    if not ok or len(secret) != 32:
        raise EnvelopeError("not a suppliers' shared secret file (ttp supplier new-secret makes one)")
    return version, secret
