"""A record's identity sealed to one designated recipient (CBS): the TTP carries the blob and cannot open it.

The plaintext is the BSN, or without one the fields CBS links on (birth date, sex, postcode, house number),
as canonical JSON padded to a fixed size so that the blob's length does not tell which form it holds. It is
sealed with HPKE (`keys.envelope`) to the recipient's X25519 key, the recipient's name in the `info`, so a
blob made for one recipient does not open as another's even under the same key.
"""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from keys import envelope
from keys.errors import EnvelopeError

SCHEME = "ttp-identity/v1"
PADDED = 160  # bytes of plaintext: room for the longest form (BSN or birth date, sex, postcode, house number)
FALLBACK_FIELDS = ("birth_date", "sex", "postcode", "huisnummer")


def _info(recipient: str) -> bytes:
    return f"{SCHEME}|{recipient}".encode()


def identity_fields(bsn: str | None, birth_date: str | None, sex: str | None, postcode: str | None,
                    huisnummer: str | None) -> dict[str, str] | None:
    """What the recipient links on: the BSN when there is one, else the fallback fields present (None when
    there is nothing to link on)."""
    if bsn:
        return {"bsn": bsn}
    found = {k: v for k, v in zip(FALLBACK_FIELDS, (birth_date, sex, postcode, huisnummer), strict=True) if v}
    return found or None


def seal_identity(recipient: X25519PublicKey, name: str, fields: dict[str, str]) -> bytes:
    """The identity `fields` sealed to the recipient (every blob the same length)."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    if len(text) > PADDED:
        raise EnvelopeError("an identity is longer than the sealed form holds")
    return envelope.seal_to(recipient, text + b" " * (PADDED - len(text)), _info(name))


def open_identity(key: X25519PrivateKey, name: str, blob: bytes) -> dict[str, str]:
    """At the recipient: the identity fields of a blob sealed to it (`EnvelopeError` for any other key)."""
    text = envelope.open_sealed(key, blob, _info(name))
    try:
        fields = json.loads(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise EnvelopeError("the identity blob is damaged") from None
    if not isinstance(fields, dict):
        raise EnvelopeError("the identity blob is damaged")
    return {str(k): str(v) for k, v in fields.items()}
