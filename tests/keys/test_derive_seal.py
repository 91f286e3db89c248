"""Known-answer and property tests for HKDF subkeys and the AES-256-GCM seal format."""

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from keys import SealError
from keys.derive import subkey
from keys.seal import new_data_key, seal, unseal, unwrap, wrap

# RFC 5869 appendix A.1 (test case 1) and A.3 (test case 3: no salt, empty info)
IKM = bytes.fromhex("0b" * 22)
RFC5869_TC1 = (
    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
)
RFC5869_TC3 = (
    "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
)

# The GCM specification (McGrew & Viega), test case 16: AES-256, 96-bit IV, 60-byte plaintext, 20-byte AAD
GCM_KEY = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
GCM_IV = bytes.fromhex("cafebabefacedbaddecaf888")
GCM_PT = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
)
GCM_AAD = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM_CT = bytes.fromhex(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
)
GCM_TAG = bytes.fromhex("76fc6ece0f4e1768cddf8853bb2d551b")


def test_subkey_rfc5869_case_1():
    assert subkey(IKM, bytes(range(0xF0, 0xFA)), 42, salt=bytes(range(13))).hex() == RFC5869_TC1


def test_subkey_rfc5869_case_3():
    assert subkey(IKM, "", 42).hex() == RFC5869_TC3


@given(st.text(max_size=20), st.text(max_size=20))
@settings(max_examples=30)
def test_subkeys_for_different_infos_differ(a, b):
    secret = bytes(range(32))
    assert (subkey(secret, a) == subkey(secret, b)) == (a == b)


def test_gcm_vector_through_seal_format():
    assert AESGCM(GCM_KEY).encrypt(GCM_IV, GCM_PT, GCM_AAD) == GCM_CT + GCM_TAG
    blob = bytes([1]) + GCM_IV + GCM_CT + GCM_TAG
    assert unseal(GCM_KEY, blob, GCM_AAD) == GCM_PT


def test_seal_round_trip_uses_fresh_nonces():
    key = new_data_key()
    a, b = seal(key, b"payload", b"batch-1"), seal(key, b"payload", b"batch-1")
    assert a != b
    assert unseal(key, a, b"batch-1") == unseal(key, b, b"batch-1") == b"payload"


@pytest.mark.parametrize(
    "change",
    [
        lambda k, blob, aad: (new_data_key(), blob, aad),
        lambda k, blob, aad: (k, blob, aad + b"x"),
        lambda k, blob, aad: (k, blob[:-1], aad),
        lambda k, blob, aad: (k, blob[:5], aad),
        lambda k, blob, aad: (k, bytes([2]) + blob[1:], aad),
        lambda k, blob, aad: (k[:16], blob, aad),
        lambda k, blob, aad: (k, blob, "text aad"),
    ],
)
def test_unseal_failures_are_seal_errors(change):
    key = new_data_key()
    blob = seal(key, b"secret payload", b"aad")
    with pytest.raises(SealError):
        unseal(*change(key, blob, b"aad"))


@given(st.integers(min_value=0, max_value=8 * 40 - 1))
@settings(max_examples=40)
def test_any_bit_flip_is_detected(bit):
    key = bytes(32)
    blob = bytearray(seal(key, b"twelve bytes", b"aad"))
    blob[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(SealError):
        unseal(key, bytes(blob), b"aad")


def test_envelope_wrap_unwrap():
    master, data_key = new_data_key(), new_data_key()
    wrapped = wrap(master, data_key, b"batch-7")
    assert unwrap(master, wrapped, b"batch-7") == data_key
    with pytest.raises(SealError):
        unwrap(master, wrapped, b"batch-8")
    # a wrapped key is not a plain sealed blob under the same aad (domain separation)
    with pytest.raises(SealError):
        unseal(master, wrapped, b"batch-7")
    with pytest.raises(SealError):
        wrap(master, b"short", b"batch-7")
