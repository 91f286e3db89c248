"""A `round` request: several tables under one purpose, approved once and released together, each protected
with the others and with every earlier release."""

from __future__ import annotations

import tomllib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from policies.errors import RequestError
from policies.request import Request, load_request
from policies.tomlpos import load_model

KIND = "round"


class RoundTable(BaseModel):
    """One table of a round: what a request would say, without the round's shared policy and population."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")  # its folder in the release; unique in the round
    purpose: str = Field(default="", max_length=300)  # added to the round's purpose in the table's request
    dimensions: list[str] = []
    measures: list[str] = Field(min_length=1)
    filters: dict[str, list[str]] | None = None  # None: the round's filters
    pool: dict[str, int] = {}


class RoundRequest(BaseModel):
    """A round: the tables one purpose needs (a feedback round), in the order they are protected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["round"]
    policy: str
    purpose: str = Field(min_length=1)
    population: list[str] = Field(min_length=1)
    filters: dict[str, list[str]] = {}
    link_job: str | None = None
    tables: list[RoundTable] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _names_unique(self) -> RoundRequest:
        names = [t.name for t in self.tables]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"table name(s) {', '.join(twice)} given twice: each table of a round has its own")
        return self

    def requests(self) -> list[tuple[str, Request]]:
        """Each table as the request it stands for, in the round's order."""
        return [(t.name, Request(policy=self.policy, purpose=f"{self.purpose}: {t.purpose or t.name}",
                                 population=list(self.population), dimensions=list(t.dimensions),
                                 measures=list(t.measures),
                                 filters=dict(self.filters if t.filters is None else t.filters),
                                 pool=dict(t.pool), link_job=self.link_job))
                for t in self.tables]


def is_round(text: str) -> bool:
    """Whether a request text asks for a round (any text that is not TOML is not one)."""
    try:
        return tomllib.loads(text).get("kind") == KIND
    except tomllib.TOMLDecodeError:
        return False


def load_round(text: str) -> RoundRequest:
    """Load a round from its TOML text; errors name the key and its line."""
    return load_model(text, RoundRequest, "round request", RequestError)


def table_requests(text: str) -> list[tuple[str, Request]]:
    """The tables a request text asks for: a round's, by name, or the one table of a plain request ("")."""
    if is_round(text):
        return load_round(text).requests()
    return [("", load_request(text))]


def round_table(text: str, name: str) -> Request:
    """The request of one named table of a round; RequestError when the round has no such table."""
    for table_name, request in table_requests(text):
        if table_name == name:
            return request
    raise RequestError(f"the round has no table {name!r}")
