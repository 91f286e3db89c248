"""Stable person ids: unchanged persons keep their id; merges and splits are counted; each old id once."""

import numpy as np

from linkage.person_ids import assign_person_ids


def _ids(records, labels, previous, new_id):
    person, report = assign_person_ids(np.array(records, dtype=object), np.array(labels), previous, new_id)
    return dict(zip(records, person.tolist(), strict=True)), report


def test_first_run_gives_new_ids(new_id):
    ids, report = _ids(["a", "b", "c"], [0, 0, 1], None, new_id)
    assert ids["a"] == ids["b"] != ids["c"]
    assert report["new_ids"] == 2 and report["kept_ids"] == 0


def test_an_added_record_keeps_the_persons_id(new_id):
    previous = {"a": "X", "b": "X", "c": "Y"}
    ids, report = _ids(["a", "b", "c", "d", "e"], [0, 0, 1, 1, 2], previous, new_id)
    assert ids["a"] == ids["b"] == "X"
    assert ids["c"] == ids["d"] == "Y"
    assert ids["e"] not in ("X", "Y")
    assert report["merges"] == 0 and report["splits"] == 0 and report["new_ids"] == 1


def test_merge_keeps_the_larger_overlap_and_reports_it(new_id):
    previous = {"a": "X", "b": "X", "c": "Y"}
    ids, report = _ids(["a", "b", "c"], [0, 0, 0], previous, new_id)
    assert set(ids.values()) == {"X"}
    assert report["merges"] == 1 and report["retired_ids"] == 1


def test_split_gives_the_old_id_to_one_part_only(new_id):
    previous = {"a": "X", "b": "X", "c": "X"}
    ids, report = _ids(["a", "b", "c"], [0, 0, 1], previous, new_id)
    assert ids["a"] == ids["b"] == "X" and ids["c"] != "X"
    assert report["splits"] == 1
