"""Sealed streams: data of any length as AES-256-GCM chunks under a passphrase (scrypt), for backups.

Layout: magic "TTPSTRM\\0" (8) | format version (1) | log2 scrypt N (1) | r (1) | p (1) | salt (16), then
chunks, each a 4-byte big-endian length and a `keys.seal` blob of at most CHUNK plaintext bytes whose
associated data is the header, the chunk's index (8 bytes) and a final flag (1 byte). Reordered, dropped,
repeated or truncated chunks fail to open, as does a stream cut after any chunk but the final one.
"""

from __future__ import annotations

import secrets
import struct
from typing import BinaryIO

from keys.errors import SealError
from keys.keystore import SCRYPT_LOG2N, SCRYPT_P, SCRYPT_R, derive_file_key
from keys.seal import seal, unseal

MAGIC = b"TTPSTRM\x00"
FORMAT_VERSION = 1
CHUNK = 1 << 20
_HEADER = struct.Struct(">8sBBBB16s")
_LENGTH = struct.Struct(">I")
_MAX_SEALED = CHUNK + 1 + 12 + 16
DAMAGED = "wrong passphrase or damaged file"


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


class SealedWriter:
    """Write a sealed stream to `out` (a binary file); `close()` seals the final chunk (the file stays open)."""

    def __init__(self, out: BinaryIO, passphrase: str) -> None:
        salt = secrets.token_bytes(16)
        self._header = _HEADER.pack(MAGIC, FORMAT_VERSION, SCRYPT_LOG2N, SCRYPT_R, SCRYPT_P, salt)
        self._key = derive_file_key(passphrase, salt, SCRYPT_LOG2N, SCRYPT_R, SCRYPT_P)
        self._out = out
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        out.write(self._header)

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("write to a closed sealed stream")
        self._buffer += data
        while len(self._buffer) > CHUNK:  # keep one chunk back: the last one written must be the final one
            self._emit(bytes(self._buffer[:CHUNK]), final=False)
            del self._buffer[:CHUNK]
        return len(data)

    def close(self) -> None:
        if not self._closed:
            self._emit(bytes(self._buffer), final=True)
            self._buffer.clear()
            self._closed = True

    def _emit(self, chunk: bytes, final: bool) -> None:
        blob = seal(self._key, chunk, _aad(self._header, self._index, final))
        self._out.write(_LENGTH.pack(len(blob)) + blob)
        self._index += 1


class SealedReader:
    """Read a sealed stream from `source`; every failure (wrong passphrase included) is one `SealError`."""

    def __init__(self, source: BinaryIO, passphrase: str) -> None:
        header = source.read(_HEADER.size)
        if len(header) != _HEADER.size:
            raise SealError(DAMAGED)
        magic, version, log2n, r, p, salt = _HEADER.unpack(header)
        if magic != MAGIC or version != FORMAT_VERSION or not 15 <= log2n <= 20 or (r, p) != (8, 1):
            raise SealError(DAMAGED)
        self._key = derive_file_key(passphrase, salt, log2n, r, p)
        self._header = header
        self._source = source
        self._index = 0
        self._buffer = bytearray()
        self._done = False

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            self._next_chunk()
        if size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _next_chunk(self) -> None:
        prefix = self._source.read(_LENGTH.size)
        if len(prefix) != _LENGTH.size:
            raise SealError(DAMAGED + " (cut short)")
        (length,) = _LENGTH.unpack(prefix)
        blob = self._source.read(length) if length <= _MAX_SEALED else b""
        if len(blob) != length or not blob:
            raise SealError(DAMAGED)
        for final in (False, True):
            try:
                chunk = unseal(self._key, blob, _aad(self._header, self._index, final))
            except SealError:
                continue
            self._index += 1
            self._buffer += chunk
            if final:
                if self._source.read(1):
                    raise SealError(DAMAGED + " (data after the end)")
                self._done = True
            return
        raise SealError(DAMAGED)
