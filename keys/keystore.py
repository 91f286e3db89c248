"""The operator's keystore: one file of per-purpose, versioned keys, encrypted under the passphrase.

File layout (all integers unsigned, big-endian), the whole header authenticated as AES-GCM associated data:

    magic "TTPKEYS\\0" (8) | format version (1) | log2 scrypt N (1) | scrypt r (1) | scrypt p (1)
    | salt (16) | nonce (12) | AES-256-GCM(ciphertext + tag) of the UTF-8 JSON body

The file key is scrypt(passphrase NFC-normalised, UTF-8; salt; N >= 2^15, r=8, p=1). Every write is atomic
(temp file, fsync, rename) and keeps the previous file as `<name>.bak`, except a change of passphrase: then
the backup is the new file too, so no file opens with the old passphrase.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import struct
import unicodedata
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from keys.derive import subkey
from keys.errors import KeystoreError, KeystoreExists

PURPOSES = ("linkage", "payload", "quarantine", "audit-signing")
ACTIVE, RETIRED = "active", "retired"
FORMAT_VERSION = 1
MAGIC = b"TTPKEYS\x00"
_HEADER = struct.Struct(">8sBBBB16s12s")
SCRYPT_LOG2N, SCRYPT_R, SCRYPT_P = 15, 8, 1
_MIN_LOG2N, _MAX_LOG2N = 15, 20
DAMAGED = "wrong passphrase or damaged keystore"


@dataclass(frozen=True)
class KeyEntry:
    """One key's public description (never its secret)."""

    id: str
    purpose: str
    version: int
    created: str
    status: str
    fingerprint: str


def derive_file_key(passphrase: str, salt: bytes, log2n: int, r: int, p: int, length: int = 32) -> bytes:
    """scrypt (RFC 7914) over the NFC-normalised UTF-8 passphrase: the key that encrypts the keystore file."""
    return Scrypt(salt=salt, length=length, n=1 << log2n, r=r, p=p).derive(_passphrase_bytes(passphrase))


