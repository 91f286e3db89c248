"""Pattern-count EM: agrees with recordlinkage's ECM, and partition-wise counts sum to the whole."""

import numpy as np
import pandas as pd
import recordlinkage

from linkage import em
from linkage.arrays import to_arrays
from linkage.blocking import block
from linkage.compare import compare, comparisons_for
from linkage.settings import BlockingPass, LinkSettings


def _binary_vectors(cohort) -> np.ndarray:
    features, _ = cohort
    # one wide pass: plenty of non-matches next to the matches, as the binary ECM expects
    arrays = to_arrays(features)
    settings = LinkSettings(passes=(BlockingPass(name="birth_date", keys=("dob",)),))
    cands = block(arrays, settings)
    comps = comparisons_for(arrays, settings)
    levels = compare(arrays, cands.left, cands.right, comps, settings).levels
    names = ["family_name", "given_name", "birth_date", "postcode", "sex"]
    cols = [k for k, c in enumerate(comps) if c.name in names]
    tops = np.array([len(comps[k].levels) - 1 for k in cols])
    return (levels[:, cols] == tops).astype(np.int8)


def test_em_matches_recordlinkage_ecm(cohort):
    x = _binary_vectors(cohort)
    ecm = recordlinkage.ECMClassifier(init="jaro", binarize=None, max_iter=2000, atol=1e-9)
    ecm.fit(pd.DataFrame(x, columns=[f"c{k}" for k in range(x.shape[1])]))
    patterns, counts = em.count_patterns(x)
    k = x.shape[1]
    # recordlinkage's "jaro" start: m(agree) 0.9, u(agree) 0.1, match share 0.1
    fit = em.fit(patterns, counts, [np.array([0.1, 0.9])] * k, [np.array([0.9, 0.1])] * k, 0.1,
                 max_iter=2000, tol=1e-7)
    ours_m = np.array([m[1] for m in fit.m])
    ours_u = np.array([u[1] for u in fit.u])
    theirs_m = np.array([ecm.m_probs[f"c{j}"][1] for j in range(k)])
    theirs_u = np.array([ecm.u_probs[f"c{j}"][1] for j in range(k)])
    # tolerance 0.005: our probabilities are floored at 1e-6, recordlinkage's are not
    assert np.allclose(ours_m, theirs_m, atol=5e-3)
    assert np.allclose(ours_u, theirs_u, atol=5e-3)
    assert abs(fit.match_share - ecm.p) < 5e-3
    assert fit.converged


def test_counts_of_partitions_sum_to_counts_of_all():
    rng = np.random.default_rng(7)
    levels = rng.integers(-1, 3, size=(5000, 4)).astype(np.int8)
    whole = em.count_patterns(levels)
    parts = em.merge_counts([em.count_patterns(levels[:1234]), em.count_patterns(levels[1234:])])
    assert np.array_equal(whole[0], parts[0]) and np.array_equal(whole[1], parts[1])
    assert whole[1].sum() == len(levels)


def test_em_recovers_known_parameters():
    rng = np.random.default_rng(1)
    n, share = 200_000, 0.05
    is_match = rng.random(n) < share
    m_true, u_true = np.array([0.05, 0.15, 0.8]), np.array([0.7, 0.25, 0.05])
    levels = np.empty((n, 4), dtype=np.int8)
    for k in range(4):
        levels[is_match, k] = rng.choice(3, is_match.sum(), p=m_true)
        levels[~is_match, k] = rng.choice(3, (~is_match).sum(), p=u_true)
    levels[rng.random((n, 4)) < 0.1] = -1  # missing values are neutral
    patterns, counts = em.count_patterns(levels)
    start = [np.array([0.2, 0.3, 0.5])] * 4
    fit = em.fit(patterns, counts, start, [np.array([0.5, 0.3, 0.2])] * 4, 0.2)
    assert abs(fit.match_share - share) < 0.005
    for k in range(4):
        assert np.allclose(fit.m[k], m_true, atol=0.02)
        assert np.allclose(fit.u[k], u_true, atol=0.01)


def test_fixed_parameters_stay_fixed():
    rng = np.random.default_rng(2)
    levels = rng.integers(0, 2, size=(1000, 2)).astype(np.int8)
    patterns, counts = em.count_patterns(levels)
    m0 = [np.array([0.001, 0.999]), np.array([0.3, 0.7])]
    fit = em.fit(patterns, counts, m0, [np.array([0.6, 0.4])] * 2, 0.3, fix_m=[True, False], fix_u=[True, True])
    assert np.allclose(fit.m[0], m0[0] / m0[0].sum())
    assert np.allclose(fit.u[1], [0.6, 0.4])
