"""Identities sealed to a designated recipient: only its key opens them, and every blob is the same size."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from keys import identity
from keys.errors import EnvelopeError

CBS = X25519PrivateKey.generate()
digits = st.text(alphabet="0123456789", min_size=1, max_size=12)


@given(bsn=st.one_of(st.none(), digits), birth=st.one_of(st.none(), st.dates().map(str)),
       sex=st.sampled_from([None, "M", "F", "X"]), postcode=st.one_of(st.none(), st.from_regex(r"[1-9]\d{3}[A-Z]{2}",
                                                                                               fullmatch=True)),
       house=st.one_of(st.none(), digits))
def test_what_goes_in_comes_out_at_the_recipient_only_in_blobs_of_one_size(bsn, birth, sex, postcode, house):
    fields = identity.identity_fields(bsn, birth, sex, postcode, house)
    if fields is None:
        assert not any((bsn, birth, sex, postcode, house))
        return
    assert fields == ({"bsn": bsn} if bsn else {k: v for k, v in zip(identity.FALLBACK_FIELDS,
                                                                     (birth, sex, postcode, house), strict=True) if v})
    blob = identity.seal_identity(CBS.public_key(), "cbs", fields)
    assert len(blob) == len(identity.seal_identity(CBS.public_key(), "cbs", {"bsn": "1"}))
    assert identity.open_identity(CBS, "cbs", blob) == fields
    with pytest.raises(EnvelopeError):
        identity.open_identity(X25519PrivateKey.generate(), "cbs", blob)


def test_a_blob_for_one_recipient_name_does_not_open_as_another_and_damage_is_refused():
    blob = identity.seal_identity(CBS.public_key(), "cbs", {"bsn": "123456782"})
    with pytest.raises(EnvelopeError):
        identity.open_identity(CBS, "cbs-2", blob)
    with pytest.raises(EnvelopeError):
        identity.open_identity(CBS, "cbs", blob[:-1] + bytes([blob[-1] ^ 1]))
    assert blob != identity.seal_identity(CBS.public_key(), "cbs", {"bsn": "123456782"})  # fresh every time
