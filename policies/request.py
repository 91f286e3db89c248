"""A research request: which table of which population under which policy, and for what purpose."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from policies.errors import RequestError
from policies.tomlpos import load_model

Filters = dict[str, frozenset[str]]


class Request(BaseModel):
    """What a researcher asks for; names refer to the policy's public dimension and measure names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: str
    purpose: str = Field(min_length=1)
    population: list[str] = Field(min_length=1)
    dimensions: list[str] = []
    measures: list[str] = Field(min_length=1)
    filters: dict[str, list[str]] = {}
    groups: dict[str, dict[str, list[str]]] = {}
    # dimension -> k: its school years pooled in blocks of k consecutive years (a small school gets a figure)
    pool: dict[str, int] = {}
    link_job: str | None = None

    def slices(self) -> list[tuple[str, Filters]]:
        """The table's slices: one per comparison group ("" when there are none), with its full filters.

        A group's filters are intersected with the request's filters on the same dimension.
        """
        base = {dim: frozenset(values) for dim, values in self.filters.items()}
        if not self.groups:
            return [("", base)]
        out = []
        for name, group in self.groups.items():
            merged = dict(base)
            for dim, values in group.items():
                merged[dim] = merged[dim] & frozenset(values) if dim in merged else frozenset(values)
            out.append((name, merged))
        return out


def load_request(text: str) -> Request:
    """Load a request from its TOML text; errors name the key and its line."""
    return load_model(text, Request, "request", RequestError)

