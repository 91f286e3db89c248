"""Pairwise evaluation on a hand-counted example."""

import pandas as pd

from linkage.evaluate import evaluate


def test_pairwise_counts_by_hand():
    # truth: e1 = {a(po), b(vo), c(mbo)}, e2 = {d(po)}, e3 = {e(vo)} twin of e2
    labels = pd.DataFrame({"record_id": list("abcde"), "source": ["po", "vo", "mbo", "po", "vo"],
                           "entity_id": ["e1", "e1", "e1", "e2", "e3"],
                           "twin_of": [None, None, None, "e3", "e2"]})
    # linked: {a, b}, {c}, {d, e}: one true pair found (a-b), two missed (a-c, b-c), one false (d-e)
    records = pd.DataFrame({"record_id": list("abcde"), "source": labels["source"],
                            "person_id": ["p1", "p1", "p2", "p3", "p3"]})
    out = evaluate(records, labels)
    assert (out["true_positives"], out["false_positives"], out["false_negatives"]) == (1, 1, 2)
    assert out["precision"] == 0.5 and out["recall"] == 1 / 3
    assert out["by_source_pair"]["po|vo"]["true_positives"] == 1
    assert out["by_source_pair"]["po|vo"]["false_positives"] == 1
    assert out["by_source_pair"]["mbo|po"]["false_negatives"] == 1
    assert out["twins_merged"] == 1 and out["twin_pairs"] == 1


def test_pairs_counted_within_and_across_sources():
    # one person of four records: two po, one vo, one mbo; truth splits off the mbo record
    labels = pd.DataFrame({"record_id": list("abcd"), "source": ["po", "po", "vo", "mbo"],
                           "entity_id": ["e1", "e1", "e1", "e2"], "twin_of": [None] * 4})
    records = pd.DataFrame({"record_id": list("abcd"), "source": labels["source"], "person_id": ["p1"] * 4})
    out = evaluate(records, labels)
    by = out["by_source_pair"]
    assert by["po|po"]["true_positives"] == 1 and by["po|vo"]["true_positives"] == 2
    assert by["mbo|po"]["false_positives"] == 2 and by["mbo|vo"]["false_positives"] == 1
    assert (out["true_positives"], out["false_positives"], out["false_negatives"]) == (3, 3, 0)
    assert out["twin_pairs"] == 0 and out["twins_merged"] == 0
