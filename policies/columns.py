"""Which persons columns a request needs, and the derived columns (indicators) computed from them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from policies.conditions import missing as missing_values
from policies.conditions import parse_condition
from policies.indicators import INDICATORS
from policies.policy import Policy
from policies.request import Request


def named_columns(policy: Policy, request: Request) -> list[str]:
    """The columns the request's dimensions, filters and measures name (derived ones by their name)."""
    names = [policy.dimensions[d].column for d in request.dimensions if d in policy.dimensions]
    names += [policy.dimensions[d].column for _, f in request.slices() for d in f if d in policy.dimensions]
    for m in request.measures:
        measure = policy.measures.get(m)
        if measure is None:
            continue
        if measure.column:
            names.append(measure.column)
        if measure.condition:
            names.append(parse_condition(measure.condition).column)
    return list(dict.fromkeys(names))


def source_columns(policy: Policy, request: Request) -> list[str]:
    """The persons columns to build for the request: derived columns replaced by their inputs."""
    out: list[str] = []
    for name in named_columns(policy, request):
        derived = policy.derived.get(name)
        out += derived.columns() if derived is not None else [name]
    return list(dict.fromkeys(out))


def with_derived(persons: pd.DataFrame, policy: Policy, names: list[str]) -> pd.DataFrame:
    """`persons` with the derived columns among `names` added (a new frame; the rows and their order stay)."""
    added = {}
    for name in names:
        derived = policy.derived.get(name)
        if derived is None or name in persons.columns:
            continue
        indicator = INDICATORS[derived.indicator]
        missing = [c for c in derived.columns() if c not in persons.columns]
        if missing:
            continue  # compute_table names the missing column
        inputs: list[pd.Series | np.ndarray] = [persons[derived.inputs[role]] for role in indicator.inputs]
        if derived.condition:
            outcome = parse_condition(derived.condition)
            inputs += [outcome.evaluate(persons), ~missing_values(persons[outcome.column]).to_numpy()]
        added[name] = indicator.compute(*inputs)
    return persons.assign(**added) if added else persons
