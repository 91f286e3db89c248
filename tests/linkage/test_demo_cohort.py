"""The real demo cohort (generator, connectors, pseudonymiser, link job) meets the accuracy targets."""

import itertools

import pytest

from linkage.evaluate import evaluate
from linkage.pipeline import link


@pytest.mark.slow
def test_demo_cohort_is_linked_accurately(tmp_path):
    pytest.importorskip("ttp.demo.generate")
    from tests.linkage.demo_cohort import load_demo

    features, labels = load_demo(tmp_path / "demo", persons=5000, seed=1)
    counter = itertools.count()
    result = link(features, new_person_id=lambda: f"P{next(counter)}")
    scores = evaluate(result.person_map.merge(features[["record_id", "source"]], on="record_id"), labels)
    assert scores["f1"] >= 0.995
    assert scores["twin_pairs"] > 0 and scores["twins_merged"] == 0
    for pair, s in scores["by_source_pair"].items():
        assert s["f1"] >= 0.99, pair
