"""The delivery file: HPKE sealing to the TTP, the supplier's signature over every byte, the secret file."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from keys import delivery, envelope
from keys.errors import EnvelopeError

SIGNER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
TTP = envelope.recipient_key(bytes(range(32, 64)))


def _packed(parts=None) -> bytes:
    parts = parts if parts is not None else {"features.parquet": b"F" * 100, "payload.parquet": b"P" * 7}
    return delivery.pack({"delivery_id": "d_1", "supplier": "school"}, parts, SIGNER, TTP.public_key())


def test_round_trip_verifies_and_opens():
    read = delivery.read(_packed())
    read.verify(SIGNER.public_key())
    assert read.open(TTP) == {"features.parquet": b"F" * 100, "payload.parquet": b"P" * 7}
    assert read.manifest["sealed"]["recipient"] == envelope.fingerprint(TTP.public_key())
    assert read.manifest["signature"]["signer"] == envelope.fingerprint(SIGNER.public_key())


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_changed_byte_is_refused(data):
    blob = bytearray(_packed())
    i = data.draw(st.integers(0, len(blob) - 1))
    blob[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(EnvelopeError):
        read = delivery.read(bytes(blob))
        read.verify(SIGNER.public_key())
        read.open(TTP)


def test_another_signer_or_recipient_is_refused():
    read = delivery.read(_packed())
    with pytest.raises(EnvelopeError, match="signature"):
        read.verify(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(EnvelopeError, match="another recipient"):
        read.open(X25519PrivateKey.generate())


def test_not_a_delivery_and_cut_short():
    with pytest.raises(EnvelopeError, match="not a ttp delivery"):
        delivery.read(b"id,name\n1,Jan\n")
    with pytest.raises(EnvelopeError, match="cut short"):
        delivery.read(_packed()[:40])


def test_hpke_info_binds_the_delivery_id():
    sealed = envelope.seal_to(TTP.public_key(), b"x", b"ttp/delivery/v1|d_1")
    assert envelope.open_sealed(TTP, sealed, b"ttp/delivery/v1|d_1") == b"x"
    with pytest.raises(EnvelopeError):
        envelope.open_sealed(TTP, sealed, b"ttp/delivery/v1|d_2")


def test_recipient_key_is_derived_deterministically():
    again = envelope.recipient_key(bytes(range(32, 64)))
    assert envelope.public_pem(again.public_key()) == envelope.public_pem(TTP.public_key())
    assert isinstance(envelope.load_public(envelope.public_pem(TTP.public_key()), X25519PublicKey),
                      X25519PublicKey)
    with pytest.raises(EnvelopeError, match="not an X25519"):
        envelope.load_public(envelope.public_pem(SIGNER.public_key()), X25519PublicKey)


def test_private_key_file_needs_its_passphrase():
    pem = envelope.private_pem(SIGNER, "correct horse")
    assert envelope.private_seed(envelope.load_private(pem, "correct horse")) == bytes(range(32))
    with pytest.raises(EnvelopeError, match="wrong passphrase"):
        envelope.load_private(pem, "wrong")


def test_shared_secret_file():
    version, secret = delivery.parse_shared_secret(delivery.new_shared_secret(3))
    assert version == 3 and len(secret) == 32
    for bad in ("", "{}", '{"format": "ttp-supplier-secret/v1", "version": 0, "secret": "00"}'):
        with pytest.raises(EnvelopeError, match="shared secret"):
            delivery.parse_shared_secret(bad)
