"""The policy of a project: what may be grouped by and measured, and the disclosure-control rules."""

from __future__ import annotations

import hashlib
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from policies.conditions import parse_condition
from policies.errors import PolicyError
from policies.indicators import INDICATORS
from policies.moments import parse_moment
from policies.retention import Retention
from policies.tomlpos import key_line, load_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dimension(_Strict):
    """A public name for a persons column that may be grouped by (and filtered on)."""

    column: str
    label: str | None = None
    bands: list[float] | None = None
    band_labels: list[str] | None = None
    categories: list[str] | None = None
    missing_label: str | None = None
    filter: bool = True

    @model_validator(mode="after")
    def _bands_ok(self) -> Dimension:
        if self.bands is not None:
            if len(self.bands) < 2 or any(b >= a for a, b in zip(self.bands[1:], self.bands, strict=False)):
                raise ValueError("bands must be at least two strictly increasing edges")
            if self.band_labels is not None and len(self.band_labels) != len(self.bands) - 1:
                raise ValueError("band_labels must have one label per band (len(bands) - 1)")
        elif self.band_labels is not None:
            raise ValueError("band_labels needs bands")
        return self

    def labels(self) -> list[str] | None:
        """The band labels (half-open bands [lo, hi)), or None for an unbanded dimension."""
        if self.bands is None:
            return None
        if self.band_labels is not None:
            return list(self.band_labels)
        edges = self.bands
        if all(float(e).is_integer() for e in edges):
            return [f"{int(lo)}-{int(hi) - 1}" for lo, hi in zip(edges, edges[1:], strict=False)]
        return [f"{lo:g}-<{hi:g}" for lo, hi in zip(edges, edges[1:], strict=False)]


class Measure(_Strict):
    """A statistic per cell: count of persons, share meeting a condition, mean or median of a column."""

    kind: Literal["count", "share", "mean", "median"]
    column: str | None = None
    condition: str | None = None
    label: str | None = None
    decimals: int = Field(default=1, ge=0, le=6)

    @model_validator(mode="after")
    def _fields_ok(self) -> Measure:
        if self.kind == "share":
            if not self.condition:
                raise ValueError("a share measure needs a condition")
            parse_condition(self.condition)
        elif self.condition is not None:
            raise ValueError(f"a {self.kind} measure takes no condition")
        if self.kind in ("mean", "median") and not self.column:
            raise ValueError(f"a {self.kind} measure needs a column")
        if self.kind in ("count", "share") and self.column is not None:
            raise ValueError(f"a {self.kind} measure takes no column")
        return self

    @property
    def magnitude(self) -> bool:
        """Mean and median are magnitudes: dominance and p-ratio apply to them."""
        return self.kind in ("mean", "median")


class Derived(_Strict):
    """A column computed per person from other columns: one of the field's indicators over named inputs
    (`policies.indicators`; the inputs are persons columns, usually at a moment: `policies.moments`)."""

    indicator: str
    inputs: dict[str, str]
    condition: str | None = None  # the outcome, for an indicator over one (expected_share)
    label: str | None = None

    @model_validator(mode="after")
    def _inputs_ok(self) -> Derived:
        known = INDICATORS.get(self.indicator)
        if known is None:
            raise ValueError(f"unknown indicator {self.indicator!r} (one of {', '.join(sorted(INDICATORS))})")
        if set(self.inputs) != set(known.inputs):
            raise ValueError(f"indicator {self.indicator} takes the inputs {', '.join(known.inputs)}")
        for column in self.inputs.values():
            _moment_ok(column)
        if known.condition and not self.condition:
            raise ValueError(f"indicator {self.indicator} needs a condition (its outcome)")
        if not known.condition and self.condition:
            raise ValueError(f"indicator {self.indicator} takes no condition")
        if self.condition:
            _moment_ok(parse_condition(self.condition).column)
        return self

    def columns(self) -> list[str]:
        """The persons columns it is computed from: its inputs and its condition's column."""
        return list(self.inputs.values()) + ([parse_condition(self.condition).column] if self.condition else [])


def _moment_ok(column: str | None) -> None:
    if column is not None:
        try:
            parse_moment(column)
        except PolicyError as exc:
            raise ValueError(str(exc)) from None


class Dominance(_Strict):
    """(n, k) rule: a magnitude cell is sensitive when its n largest contributors exceed k% of the total."""

    n: int = Field(default=2, ge=1)
    k: float = Field(default=90.0, gt=0, le=100)


