"""open_export: the one entry point that picks the reader for a format or profile."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .edexml import open_edexml
from .errors import ConnectorError
from .export import Export
from .profile import Profile
from .record import SECTORS
from .tabular import open_tabular


def open_export(
    paths: str | Path | Iterable[str | Path],
    *,
    profile: Profile | None = None,
    fmt: str | None = None,
    school_year: str | None = None,
    sector: str | None = None,
) -> Export:
    """Open an export (files or folders) for reading; everything checkable before the rows is checked here.

    Give ``fmt="edexml"`` or a ``profile`` (from ``load_profile``). ``sector`` applies to EDEXML (default po).
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    path_list = [Path(p) for p in paths]
    if (profile is None) == (fmt is None):
        raise ConnectorError("give either fmt='edexml' or a profile")
    if profile is not None:
        return open_tabular(path_list, profile, school_year)
    if fmt != "edexml":
        raise ConnectorError(f"unknown format {fmt!r}; use fmt='edexml' or a profile for csv/xlsx")
    if sector is not None and sector not in SECTORS:
        raise ConnectorError(f"unknown sector {sector!r}")
    return open_edexml(path_list, sector or "po")
