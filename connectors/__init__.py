"""Source-format readers: exports become validated canonical records and quarantined rows."""

from .errors import ConnectorError
from .export import Chunk, Export, ExportFile, RejectedRow
from .profile import Profile, load_profile, parse_profile
from .reader import open_export
from .record import CanonicalRecord

__all__ = [
    "CanonicalRecord",
    "Chunk",
    "ConnectorError",
    "Export",
    "ExportFile",
    "Profile",
    "RejectedRow",
    "load_profile",
    "open_export",
    "parse_profile",
]