class Disclosure(_Strict):
    """Rules of statistical disclosure control applied to every table released under the policy."""

    min_cell_count: int = Field(default=10, ge=1)
    dominance: Dominance = Dominance()
    p_ratio: float = Field(default=10.0, ge=0, le=100)
    percent_min: float = Field(default=5.0, ge=0, le=100)
    percent_max: float = Field(default=95.0, ge=0, le=100)
    rounding_base: int | None = Field(default=None, ge=1)
    max_cells: int = Field(default=10_000, ge=1)
    max_dimensions: int = Field(default=3, ge=0, le=4)
    protection_level: float = Field(default=10.0, ge=0)
    zeros: Literal["publish", "disclosive", "suppress"] = "publish"
    differencing: Literal["refuse", "suppress"] = "refuse"

    @model_validator(mode="after")
    def _percent_ok(self) -> Disclosure:
        if self.percent_min > self.percent_max:
            raise ValueError("percent_min must not exceed percent_max")
        return self


class Approval(_Strict):
    """Who may approve or deny a request, and whether approval releases at once."""

    roles: list[str] = ["privacy-officer"]
    officers: list[str] = []
    release_on_approval: bool = False

    @field_validator("roles")
    @classmethod
    def _no_researcher(cls, roles: list[str]) -> list[str]:
        roles = [r.replace("_", "-") for r in roles]  # privacy_officer and privacy-officer are one role
        if "researcher" in roles:
            raise ValueError("a researcher may never approve")
        return roles


class Microdata(_Strict):
    """What may go as microdata (per person, pseudonymised) to a designated recipient's secure environment."""

    recipients: list[str] = Field(min_length=1)
    # `source.attribute` of the payload, e.g. "vo.niveau"; school year and grade always go with each record
    attributes: list[str] = Field(min_length=1)

    @field_validator("attributes")
    @classmethod
    def _attributes_ok(cls, attributes: list[str]) -> list[str]:
        for name in attributes:
            source, dot, attribute = name.partition(".")
            if not dot or not source or not attribute or "@" in name:
                raise ValueError(f"microdata attribute {name!r}: write it as source.attribute, e.g. vo.niveau")
        return attributes


class Policy(_Strict):
    """One project's policy, loaded from its TOML file."""

    name: str
    description: str = ""
    populations: list[list[str]] = Field(min_length=1)
    dimensions: dict[str, Dimension] = Field(min_length=1)
    measures: dict[str, Measure] = Field(min_length=1)
    derived: dict[str, Derived] = {}
    disclosure: Disclosure = Disclosure()
    approval: Approval = Approval()
    microdata: Microdata | None = None
    retention: Retention | None = None

    @model_validator(mode="after")
    def _columns_ok(self) -> Policy:
        for name in self.derived:
            if not name.isidentifier():
                raise ValueError(f"derived column {name!r}: a name of letters, digits and _")
        for dim in self.dimensions.values():
            _moment_ok(dim.column)
        for measure in self.measures.values():
            _moment_ok(measure.column)
            if measure.condition:
                _moment_ok(parse_condition(measure.condition).column)
        return self

    @field_validator("populations")
    @classmethod
    def _populations_ok(cls, populations: list[list[str]]) -> list[list[str]]:
        for sources in populations:
            if not sources or len(set(sources)) != len(sources):
                raise ValueError("each population is a non-empty list of distinct sources")
        return populations

    def allows_population(self, sources: list[str]) -> bool:
        """True when the set of sources equals one of the policy's populations."""
        return any(set(sources) == set(p) for p in self.populations)


def load_policy(text: str, name: str) -> Policy:
    """Load a policy from its TOML text; `name` is the project's policy name (the file's stem)."""
    policy = load_model(text, Policy, f"policy {name}", PolicyError, defaults={"name": name})
    if policy.name != name:
        line = key_line(text, ["name"])
        raise PolicyError(f"policy {name}: key name (line {line}) differs from the policy name")
    if not math.isfinite(policy.disclosure.protection_level):
        raise PolicyError(f"policy {name}: key disclosure.protection_level must be finite")
    return policy


def policy_hash(text: str | bytes) -> str:
    """SHA-256 (hex) of the policy file's bytes (UTF-8 when given text)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()

