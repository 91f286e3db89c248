"""The policy check of a request: is it allowed, and can it be differenced with earlier releases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from math import prod

from policies.differencing import ReleasedTable, collisions, definitional_risks
from policies.policy import Policy
from policies.request import Request
from policies.table import Table


@dataclass
class Check:
    """The outcome of a check: ok, one-line problems, and differencing collisions naming releases."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    collisions: list[str] = field(default_factory=list)


def check_request(request: Request, policy: Policy, earlier: Sequence[ReleasedTable] = (),
                  table: Table | None = None) -> Check:
    """Check a request against its policy and the earlier releases of that policy.

    Pass the computed `table` (compute_table) to check the number of cells and differencing exactly;
    without it, differencing with a related earlier release cannot be ruled out and (under
    `differencing = "refuse"`) is a problem.
    """
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
    found: list[str] = []
    if not problems:
        earlier = [e for e in earlier if e.policy == policy.name]
        if table is not None:
            hits = [c for c in collisions(table, earlier, policy) if c.release_id]
            found.extend(c.describe(table) for c in hits)
            releases = sorted({c.release_id for c in hits})
            if found and rules.differencing == "refuse":
                problems.extend(f"differencing with release {r}: a cell would differ by fewer than "
                                f"{rules.min_cell_count} persons" for r in releases)
        else:
            risky = definitional_risks(request, earlier)
            found.extend(f"differencing with release {r} cannot be ruled out without the table"
                         for r in risky)
            if risky and rules.differencing == "refuse":
                problems.extend(found)
    return Check(ok=not problems, problems=problems, collisions=found)


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
