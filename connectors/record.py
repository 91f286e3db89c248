"""The canonical record: the fields every connector delivers, and the columns of the records frame."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, cast

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

SECTORS = ("vve", "po", "vo", "mbo")


class CanonicalRecord(BaseModel):
    """One pupil record as read from one export file, validated but not normalised.

    Connectors carry records as the columns of a pandas frame for speed (see ``RECORD_COLUMNS``);
    this model documents those columns and can check a row (``iter_records``).
    """

    model_config = ConfigDict(extra="forbid")

    record_key: str = Field(description="The source's own key of the record (pupil key); required.")
    bsn: str | None = Field(None, description="Burgerservicenummer, 9 digits, passed the 11-test.")
    onderwijsnummer: str | None = Field(None, description="Onderwijsnummer, 9 digits starting with 10.")
    bsn4: str | None = Field(None, description="Last four digits of BSN or onderwijsnummer (weak feature).")
    family_name: str | None = Field(None, description="Achternaam as written (may carry the tussenvoegsel).")
    name_prefix: str | None = Field(None, description="Tussenvoegsel / voorvoegsel, e.g. 'van der'.")
    given_names: str | None = Field(None, description="All given names (voornamen).")
    preferred_name: str | None = Field(None, description="Roepnaam.")
    initials: str | None = Field(None, description="Initials (voorletters).")
    birth_date: str | None = Field(None, description="ISO YYYY-MM-DD; a plausible birth date (profile).")
    sex: Literal["M", "F", "X"] | None = Field(None, description="M, F or X (unspecified).")
    postcode: str | None = Field(None, description="Dutch postcode, compact '1234AB'.")
    brin: str | None = Field(None, description="BRIN + dependancecode, 6 characters, e.g. '12AB00'.")
    school_year: str | None = Field(None, description="School year 'YYYY-YYYY'.")
    link_fields: dict[str, str | None] = Field(
        default_factory=dict, description="Extra identifying columns a profile names for linkage."
    )
    attributes: dict[str, str | None] = Field(default_factory=dict, description="Payload (not identifying).")


#: Canonical identifying fields, in column order.
CANONICAL_FIELDS: tuple[str, ...] = tuple(
    name for name in CanonicalRecord.model_fields if name not in ("link_fields", "attributes")
)
#: Payload attributes every connector adds from the validated fields.
FIXED_ATTRIBUTES: tuple[str, ...] = ("sex", "birth_year", "brin", "school_year", "sector", "grade")
#: Leading bookkeeping columns of the records frame.
BOOK_COLUMNS: tuple[str, ...] = ("export_file", "school", "row_number")
LINK_PREFIX = "link:"
ATTR_PREFIX = "attr:"


def record_columns(link_names: list[str], attribute_names: list[str]) -> list[str]:
    """All columns of a records frame, in order, for the given link fields and payload attributes."""
    attrs = list(FIXED_ATTRIBUTES) + [a for a in attribute_names if a not in FIXED_ATTRIBUTES]
    return (
        list(BOOK_COLUMNS)
        + list(CANONICAL_FIELDS)
        + [LINK_PREFIX + n for n in link_names]
        + [ATTR_PREFIX + a for a in attrs]
    )


def iter_records(records: pd.DataFrame) -> Iterator[CanonicalRecord]:
    """Yield each row of a records frame as a validated ``CanonicalRecord`` (slow; for checks and tests)."""
    # pandas types column labels as Hashable; a records frame's are the str names of `record_columns`
    for row in cast(list[dict[str, Any]], records.to_dict(orient="records")):
        yield CanonicalRecord(
            **{f: row.get(f) for f in CANONICAL_FIELDS},
            link_fields={k[len(LINK_PREFIX):]: v for k, v in row.items() if k.startswith(LINK_PREFIX)},
            attributes={k[len(ATTR_PREFIX):]: v for k, v in row.items() if k.startswith(ATTR_PREFIX)},
        )
