"""The policy check of a request: is it allowed, and can its table be released together with the earlier
releases. What the requester may read (`problems`) is kept apart from the detail for the privacy officer."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import TYPE_CHECKING

from policies.policy import Policy
from policies.request import Request
from policies.table import Table

if TYPE_CHECKING:
    from policies.disclosure import ProtectedTable

CANNOT_RELEASE = "this request cannot be released as asked (a privacy officer can see why)"


@dataclass
class Check:
    """The outcome of a check: ok, one-line problems the requester may read, and the detail (earlier
    releases and cells involved) that only a privacy officer may read."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    detail: list[str] = field(default_factory=list)


def check_request(request: Request, policy: Policy, table: Table | None = None,
                  protected: ProtectedTable | None = None) -> Check:
    """Check a request against its policy: population, dimensions, measures, filters, number of cells.

    Pass the computed `table` to count its cells exactly, and the `protected` table (disclosure.protect
    with the release history) to learn whether it can be released together with the earlier releases.
    Check the request without them first: a table is computed only for a request that names what the
    policy allows."""
    problems: list[str] = []
    if request.policy != policy.name:
        problems.append(f"request is for policy {request.policy}, not {policy.name}")
    if not policy.allows_population(request.population):
        problems.append(f"population {'+'.join(request.population)} is not allowed")
    rules = policy.disclosure
    if len(request.dimensions) > rules.max_dimensions:
        problems.append(f"{len(request.dimensions)} dimensions; at most {rules.max_dimensions} allowed")
    if len(set(request.dimensions)) != len(request.dimensions):
        problems.append("a dimension is named twice")
    for dim in request.dimensions:
        if dim not in policy.dimensions:
            problems.append(f"dimension {dim} is not allowed")
    for measure in request.measures:
        if measure not in policy.measures:
            problems.append(f"measure {measure} is not allowed")
    for dim, k in request.pool.items():
        if dim not in request.dimensions:
            problems.append(f"pool: {dim} is not a dimension of the request")
        elif not 2 <= k <= 10:
            problems.append(f"pool: {dim} pools 2 to 10 school years, not {k}")
    filter_sets = [("filters", request.filters)] + [(f"groups.{g}", f) for g, f in request.groups.items()]
    for where, filters in filter_sets:
        for dim, values in filters.items():
            spec = policy.dimensions.get(dim)
            if spec is None or not spec.filter:
                problems.append(f"{where}: filter on {dim} is not allowed")
            elif not values:
                problems.append(f"{where}: filter on {dim} has no values")
            elif spec.labels() is not None and not set(values) <= set(spec.labels() or []):
                problems.append(f"{where}: filter on {dim} must use its band labels")
    cells = _cell_count(request, policy, table)
    if cells is not None and cells > rules.max_cells:
        problems.append(f"{cells} cells; at most {rules.max_cells} allowed")
    detail: list[str] = []
    if not problems and protected is not None and protected.refusal is not None:
        problems.append(CANNOT_RELEASE)
        detail.append(protected.refusal)
    return Check(ok=not problems, problems=problems, detail=detail)


def _cell_count(request: Request, policy: Policy, table: Table | None) -> int | None:
    if table is not None:
        return table.n_cells
    sizes = []
    for dim in request.dimensions:
        spec = policy.dimensions.get(dim)
        known = None if spec is None else (spec.categories or spec.labels())
        if known is None:
            return None
        sizes.append(len(known) + 1)
    return max(1, len(request.groups)) * prod(sizes)
