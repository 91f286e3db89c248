"""Sealing to a public key (HPKE, RFC 9180) and Ed25519 signatures: the primitives of a supplier delivery.

Sealing is HPKE base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and AES-256-GCM, as `cryptography`
(>= 47) implements it; the `info` bytes bind a sealed blob to what it is (a delivery id). Every failure to
open, verify or load is one opaque `EnvelopeError` whose message names no secret.
"""

from __future__ import annotations

import hashlib
import json

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from keys.derive import subkey
from keys.errors import EnvelopeError

SEALING = "hpke-base/dhkem-x25519-hkdf-sha256/hkdf-sha256/aes-256-gcm"
SIGNATURE = "ed25519"
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def recipient_key(secret: bytes) -> X25519PrivateKey:
    """The X25519 key pair derived from a 32-byte keystore secret (so the keystore needs no new entry)."""
    return X25519PrivateKey.from_private_bytes(subkey(secret, "ttp/delivery/x25519/v1"))


def seal_to(recipient: X25519PublicKey, plaintext: bytes, info: bytes) -> bytes:
    """Encrypt `plaintext` so that only the holder of the recipient's private key can read it."""
    return _SUITE.encrypt(bytes(plaintext), recipient, info=bytes(info))


def open_sealed(recipient: X25519PrivateKey, blob: bytes, info: bytes) -> bytes:
    """Decrypt a blob made by `seal_to` with the same `info`; any other key, info or damage fails."""
    try:
        return _SUITE.decrypt(bytes(blob), recipient, info=bytes(info))
    except (InvalidTag, ValueError):
        raise EnvelopeError("cannot open the sealed part: another recipient key, or damaged") from None


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    """An Ed25519 signature (64 bytes) over `message`."""
    return key.sign(bytes(message))


def verify(key: Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    """Raise `EnvelopeError` unless `signature` is `key`'s signature over `message`."""
    try:
        key.verify(bytes(signature), bytes(message))
    except InvalidSignature:
        raise EnvelopeError("the signature does not verify") from None


def fingerprint(key: X25519PublicKey | Ed25519PublicKey) -> str:
    """32 hex characters of SHA-256 over the raw public key: a name for a key that is safe to print."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def public_pem(key: X25519PublicKey | Ed25519PublicKey) -> bytes:
    """A public key as PEM (SubjectPublicKeyInfo)."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public(pem: bytes, kind: type[X25519PublicKey] | type[Ed25519PublicKey]):
    """A PEM public key of the expected kind (X25519 or Ed25519), else `EnvelopeError`."""
    try:
        key = serialization.load_pem_public_key(bytes(pem))
    except (ValueError, TypeError):
        raise EnvelopeError("not a PEM public key") from None
    if not isinstance(key, kind):
        wanted = "X25519" if kind is X25519PublicKey else "Ed25519"
        raise EnvelopeError(f"not an {wanted} public key")
    return key


def private_pem(key: Ed25519PrivateKey, passphrase: str) -> bytes:
    """An Ed25519 private key as PKCS#8 PEM, encrypted under the passphrase."""
    if not passphrase:
        raise EnvelopeError("the passphrase must not be empty")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase.encode("utf-8")))


def load_private(pem: bytes, passphrase: str) -> Ed25519PrivateKey:
    """An encrypted PEM Ed25519 private key; a wrong passphrase or another kind of key is `EnvelopeError`."""
    try:
        key = serialization.load_pem_private_key(bytes(pem), passphrase.encode("utf-8"))
    except (ValueError, TypeError):
        raise EnvelopeError("wrong passphrase, or not an encrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EnvelopeError("not an Ed25519 private key")
    return key


def private_seed(key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of an Ed25519 private key (to derive the supplier's own sealing key from)."""
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


RELEASE_SIGNED = b"ttp/recipient-release/v1\x00"


def sign_release(key: Ed25519PrivateKey, manifest: bytes) -> bytes:
    """The TTP's signature over a recipient release's manifest (which names every file by its SHA-256)."""
    return sign(key, RELEASE_SIGNED + bytes(manifest))


def verify_release(key: Ed25519PublicKey, manifest: bytes, signature: bytes, files: dict[str, bytes]) -> None:
    """At the recipient: the manifest is the TTP's and every file is the one it names (`EnvelopeError` if not)."""
    verify(key, signature, RELEASE_SIGNED + bytes(manifest))
    try:
        named = {str(f["name"]): str(f["sha256"]) for f in json.loads(manifest.decode("utf-8"))["files"]}
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise EnvelopeError("the release manifest is damaged") from None
    if set(named) != set(files):
        raise EnvelopeError("the release holds other files than its manifest names")
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != named[name]:
            raise EnvelopeError(f"{name} is not the file the signed manifest names")