class Keystore:
    """An opened keystore; every change is written to disk before the call returns."""

    def __init__(self, path: Path, file_key: bytes, params: tuple[int, int, int, bytes], body: dict) -> None:
        self._path = path
        self._file_key = file_key
        self._params = params  # log2n, r, p, salt
        self._entries: dict[str, KeyEntry] = {}
        self._secrets: dict[str, bytes] = {}
        for item in body["entries"]:
            entry = KeyEntry(**{f: item[f] for f in KeyEntry.__dataclass_fields__})
            self._entries[entry.id] = entry
            self._secrets[entry.id] = bytes.fromhex(item["secret"])

    @property
    def path(self) -> Path:
        return self._path

    @classmethod
    def create(cls, path: str | os.PathLike, passphrase: str, *, now: dt.datetime | None = None) -> Keystore:
        """Make a new keystore with one active key per purpose; refuses to overwrite (`KeystoreExists`)."""
        path = Path(path)
        if path.exists():
            raise KeystoreExists(f"keystore already exists: {path}")
        salt = secrets.token_bytes(16)
        file_key = derive_file_key(passphrase, salt, SCRYPT_LOG2N, SCRYPT_R, SCRYPT_P)
        store = cls(path, file_key, (SCRYPT_LOG2N, SCRYPT_R, SCRYPT_P, salt), {"entries": []})
        for purpose in PURPOSES:
            store._add(purpose, 1, now)
        store._save(create=True)
        return store

    @classmethod
    def open(cls, path: str | os.PathLike, passphrase: str) -> Keystore:
        """Open and decrypt a keystore; a wrong passphrase or any damage raises `KeystoreError` (opaque)."""
        path = Path(path)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise KeystoreError(f"no keystore file at {path}") from None
        except OSError as exc:
            raise KeystoreError(f"cannot read keystore {path}: {exc.strerror}") from None
        secret_phrase = _passphrase_bytes(passphrase)  # type errors before anything else
        try:
            magic, version, log2n, r, p, salt, nonce = _HEADER.unpack_from(blob)
            if magic != MAGIC or version != FORMAT_VERSION:
                raise ValueError("header")
            # checked before scrypt runs: an edited header must not make us allocate gigabytes
            if not (_MIN_LOG2N <= log2n <= _MAX_LOG2N and r == SCRYPT_R and p == SCRYPT_P):
                raise ValueError("parameters")
            file_key = Scrypt(salt=salt, length=32, n=1 << log2n, r=r, p=p).derive(secret_phrase)
            plain = AESGCM(file_key).decrypt(nonce, blob[_HEADER.size :], blob[: _HEADER.size])
            body = json.loads(plain.decode("utf-8"))
            store = cls(path, file_key, (log2n, r, p, salt), body)
            store._check()
        except Exception:  # noqa: BLE001 - every failure to open is the same opaque error
            raise KeystoreError(DAMAGED) from None
        return store

    def entries(self) -> list[KeyEntry]:
        """All keys, by purpose then version."""
        return sorted(self._entries.values(), key=lambda e: (PURPOSES.index(e.purpose), e.version))

    def active(self, purpose: str) -> KeyEntry:
        """The newest active key of a purpose: the one new data is made with."""
        _check_purpose(purpose)
        candidates = [e for e in self._entries.values() if e.purpose == purpose and e.status == ACTIVE]
        if not candidates:
            raise KeystoreError(f"no active {purpose} key")
        return max(candidates, key=lambda e: e.version)

    def entry(self, key_id: str) -> KeyEntry:
        """The description of one key by id (`<purpose>-v<version>`)."""
        try:
            return self._entries[key_id]
        except KeyError:
            raise KeystoreError(f"no key {key_id!r} in keystore") from None

    def secret(self, key_id: str) -> bytes:
        """The 32 secret bytes of a key (retired keys stay readable so old data can still be opened)."""
        self.entry(key_id)
        return self._secrets[key_id]

    def rotate(self, purpose: str, *, now: dt.datetime | None = None) -> KeyEntry:
        """Add a new version of a purpose's key; it becomes the active one, older versions stay active."""
        _check_purpose(purpose)
        version = max(e.version for e in self._entries.values() if e.purpose == purpose) + 1
        entry = self._add(purpose, version, now)
        self._save()
        return entry

    def retire(self, key_id: str) -> KeyEntry:
        """Mark a key retired; refuses to retire the only active key of its purpose."""
        entry = self.entry(key_id)
        if entry.status == RETIRED:
            return entry
        same = [e for e in self._entries.values() if e.purpose == entry.purpose and e.status == ACTIVE]
        others = [e for e in same if e.id != key_id]
        if not others:
            raise KeystoreError(f"cannot retire {key_id}: it is the only active {entry.purpose} key")
        self._entries[key_id] = retired = replace(entry, status=RETIRED)
        self._save()
        return retired

    def destroy(self, key_id: str) -> KeyEntry:
        """Remove a retired key's secret for good. The `.bak` becomes a copy of the new file, so no file of
        the keystore holds it any more. Refuses an active key and the newest version of a purpose (its
        version number would be given to the next rotation again)."""
        entry = self.entry(key_id)
        if entry.status != RETIRED:
            raise KeystoreError(f"cannot destroy {key_id}: it is active (retire it first)")
        newest = max(e.version for e in self._entries.values() if e.purpose == entry.purpose)
        if entry.version == newest:
            raise KeystoreError(f"cannot destroy {key_id}: it is the newest {entry.purpose} key version")
        del self._entries[key_id]
        del self._secrets[key_id]
        self._save(keep_previous=False)
        return entry

    def change_passphrase(self, new_passphrase: str) -> None:
        """Re-encrypt the keystore under a new passphrase (fresh salt). The `.bak` becomes a copy of the new
        file: whoever learnt the old passphrase (the reason to change it) must find no file it opens."""
        salt = secrets.token_bytes(16)
        self._file_key = derive_file_key(new_passphrase, salt, SCRYPT_LOG2N, SCRYPT_R, SCRYPT_P)
        self._params = (SCRYPT_LOG2N, SCRYPT_R, SCRYPT_P, salt)
        self._save(keep_previous=False)

    def signing_key(self) -> Ed25519PrivateKey:
        """The active audit-signing key."""
        return Ed25519PrivateKey.from_private_bytes(self._secrets[self.active("audit-signing").id])

    def public_key_for(self, key_id: str) -> Ed25519PublicKey:
        """The public half of any audit-signing key version (to verify old checkpoints)."""
        entry = self.entry(key_id)
        if entry.purpose != "audit-signing":
            raise KeystoreError(f"key {key_id} is not an audit-signing key")
        return Ed25519PrivateKey.from_private_bytes(self._secrets[key_id]).public_key()

    def verify_key_pem(self, key_id: str | None = None) -> bytes:
        """PEM (SubjectPublicKeyInfo) of the active, or the named, audit-signing public key."""
        public = self.public_key_for(key_id or self.active("audit-signing").id)
        return public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def _add(self, purpose: str, version: int, now: dt.datetime | None) -> KeyEntry:
        secret = secrets.token_bytes(32)  # for audit-signing: the raw Ed25519 seed
        created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0).isoformat()
        fingerprint = _fingerprint(purpose, secret)
        entry = KeyEntry(f"{purpose}-v{version}", purpose, version, created, ACTIVE, fingerprint)
        self._entries[entry.id] = entry
        self._secrets[entry.id] = secret
        return entry

    def _check(self) -> None:
        for key_id, entry in self._entries.items():
            secret = self._secrets[key_id]
            if (
                entry.purpose not in PURPOSES
                or entry.status not in (ACTIVE, RETIRED)
                or key_id != f"{entry.purpose}-v{entry.version}"
                or len(secret) != 32
                or entry.fingerprint != _fingerprint(entry.purpose, secret)
            ):
                raise ValueError("entry")
        for purpose in PURPOSES:
            self.active(purpose)

    def _body(self) -> bytes:
        items = [asdict(e) | {"secret": self._secrets[e.id].hex()} for e in self.entries()]
        return json.dumps({"format": FORMAT_VERSION, "entries": items}, sort_keys=True).encode("utf-8")

    def _save(self, *, create: bool = False, keep_previous: bool = True) -> None:
        log2n, r, p, salt = self._params
        nonce = secrets.token_bytes(12)
        header = _HEADER.pack(MAGIC, FORMAT_VERSION, log2n, r, p, salt, nonce)
        blob = header + AESGCM(self._file_key).encrypt(nonce, self._body(), header)
        _write_atomic(self._path, blob, create=create, keep_previous=keep_previous)


