"""Shared fixtures: a small synthetic cohort, pseudonymised once per test session."""

import itertools

import pytest

from tests.linkage.synthetic import synthetic_cohort


@pytest.fixture(scope="session")
def cohort():
    return synthetic_cohort(400, seed=3)


@pytest.fixture
def new_id():
    counter = itertools.count()
    return lambda: f"P{next(counter):06d}"
