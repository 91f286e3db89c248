"""Subkeys derived from one secret with HKDF-SHA256 (RFC 5869), one per purpose, project or field."""

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def subkey(secret: bytes, info: str | bytes, length: int = 32, *, salt: bytes | None = None) -> bytes:
    """Derive `length` bytes from `secret` for the use named by `info` (distinct infos: independent keys)."""
    if not isinstance(secret, bytes | bytearray) or len(secret) < 16:
        raise ValueError("subkey secret must be at least 16 bytes")
    label = info.encode("utf-8") if isinstance(info, str) else bytes(info)
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=label).derive(bytes(secret))


def project_pseudonyms(secret: bytes, recipient: str, project: str, ids: list[str]) -> list[str]:
    """Per id, a pseudonym for one recipient and project: HMAC-SHA256 under a key derived with both in the
    HKDF info, so the files of two recipients or two projects share no pseudonym and cannot be joined."""
    key = subkey(secret, f"ttp/recipient-pseudonym/v1|{recipient}|{project}")
    return [hmac.new(key, i.encode("utf-8"), hashlib.sha256).hexdigest()[:32] for i in ids]
