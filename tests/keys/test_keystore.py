"""Keystore: creation, rotation, retirement, passphrase change, signing keys, and damage detection."""

import datetime as dt
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys import KeystoreError, KeystoreExists
from keys.keystore import PURPOSES, Keystore, derive_file_key

PASS = "correct horse battery staple"
NOW = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def store_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("ks") / "keystore"
    Keystore.create(path, PASS, now=NOW)
    return path.read_bytes()


@pytest.fixture
def store_path(tmp_path, store_bytes):
    path = tmp_path / "keystore"
    path.write_bytes(store_bytes)
    return path


def test_scrypt_rfc7914_vector():
    out = derive_file_key("password", b"NaCl", 10, 8, 16, length=64)
    assert out.hex() == (
        "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
        "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
    )


def test_create_makes_one_active_key_per_purpose(store_path):
    store = Keystore.open(store_path, PASS)
    entries = store.entries()
    assert [e.purpose for e in entries] == list(PURPOSES)
    assert all(e.version == 1 and e.status == "active" and e.id == f"{e.purpose}-v1" for e in entries)
    assert all(e.created == "2025-01-02T03:04:05+00:00" for e in entries)
    assert len({store.secret(e.id) for e in entries}) == 4
    assert all(len(store.secret(e.id)) == 32 for e in entries)
    assert len({e.fingerprint for e in entries}) == 4


def test_create_refuses_existing_file(store_path):
    before = store_path.read_bytes()
    with pytest.raises(KeystoreExists):
        Keystore.create(store_path, PASS)
    assert store_path.read_bytes() == before


def test_header_records_format_and_scrypt_cost(store_path):
    magic, version, log2n, r, p = struct.unpack_from(">8sBBBB", store_path.read_bytes())
    assert (magic, version, r, p) == (b"TTPKEYS\x00", 1, 8, 1)
    assert log2n >= 15


def test_rotate_makes_new_active_version_and_keeps_old(store_path):
    store = Keystore.open(store_path, PASS)
    old = store.active("linkage")
    new = store.rotate("linkage")
    assert (new.id, new.version, new.status) == ("linkage-v2", 2, "active")
    assert store.entry(old.id).status == "active"
    reopened = Keystore.open(store_path, PASS)
    assert reopened.active("linkage") == new
    assert reopened.secret(old.id) == store.secret(old.id) != reopened.secret(new.id)
    assert store_path.with_name("keystore.bak").exists()


def test_retire_refuses_only_active_key(store_path):
    store = Keystore.open(store_path, PASS)
    with pytest.raises(KeystoreError, match="only active payload key"):
        store.retire("payload-v1")
    store.rotate("payload")
    assert store.retire("payload-v1").status == "retired"
    reopened = Keystore.open(store_path, PASS)
    assert reopened.entry("payload-v1").status == "retired"
    assert reopened.active("payload").id == "payload-v2"
    with pytest.raises(KeystoreError, match="only active"):
        reopened.retire("payload-v2")


def test_unknown_purpose_and_key(store_path):
    store = Keystore.open(store_path, PASS)
    with pytest.raises(KeystoreError, match="unknown key purpose"):
        store.rotate("email")
    with pytest.raises(KeystoreError, match="no key"):
        store.secret("linkage-v9")


def test_change_passphrase_keeps_keys_and_leaves_no_file_under_the_old_one(store_path):
    store = Keystore.open(store_path, PASS)
    secret = store.secret("linkage-v1")
    store.rotate("payload")  # a backup of the state before this exists now, under the old passphrase
    store.change_passphrase("new passphrase ëé")
    with pytest.raises(KeystoreError, match="wrong passphrase or damaged keystore"):
        Keystore.open(store_path, PASS)
    # NFC and NFD spellings of the same passphrase open the same keystore
    nfd = "new passphrase e\u0308e\u0301"
    assert Keystore.open(store_path, nfd).secret("linkage-v1") == secret
    # whoever learnt the old passphrase finds no file it opens; the backup opens with the new one
    for path in store_path.parent.iterdir():
        with pytest.raises(KeystoreError):
            Keystore.open(path, PASS)
    assert Keystore.open(store_path.with_name("keystore.bak"), nfd).secret("linkage-v1") == secret


def test_signing_key_and_public_keys(store_path):
    store = Keystore.open(store_path, PASS)
    signature = store.signing_key().sign(b"checkpoint")
    public = serialization.load_pem_public_key(store.verify_key_pem())
    public.verify(signature, b"checkpoint")
    store.rotate("audit-signing")
    assert store.verify_key_pem() != store.verify_key_pem("audit-signing-v1")
    store.public_key_for("audit-signing-v1").verify(signature, b"checkpoint")
    with pytest.raises(KeystoreError):
        store.public_key_for("linkage-v1")


def test_wrong_passphrase(store_path):
    with pytest.raises(KeystoreError) as info:
        Keystore.open(store_path, PASS + " ")
    assert str(info.value) == "wrong passphrase or damaged keystore"


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(KeystoreError, match="no keystore file"):
        Keystore.open(tmp_path / "nope", PASS)


@given(cut=st.integers(min_value=0, max_value=400))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_truncated_keystore_is_keystore_error(store_bytes, tmp_path, cut):
    path = tmp_path / "truncated"
    path.write_bytes(store_bytes[: min(cut, len(store_bytes) - 1)])
    with pytest.raises(KeystoreError, match="^wrong passphrase or damaged keystore$"):
        Keystore.open(path, PASS)


@given(data=st.data())
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_bit_flipped_keystore_is_keystore_error(store_bytes, tmp_path, data):
    bit = data.draw(st.integers(min_value=0, max_value=len(store_bytes) * 8 - 1))
    blob = bytearray(store_bytes)
    blob[bit // 8] ^= 1 << (bit % 8)
    path = tmp_path / "flipped"
    path.write_bytes(bytes(blob))
    with pytest.raises(KeystoreError, match="^wrong passphrase or damaged keystore$"):
        Keystore.open(path, PASS)


def test_header_asking_for_huge_scrypt_cost_is_refused(store_path):
    blob = bytearray(store_path.read_bytes())
    blob[9] = 40  # log2 N
    store_path.write_bytes(bytes(blob))
    with pytest.raises(KeystoreError, match="damaged"):
        Keystore.open(store_path, PASS)
