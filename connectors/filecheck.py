"""Up-front checks of an export file: it exists, is not empty or binary, decodes; its size and sha256."""

from __future__ import annotations

import codecs
import hashlib
from pathlib import Path

from . import limits
from .errors import ConnectorError
from .export import ExportFile

_BLOCK = 1 << 20


def list_files(paths: list[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Expand folders into their files with one of ``suffixes`` (sorted); refuse what does not exist."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
            if not found:
                raise ConnectorError(f"{path.name}: folder holds no {'/'.join(suffixes)} files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ConnectorError(f"{path.name}: no such file")
    if not files:
        raise ConnectorError("no export files given")
    return files


def fingerprint(
    path: Path, encoding: str | None = None, binary_ok: bool = False
) -> tuple[ExportFile, str | None]:
    """Hash the file and, for text, prove it decodes; return the file record and the encoding that works.

    ``encoding`` "auto" tries utf-8 (with or without BOM), then cp1252, then latin-1.
    """
    try:
        size = path.stat().st_size
        if size == 0:
            raise ConnectorError(f"{path.name}: file is empty")
        limits.check_file_size(path, size)
        candidates = ["utf-8-sig", "cp1252", "latin-1"] if encoding == "auto" else [encoding]
        candidates = ["utf-8-sig" if c == "utf-8" else c for c in candidates if c]
        decoders = {c: codecs.getincrementaldecoder(c)() for c in candidates}
        failed: dict[str, int] = {}
        digest = hashlib.sha256()
        offset = 0
        with path.open("rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
                if not binary_ok and b"\x00" in block:
                    where = offset + block.index(0)
                    raise ConnectorError(f"{path.name}: binary data (NUL byte at offset {where})")
                for name, decoder in list(decoders.items()):
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError as exc:
                        failed[name] = offset + exc.start
                        del decoders[name]
                offset += len(block)
        for name, decoder in list(decoders.items()):
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                failed[name] = offset
                del decoders[name]
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConnectorError(f"{path.name}: cannot read file ({reason})") from None
    if candidates and not decoders:
        where = failed[candidates[0]]
        raise ConnectorError(f"{path.name}: cannot be decoded as {encoding} (byte offset {where})")
    working = next((c for c in candidates if c in decoders), None)
    return ExportFile(path.name, digest.hexdigest(), size), working
