"""Open nameless records attach to the one person left that fits, and only to a mutual best."""

import numpy as np

from linkage.residual import attach_open_records


def _run(evidence, bsn):
    # records 0, 1: a person (po, vo) without BSN; 2: another person (po) with a BSN; 3, 4: open records (no names)
    labels = np.array([0, 0, 1, 2, 3])
    named = np.array([True, True, True, False, False])
    file_code = np.array([0, 1, 0, 2, 2])
    left, right = np.array([0, 1, 2, 0]), np.array([3, 3, 3, 4])
    return attach_open_records(labels, left, right, np.array(evidence, float), named, file_code,
                               {"bsn": np.array(bsn, dtype=np.int64)}, 0.0)


def test_attaches_to_the_best_fitting_person():
    labels, attached, report = _run([9.0, 12.0, 20.0, 5.0], [0, 0, 7, 8, 9])
    assert labels[3] == labels[0] == labels[1]  # not to record 2: it has another BSN
    assert attached.tolist() == [1] and report["attached"] == 1
    assert labels[4] != labels[0]  # record 4 is not the person's mutual best


def test_weak_evidence_attaches_nothing():
    labels, attached, _ = _run([0.5, 0.7, 0.1, 0.2], [0, 0, 7, 8, 9])
    assert len(attached) == 0 and len(set(labels.tolist())) == 4
