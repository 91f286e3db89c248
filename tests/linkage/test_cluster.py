"""Clustering: strongest links first; one record per export file, one number per kind, rejects respected."""

import numpy as np

from linkage.cluster import cluster


def _numbers(bsn):
    return {"bsn": np.array(bsn, dtype=np.int64)}


def test_links_join_transitively():
    labels, refused = cluster(np.array([0, 1, 2]), _numbers([0, 0, 0]), np.array([0, 1]), np.array([1, 2]),
                              np.array([5.0, 4.0]))
    assert len(set(labels.tolist())) == 1 and (refused == "").all()


def test_two_records_of_one_file_stay_apart_and_the_stronger_link_wins():
    # records 1 and 2 come from one export file; both link to record 0
    labels, refused = cluster(np.array([0, 1, 1]), _numbers([0, 0, 0]), np.array([0, 0]), np.array([1, 2]),
                              np.array([3.0, 9.0]))
    assert labels[0] == labels[2] != labels[1]
    assert refused.tolist() == ["same_export_file", ""]


def test_a_strong_link_may_join_a_duplicate_within_one_file():
    labels, _ = cluster(np.array([0, 1, 1]), _numbers([0, 0, 0]), np.array([0, 0]), np.array([1, 2]),
                        np.array([3.0, 9.0]), strong=np.array([True, True]))
    assert len(set(labels.tolist())) == 1


def test_two_different_numbers_never_join():
    # twins: 0 and 1 have different BSNs; 2 (no BSN) links to both, the weaker link is refused
    labels, refused = cluster(np.array([0, 1, 2]), _numbers([11, 22, 0]), np.array([0, 1]), np.array([2, 2]),
                              np.array([8.0, 6.0]))
    assert labels[0] == labels[2] != labels[1]
    assert refused.tolist() == ["", "different_bsn"]


def test_rejected_pair_is_never_joined_even_through_others():
    labels, refused = cluster(np.array([0, 1, 2]), _numbers([0, 0, 0]), np.array([0, 1]), np.array([1, 2]),
                              np.array([8.0, 6.0]), never=[(0, 2)])
    assert labels[0] == labels[1] != labels[2]
    assert refused.tolist() == ["", "rejected_in_review"]


def test_pairs_that_must_stay_apart_hold_even_for_strong_links():
    # strong links 0-1 and 1-2 (all different files), but 0 and 2 are twins: the weaker link is refused
    labels, refused = cluster(np.array([0, 1, 2]), _numbers([0, 0, 0]), np.array([0, 1]), np.array([1, 2]),
                              np.array([8.0, 6.0]), never=[(0, 2)], strong=np.array([True, True]))
    assert labels[0] == labels[1] != labels[2]
    assert refused.tolist() == ["", "rejected_in_review"]


def test_strong_groups_without_conflicts_join_at_once():
    files = np.arange(6)
    left, right = np.array([0, 1, 3, 4]), np.array([1, 2, 4, 5])
    labels, refused = cluster(files, _numbers([7, 0, 7, 0, 9, 0]), left, right, np.full(4, 1e6),
                              strong=np.ones(4, bool))
    assert labels[0] == labels[1] == labels[2] and labels[3] == labels[4] == labels[5]
    assert labels[0] != labels[3] and (refused == "").all()
