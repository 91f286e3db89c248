"""A whole link job on a synthetic cohort: accuracy, twins, reviews, stable ids and the report."""

import json

import numpy as np
import pandas as pd
import pytest

from linkage.evaluate import evaluate
from linkage.pipeline import link
from linkage.report import render_html


@pytest.fixture(scope="module")
def job(cohort):
    features, labels = cohort
    counter = iter(range(10**6))
    result = link(features, new_person_id=lambda: f"P{next(counter):06d}")
    return features, labels, result


def _records(features, result):
    return result.person_map.merge(features[["record_id", "source"]], on="record_id")


def test_links_the_cohort_accurately_and_keeps_twins_apart(job):
    features, labels, result = job
    scores = evaluate(_records(features, result), labels)
    assert scores["f1"] >= 0.99
    assert scores["twin_pairs"] > 0 and scores["twins_merged"] == 0
    for pair, s in scores["by_source_pair"].items():
        if s["true_positives"] + s["false_negatives"] >= 20:
            assert s["f1"] >= 0.98, pair


def test_person_map_and_pairs_follow_the_contract(job):
    features, _, result = job
    assert list(result.person_map.columns) == ["record_id", "person_id"]
    assert result.person_map["record_id"].tolist() == features["record_id"].tolist()
    for col in ("record_id_l", "record_id_r", "pattern", "weight", "probability", "decision", "stage"):
        assert col in result.pairs.columns
    assert set(result.pairs["decision"]) <= {"link", "review", "nonlink"}
    assert set(result.pairs["stage"]) <= {"deterministic", "probabilistic"}
    json.dumps(result.model)
    json.dumps(result.report)


def test_one_record_per_export_file_unless_a_number_says_otherwise(job):
    features, _, result = job
    frame = result.person_map.merge(features[["record_id", "export_file", "bsn"]], on="record_id")
    dup = frame[frame.duplicated(["person_id", "export_file"], keep=False)]
    # a duplicate within one file is only allowed when it is one child registered twice (same BSN)
    assert dup.groupby("person_id")["bsn"].nunique().le(1).all()


def test_two_different_bsns_never_in_one_person(job):
    features, _, result = job
    frame = result.person_map.merge(features[["record_id", "bsn"]], on="record_id")
    numbers = frame[frame["bsn"] != 0].groupby("person_id")["bsn"].nunique()
    assert numbers.max() == 1


def test_rerun_with_one_more_batch_keeps_ids(cohort):
    features, labels = cohort
    counter = iter(range(10**6))

    def new_id():
        return f"P{next(counter):06d}"

    first_batch = features[features["source"] != "mbo"].reset_index(drop=True)
    first = link(first_batch, new_person_id=new_id)
    previous = dict(zip(first.person_map["record_id"], first.person_map["person_id"], strict=True))
    second = link(features, previous=previous, new_person_id=new_id)
    again = second.person_map.set_index("record_id")["person_id"]
    old = pd.Series(previous)
    kept = (again.reindex(old.index) == old).mean()
    assert kept > 0.99
    assert second.report["person_ids"]["kept_ids"] >= 0.99 * first.report["person_ids"]["persons"]


def test_reviews_are_respected(job):
    features, _, result = job
    pairs = result.pairs
    linked = pairs[(pairs["decision"] == "link") & (pairs["stage"] == "probabilistic")].iloc[0]
    apart = pairs[pairs["same_person"] == False].iloc[0]  # noqa: E712
    reviews = {(linked.record_id_l, linked.record_id_r): "reject", (apart.record_id_l, apart.record_id_r): "accept"}
    counter = iter(range(10**6))
    again = link(features, reviews=reviews, new_person_id=lambda: f"Q{next(counter):06d}")
    person = again.person_map.set_index("record_id")["person_id"]
    assert person[linked.record_id_l] != person[linked.record_id_r]
    # an accepted pair is linked unless it breaks a hard rule (one file, two numbers)
    p = again.pairs.set_index(["record_id_l", "record_id_r"]).loc[(apart.record_id_l, apart.record_id_r)]
    assert p["decision"] == "link"
    assert p["reviewed"] == "accept"


def test_a_shared_number_contradicted_by_everything_else_goes_to_review(cohort, new_id):
    features, _ = cohort
    f = features.copy()
    named = f.index[(f["fam"] != 0) & (f["bsn"] != 0)]
    a = named[0]
    b = next(i for i in named if all(f.at[i, c] != f.at[a, c] for c in ("dob", "fam", "given1", "export_file")))
    f.at[b, "bsn"] = f.at[a, "bsn"]  # a number typed onto another child's record
    result = link(f, new_person_id=new_id)
    p = result.pairs
    hit = p[((p.record_id_l == f.at[a, "record_id"]) & (p.record_id_r == f.at[b, "record_id"]))
            | ((p.record_id_l == f.at[b, "record_id"]) & (p.record_id_r == f.at[a, "record_id"]))]
    assert hit["decision"].tolist() == ["review"] and hit["stage"].tolist() == ["deterministic"]


def test_progress_is_reported(cohort, new_id):
    features, _ = cohort
    seen = []
    link(features.head(300), new_person_id=new_id, progress=lambda stage, done, total: seen.append(stage))
    assert seen[0] == "block" and seen[-1] == "done" and "compare" in seen


def test_mixed_key_versions_are_refused(cohort, new_id):
    from linkage.arrays import FeatureError

    features, _ = cohort
    f = features.copy()
    f.loc[f.index[0], "key_version"] = 2
    with pytest.raises(FeatureError, match="key versions"):
        link(f, new_person_id=new_id)


def test_report_html_is_self_contained_and_shows_no_values(job):
    features, _, result = job
    html = render_html(result.report)
    assert html.startswith("<!doctype html>") and "<svg" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "<script" not in html
    for col in ("bsn", "fam", "dob"):
        for value in features[col][features[col] != 0].head(50):
            assert str(int(value)) not in html
    assert np.isfinite(result.report["estimated_quality"]["precision"])


def test_a_bad_review_verdict_is_refused(cohort, new_id):
    from linkage.errors import LinkError

    features, _ = cohort
    ids = features["record_id"].tolist()
    with pytest.raises(LinkError, match="accept or reject"):
        link(features.head(50), reviews={(ids[0], ids[1]): "maybe"}, new_person_id=new_id)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_tiny_jobs_run(cohort, new_id, n):
    features, _ = cohort
    result = link(features.head(n), new_person_id=new_id)
    assert len(result.person_map) == n
    assert render_html(result.report).startswith("<!doctype html>")


def test_threads_do_not_change_the_result(cohort):
    """Blocking passes and comparison partitions run on threads; the job must come out the same."""
    import itertools

    from linkage.settings import LinkSettings

    features, _ = cohort
    runs = []
    for threads in (1, 3):
        counter = itertools.count()
        settings = LinkSettings(threads=threads, chunk_pairs=1000)  # many partitions
        result = link(features, settings=settings, new_person_id=lambda c=counter: f"P{next(c)}")
        runs.append(result)
    one, three = runs
    assert one.person_map.equals(three.person_map)
    assert one.pairs.equals(three.pairs)
    assert one.report["blocking"] == three.report["blocking"]


def test_map_ordered_keeps_the_order_of_the_items():
    from linkage.parallel import map_ordered

    assert map_ordered(lambda x: x * x, range(50), threads=4) == [x * x for x in range(50)]
    assert map_ordered(lambda x: x, [], threads=4) == []
