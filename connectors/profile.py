"""Profiles: TOML files that say how a CSV or XLSX export maps onto the canonical record."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .codes import CODE_LISTS
from .errors import ConnectorError
from .identifiers import check_school_year
from .record import CANONICAL_FIELDS, FIXED_ATTRIBUTES

ENCODINGS = ("utf-8", "cp1252", "latin-1", "auto")
_ENCODING_ALIASES = {
    "utf8": "utf-8", "utf-8-sig": "utf-8", "utf-8-bom": "utf-8", "windows-1252": "cp1252",
    "latin1": "latin-1", "iso-8859-1": "latin-1",
}
#: Payload names a profile may not use: the connector fills them from the validated fields.
RESERVED_ATTRIBUTES = tuple(a for a in FIXED_ATTRIBUTES if a != "grade")


class LinkField(BaseModel):
    """An extra identifying column used for linkage (hashed, never stored in the clear)."""

    model_config = ConfigDict(extra="forbid")
    column: str
    kind: Literal["string", "number", "code"] = "string"


class Profile(BaseModel):
    """How one kind of export maps onto canonical records; see docs/profiles.md field by field."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["csv", "xlsx"]
    delimiter: str = "auto"
    encoding: str = "auto"
    date_format: str = "%Y-%m-%d"
    sector: Literal["vve", "po", "vo", "mbo"]
    earliest_birth_date: date | None = None
    latest_birth_date: date | None = None
    school_year: str | None = None
    attach_to: str | None = None
    sheet: str | None = None
    fields: dict[str, str]
    sex_codes: dict[str, Literal["M", "F", "X", ""]] = Field(default_factory=dict)
    link_fields: dict[str, LinkField] = Field(default_factory=dict)
    attributes: dict[str, str] = Field(default_factory=dict)
    attribute_codes: dict[str, dict[str, str]] = Field(default_factory=dict)
    attribute_lists: dict[str, Literal["vo_level", "mbo_level", "school_advice"]] = Field(default_factory=dict)

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        value = {"tab": "\t", "\\t": "\t"}.get(value, value)
        if value != "auto" and (len(value) != 1 or value in "\"\r\n"):
            raise ValueError('must be one character or "auto"')
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        value = _ENCODING_ALIASES.get(value.lower(), value.lower())
        if value not in ENCODINGS:
            raise ValueError(f"must be one of {', '.join(ENCODINGS)}")
        return value

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, value: str) -> str:
        if not all(d in value for d in ("%d", "%m")) or not ("%Y" in value or "%y" in value):
            raise ValueError("must be a strptime format with %d, %m and %Y")
        return value

    @field_validator("school_year")
    @classmethod
    def _school_year(cls, value: str | None) -> str | None:
        if value is None:
            return None
        year, reason = check_school_year(value)
        if reason:
            raise ValueError("must look like 2024-2025")
        return year

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = [k for k in value if k not in CANONICAL_FIELDS]
        if unknown:
            raise ValueError(f"unknown canonical field {unknown[0]!r} (known: {', '.join(CANONICAL_FIELDS)})")
        if "record_key" not in value:
            raise ValueError("record_key is required")
        return value

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name in RESERVED_ATTRIBUTES:
                raise ValueError(f"{name!r} is filled by the connector itself")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if (self.earliest_birth_date and self.latest_birth_date
                and self.earliest_birth_date > self.latest_birth_date):
            raise ValueError("earliest_birth_date is after latest_birth_date")
        for name in self.attribute_lists:
            if name not in self.attributes:
                raise ValueError(f"attribute_lists.{name}: no such attribute in [attributes]")
        for name, table in self.attribute_codes.items():
            if name not in self.attributes:
                raise ValueError(f"attribute_codes.{name}: no such attribute in [attributes]")
            allowed = CODE_LISTS.get(self.list_of(name) or "")
            if allowed is not None:
                for source, target in table.items():
                    if target not in allowed:
                        raise ValueError(
                            f"attribute_codes.{name}.{source}: {target!r} is not in the canonical list"
                        )
        if self.attach_to is not None:
            missing = [f for f in ("record_key", "brin", "school_year") if f not in self.fields]
            if missing:
                raise ValueError(f"attach_to needs fields.{missing[0]}")
        return self

    def list_of(self, attribute: str) -> str | None:
        """The canonical code list an attribute is mapped onto, if any (declared, or by its name)."""
        declared = self.attribute_lists.get(attribute)
        return declared or (attribute if attribute in CODE_LISTS else None)

    def columns(self) -> dict[str, str]:
        """Every source column the profile names, keyed by its profile key (e.g. 'fields.bsn')."""
        named = {f"fields.{k}": v for k, v in self.fields.items()}
        named.update({f"link_fields.{k}": v.column for k, v in self.link_fields.items()})
        named.update({f"attributes.{k}": v for k, v in self.attributes.items()})
        return named


def parse_profile(text: str, name: str = "profile") -> Profile:
    """Parse profile TOML text; ConnectorError names the key and the problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConnectorError(f"{name}: not valid TOML: {exc}") from None
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConnectorError(f"{name}: key {key}: {first['msg']}{more}") from None


def load_profile(path: str | Path) -> Profile:
    """Read and check a profile file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConnectorError(f"{path.name}: cannot read profile ({type(exc).__name__})") from None
    return parse_profile(text, path.name)
