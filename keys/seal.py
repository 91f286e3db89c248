"""Authenticated encryption of blobs (AES-256-GCM) and envelope encryption with per-batch data keys.

Blob format: one version byte (0x01), the random 96-bit nonce, then ciphertext and 128-bit tag. The
associated data is not stored: the caller supplies the same bytes (e.g. batch id and purpose) to unseal.
"""

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keys.errors import SealError

BLOB_VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
_WRAP_LABEL = b"ttp/keys/wrap/v1|"


def new_data_key() -> bytes:
    """A fresh random 32-byte data key (one per batch)."""
    return secrets.token_bytes(KEY_BYTES)


def seal(key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Encrypt and authenticate `plaintext` under `key`, binding `aad`; a fresh random nonce each call."""
    aead = _aead(key)
    nonce = secrets.token_bytes(NONCE_BYTES)
    return bytes([BLOB_VERSION]) + nonce + aead.encrypt(nonce, _as_bytes(plaintext), _as_bytes(aad))


def unseal(key: bytes, blob: bytes, aad: bytes = b"") -> bytes:
    """Decrypt a blob made by `seal`; any wrong key, aad, version or damage raises `SealError`."""
    aead = _aead(key)
    if not isinstance(blob, bytes | bytearray) or len(blob) < 1 + NONCE_BYTES + 16 or blob[0] != BLOB_VERSION:
        raise SealError("cannot unseal: unknown format or damaged blob")
    nonce, body = bytes(blob[1 : 1 + NONCE_BYTES]), bytes(blob[1 + NONCE_BYTES :])
    try:
        return aead.decrypt(nonce, body, _as_bytes(aad))
    except InvalidTag:
        raise SealError("cannot unseal: wrong key, wrong associated data or damaged blob") from None


def wrap(master: bytes, data_key: bytes, aad: bytes = b"") -> bytes:
    """Seal a data key under a master (payload) key; the aad names what the data key protects."""
    if not isinstance(data_key, bytes | bytearray) or len(data_key) != KEY_BYTES:
        raise SealError("cannot wrap: a data key must be 32 bytes")
    return seal(master, data_key, _WRAP_LABEL + _as_bytes(aad))


def unwrap(master: bytes, wrapped: bytes, aad: bytes = b"") -> bytes:
    """Recover a data key wrapped by `wrap` with the same master key and aad."""
    data_key = unseal(master, wrapped, _WRAP_LABEL + _as_bytes(aad))
    if len(data_key) != KEY_BYTES:
        raise SealError("cannot unwrap: not a wrapped data key")
    return data_key


def _aead(key: bytes) -> AESGCM:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise SealError("seal key must be 32 bytes")
    return AESGCM(bytes(key))


def _as_bytes(value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise SealError("plaintext and associated data must be bytes")
    return bytes(value)
