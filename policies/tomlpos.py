"""Parse TOML and find the line of a key, so that validation errors can name key and line."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_PART = r"(?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')"
_KEY = re.compile(rf"^\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")


def _parts(dotted: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(r"\"[^\"]*\"|'[^']*'|[^.]+", dotted)]


def key_line(text: str, loc: Sequence[Any]) -> int | None:
    """The 1-based line where the longest prefix of the key path `loc` is written, or None."""
    want = [str(p) for p in loc if isinstance(p, str)]
    best, best_len = None, 0
    table: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _parts(header.group(1))
            path = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            path = table + _parts(key.group(1))
        matched = 0
        for got, wanted in zip(path, want, strict=False):
            if got != wanted:
                break
            matched += 1
        if matched == len(path) and matched > best_len:
            best, best_len = number, matched
    return best


def load_model(text: str, model: type[BaseModel], what: str, error: type[Exception],
               defaults: dict[str, Any] | None = None) -> Any:
    """Parse `text` as TOML into `model`; every failure raises `error` naming the key and its line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what}: not valid TOML ({exc})") from None
    data = {**(defaults or {}), **data}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = key_line(text, loc)
        where = f" (line {line})" if line else ""
        message = first["msg"].split("\n")[0]
        raise error(f"{what}: key {key}{where}: {message}") from None