def _write_atomic(path: Path, data: bytes, *, create: bool, keep_previous: bool = True) -> None:
    """Write via a synced temp file and a rename; keep the previous file as `<name>.bak` (without
    `keep_previous`: the new data, which replaces any older backup)."""
    directory = path.parent
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if create:
            try:
                os.link(tmp, path)  # fails if someone created the file meanwhile
            except FileExistsError:
                raise KeystoreExists(f"keystore already exists: {path}") from None
            os.unlink(tmp)
        else:
            if path.exists():
                backup_tmp = directory / f".{path.name}.{secrets.token_hex(6)}.bak.tmp"
                shutil.copyfile(path if keep_previous else tmp, backup_tmp)
                os.chmod(backup_tmp, 0o600)
                os.replace(backup_tmp, path.with_name(path.name + ".bak"))
            os.replace(tmp, path)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise KeystoreError(f"cannot write keystore {path}: {exc.strerror}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _fingerprint(purpose: str, secret: bytes) -> str:
    """Public identifier of a key: SHA-256 of the Ed25519 public key, or an HKDF tag of a symmetric key."""
    if purpose == "audit-signing":
        raw = (
            Ed25519PrivateKey.from_private_bytes(secret)
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        return hashlib.sha256(raw).hexdigest()[:32]
    return subkey(secret, "ttp/keys/fingerprint/v1", 16).hex()


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise KeystoreError(f"unknown key purpose {purpose!r} (one of {', '.join(PURPOSES)})")


def _passphrase_bytes(passphrase: str) -> bytes:
    if not isinstance(passphrase, str):
        raise KeystoreError("the passphrase must be text")
    if not passphrase:
        raise KeystoreError("the passphrase must not be empty")
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")
