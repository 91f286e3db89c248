"""Checkpoints: the signed-note known answer, signing and verifying, and every way a note can be bad."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.checkpoint import (
    key_hash,
    open_note,
    parse_checkpoint,
    parse_vkey,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
    vkey,
)
from audit.errors import AuditError

# The example of golang.org/x/mod/sumdb/note (also in the C2SP signed-note ecosystem's tests).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_NOTE = (GO_TEXT + "\n\u2014 PeterNeumann "
           "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
ROOT = bytes(range(32))
TIME = "2025-03-01T08:00:00Z"


def go_private_key() -> Ed25519PrivateKey:
    material = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert material[0] == 1
    return Ed25519PrivateKey.from_private_bytes(material[1:])


def test_signed_note_known_answer():
    key = go_private_key()
    assert sign_note(GO_TEXT, key, "PeterNeumann") == GO_NOTE
    assert vkey("PeterNeumann", key) == GO_VKEY
    assert key_hash("PeterNeumann", key).hex() == "c74f20a3"
    assert open_note(GO_NOTE, {"PeterNeumann": GO_VKEY}) == (GO_TEXT, "PeterNeumann")
    with pytest.raises(AuditError):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), {"PeterNeumann": GO_VKEY})


def test_checkpoint_layout(key):
    note = sign_checkpoint("ttp.test/audit", 42, ROOT, TIME, key, "audit-v1")
    body, _, signature = note.partition("\n\n")
    assert body.split("\n") == ["ttp.test/audit", "42", base64.b64encode(ROOT).decode(), "time " + TIME]
    assert signature.startswith("\u2014 audit-v1 ") and signature.endswith("\n")
    blob = base64.b64decode(signature.split(" ")[2])
    assert len(blob) == 68 and blob[:4] == key_hash("audit-v1", key)


@pytest.mark.parametrize("form", ["object", "pem", "pem_text", "raw", "vkey", "mapping"])
def test_verify_accepts_every_public_key_form(key, form):
    public = key.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    given_key = {"object": public, "pem": pem, "pem_text": pem.decode(), "raw": raw,
                 "vkey": vkey("audit-v1", key), "mapping": {"audit-v1": pem}}[form]
    note = sign_checkpoint("ttp.test/audit", 7, ROOT, TIME, key, "audit-v1")
    checkpoint = verify_checkpoint(note, given_key, "audit-v1" if form in ("object", "pem") else None)
    parsed = (checkpoint.origin, checkpoint.size, checkpoint.root, checkpoint.time)
    assert parsed == ("ttp.test/audit", 7, ROOT, TIME)
    assert checkpoint.signers == ("audit-v1",)


def test_wrong_key_and_wrong_name_are_refused(key, other_key):
    note = sign_checkpoint("ttp.test/audit", 7, ROOT, TIME, key, "audit-v1")
    with pytest.raises(AuditError, match="not signed by a trusted key"):
        verify_checkpoint(note, other_key.public_key(), "audit-v1")
    with pytest.raises(AuditError, match="not signed by a trusted key"):
        verify_checkpoint(note, key.public_key(), "audit-v2")


def test_forged_signature_and_edited_body_are_refused(key):
    note = sign_checkpoint("ttp.test/audit", 7, ROOT, TIME, key, "audit-v1")
    blob = base64.b64decode(note.rsplit(" ", 1)[1])
    flipped = base64.b64encode(blob[:-1] + bytes([blob[-1] ^ 1])).decode()
    forged = note.rsplit(" ", 1)[0] + " " + flipped + "\n"
    for bad in (forged, note.replace("\n7\n", "\n8\n")):
        with pytest.raises(AuditError, match="invalid") as raised:
            verify_checkpoint(bad, key.public_key(), "audit-v1")
        assert "\n" not in str(raised.value)


def test_unknown_cosignatures_are_ignored(key, other_key):
    note = sign_checkpoint("ttp.test/audit", 7, ROOT, TIME, key, "audit-v1")
    witness_line = sign_note(note.split("\n\n")[0] + "\n", other_key, "witness").split("\n\n")[1]
    cosigned = note + witness_line
    assert verify_checkpoint(cosigned, key.public_key(), "audit-v1").size == 7
    assert verify_checkpoint(cosigned, other_key.public_key(), "witness").size == 7


@pytest.mark.parametrize("mangle", [
    lambda n: n.replace("\n\n", "\n"),                     # no blank line
    lambda n: n.replace("\u2014 ", "-- "),                 # not an em dash
    lambda n: n.replace("\n7\n", "\n07\n"),                # size with a leading zero
    lambda n: n.replace("\n7\n", "\n-7\n"),                # negative size
    lambda n: n.replace("time ", "time yesterday "),       # bad time
    lambda n: n.replace("ttp.test/audit\n", ""),           # too few lines
    lambda n: n.replace(base64.b64encode(ROOT).decode(), base64.b64encode(ROOT[:31]).decode()),
    lambda n: n.replace("\n7\n", "\n7\r\n"),               # control character
    lambda n: n.rstrip("\n"),                              # no final newline
    lambda n: n.split("\n\n")[0] + "\n\n",                 # no signature line
])
def test_malformed_checkpoints_raise_one_line(key, mangle):
    note = sign_checkpoint("ttp.test/audit", 7, ROOT, TIME, key, "audit-v1")
    with pytest.raises(AuditError) as raised:
        verify_checkpoint(mangle(note), key.public_key(), "audit-v1")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("name", ["", "has space", "a+b"])
def test_bad_key_names_are_refused(key, name):
    with pytest.raises(AuditError):
        sign_checkpoint("o", 1, ROOT, TIME, key, name)


def test_vkey_round_trip_and_tampering(key):
    text = vkey("audit-v1", key)
    name, public = parse_vkey(text)
    assert name == "audit-v1" and vkey(name, public) == text
    with pytest.raises(AuditError):
        parse_vkey(text.replace("audit-v1", "audit-v2", 1))


@settings(max_examples=40, deadline=None)
@given(origin=st.text(alphabet=st.characters(categories=["L", "N", "P"]), min_size=1, max_size=30),
       size=st.integers(0, 2**63), root=st.binary(min_size=32, max_size=32))
def test_parse_round_trip(key, origin, size, root):
    note = sign_checkpoint(origin, size, root, TIME, key, "audit-v1")
    parsed = parse_checkpoint(note)
    assert (parsed.origin, parsed.size, parsed.root, parsed.time) == (origin, size, root, TIME)
    assert verify_checkpoint(note, key.public_key(), "audit-v1").size == size
