"""Sealed streams: any data in any write sizes comes back; a wrong passphrase, a cut, a reorder or a flipped
bit does not open."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys import stream
from keys.errors import SealError

PASS = "a backup passphrase"


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(stream, "CHUNK", 64)


def sealed(data: bytes, splits: list[int] | None = None) -> bytes:
    out = io.BytesIO()
    writer = stream.SealedWriter(out, PASS)
    rest = data
    for n in splits or []:
        writer.write(rest[:n])
        rest = rest[n:]
    writer.write(rest)
    writer.close()
    return out.getvalue()


def opened(blob: bytes, passphrase: str = PASS, size: int = 50) -> bytes:
    reader = stream.SealedReader(io.BytesIO(blob), passphrase)
    parts = []
    while part := reader.read(size):
        parts.append(part)
    return b"".join(parts)


@settings(max_examples=15, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 100), max_size=6), st.integers(1, 200))
def test_any_data_in_any_writes_comes_back(data, splits, size):
    assert opened(sealed(data, splits), size=size) == data


def test_the_empty_stream_and_a_whole_read():
    assert opened(sealed(b"")) == b""
    reader = stream.SealedReader(io.BytesIO(sealed(b"x" * 300)), PASS)
    assert reader.read() == b"x" * 300


def test_wrong_passphrase_cut_reordered_flipped_and_extended_streams_do_not_open():
    data = bytes(range(256)) * 2  # 7 chunks of 64, then the final one (also 64: the writer keeps one back)
    blob = sealed(data)
    header = stream._HEADER.size
    length = stream._LENGTH.size + 1 + 12 + 64 + 16
    chunks = [blob[header + i * length: header + (i + 1) * length] for i in range(8)]
    assert len(blob) == header + 8 * length
    bad = {
        "wrong passphrase": (blob, "another passphrase"),
        "cut after a chunk": (blob[:header + 3 * length], PASS),
        "final chunk dropped": (blob[:header + 7 * length], PASS),
        "reordered": (blob[:header] + chunks[1] + chunks[0] + b"".join(chunks[2:]), PASS),
        "final chunk first": (blob[:header] + chunks[7] + b"".join(chunks[:7]), PASS),
        "flipped bit": (blob[:100] + bytes([blob[100] ^ 1]) + blob[101:], PASS),
        "data after the end": (blob + b"\x00", PASS),
        "not a stream": (b"PK\x03\x04" + blob[4:], PASS),
    }
    for name, (damaged, passphrase) in bad.items():
        try:
            opened(damaged, passphrase)
        except SealError as exc:
            assert str(exc).startswith("wrong passphrase or damaged file"), name
        else:
            pytest.fail(f"{name}: opened")
    assert opened(blob) == data
