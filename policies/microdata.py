"""A `cbs-delivery` request: microdata for a designated recipient's secure environment, and its policy check."""

from __future__ import annotations

import tomllib
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from policies.errors import RequestError
from policies.policy import Policy
from policies.tomlpos import load_model

KIND = "cbs-delivery"
KEPT = ("school_year", "grade")  # every record carries its school year and grade: the years are the point


class MicrodataRequest(BaseModel):
    """Per person of a population: the allowed attributes over the school years, for one recipient and project."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["cbs-delivery"]
    policy: str
    purpose: str = Field(min_length=1)
    recipient: str = Field(min_length=1, max_length=100)
    project: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    population: list[str] = Field(min_length=1)
    attributes: list[str] = Field(min_length=1)
    link_job: str | None = None


def is_microdata(text: str) -> bool:
    """Whether a request text asks for a cbs-delivery (any text that is not TOML is not one)."""
    try:
        return tomllib.loads(text).get("kind") == KIND
    except tomllib.TOMLDecodeError:
        return False


def load_microdata_request(text: str) -> MicrodataRequest:
    """Load a cbs-delivery request from its TOML text; errors name the key and its line."""
    return load_model(text, MicrodataRequest, "request", RequestError)


def check_microdata(request: MicrodataRequest, policy: Policy) -> list[str]:
    """The problems that stop the request (empty when the policy allows it), one line each, naming no value."""
    allowed = policy.microdata
    if allowed is None:
        return [f"policy {policy.name} allows no microdata delivery (it has no [microdata] section)"]
    problems = []
    if request.recipient not in allowed.recipients:
        problems.append(f"policy {policy.name} allows microdata only for {', '.join(allowed.recipients)}, "
                        f"not for {request.recipient}")
    if not policy.allows_population(request.population):
        problems.append(f"population {' + '.join(request.population)} is not one the policy allows")
    for name in request.attributes:
        if name not in allowed.attributes:
            problems.append(f"attribute {name} is not allowed as microdata by policy {policy.name}")
        elif name.partition(".")[0] not in request.population:
            problems.append(f"attribute {name} is of a source outside the population")
    if len(set(request.attributes)) != len(request.attributes):
        problems.append("an attribute is named twice")
    return problems


def microdata_rows(records: dict[str, pd.DataFrame], persons: pd.Series, attributes: list[str]) -> pd.DataFrame:
    """One row per person, source and school year: `person_id`, `source`, `school_year`, `grade` and the
    requested attributes (empty where a source does not have one), for the persons given."""
    wanted = set(persons)
    parts = []
    for source in sorted({a.partition(".")[0] for a in attributes}):
        frame = records.get(source)
        if frame is None or frame.empty:
            continue
        frame = frame[frame["person_id"].isin(wanted)]
        out = pd.DataFrame({"person_id": frame["person_id"].astype(str), "source": source})
        for column in KEPT:
            out[column] = frame[column].astype("string") if column in frame.columns else pd.NA
        for name in attributes:
            src, _, attribute = name.partition(".")
            if src == source:
                out[name] = frame[attribute].astype("string") if attribute in frame.columns else pd.NA
        parts.append(out.drop_duplicates())
    if not parts:
        return pd.DataFrame(columns=["person_id", "source", *KEPT, *attributes])
    rows = pd.concat(parts, ignore_index=True)
    for name in attributes:
        if name not in rows.columns:
            rows[name] = pd.NA
    return rows[["person_id", "source", *KEPT, *attributes]].sort_values(
        ["person_id", "school_year", "source"], kind="stable").reset_index(drop=True)
