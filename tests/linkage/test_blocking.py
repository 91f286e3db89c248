"""Blocking: every pair sharing a key once, oversized blocks skipped, union of passes deduplicated."""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.arrays import to_arrays
from linkage.blocking import block, pairs_across, pairs_within
from linkage.settings import BlockingPass, LinkSettings


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=0, max_size=40), st.integers(2, 8))
def test_pairs_within_is_every_pair_sharing_a_key(keys, cap):
    key = np.array(keys, dtype=np.int64)
    valid = key != 0
    left, right, skipped_blocks, _ = pairs_within(key, valid, cap)
    got = {(min(a, b), max(a, b)) for a, b in zip(left.tolist(), right.tolist(), strict=True)}
    sizes = {k: keys.count(k) for k in set(keys) if k != 0}
    want = {(i, j) for i, j in itertools.combinations(range(len(keys)), 2)
            if keys[i] == keys[j] and keys[i] != 0 and sizes[keys[i]] <= cap}
    assert got == want
    assert len(got) == len(left)  # no pair twice
    assert skipped_blocks == sum(1 for s in sizes.values() if s > cap)


def test_pairs_across_joins_one_column_to_another():
    swapped = np.array([5, 0, 7, 0], dtype=np.int64)
    dob = np.array([1, 5, 2, 7], dtype=np.int64)
    left, right, _, _ = pairs_across(swapped, swapped != 0, dob, dob != 0, cap=10)
    assert sorted(zip(left.tolist(), right.tolist(), strict=True)) == [(0, 1), (2, 3)]


def test_block_union_is_deduplicated_and_reaches_true_pairs(cohort):
    features, labels = cohort
    arrays = to_arrays(features)
    cands = block(arrays, LinkSettings())
    codes = cands.left * arrays.n + cands.right
    assert len(np.unique(codes)) == len(codes)
    assert (cands.left < cands.right).all()
    assert sum(p["new_pairs"] for p in cands.report) == len(codes)
    # records with names (the NCO file has none: it is reached through its BSN and the person's other records)
    named = features["fam"].to_numpy() != 0
    entity = labels.set_index("record_id")["entity_id"].reindex(features["record_id"]).to_numpy()
    reached = ((entity[cands.left] == entity[cands.right]) & named[cands.left] & named[cands.right]).sum()
    per_entity = labels[named].groupby("entity_id").size()
    true_pairs = int((per_entity * (per_entity - 1) // 2).sum())
    assert reached / true_pairs > 0.995


def test_cross_file_only_when_asked(cohort):
    features, _ = cohort
    arrays = to_arrays(features)
    one = (BlockingPass(name="birth_date", keys=("dob",)),)
    cands = block(arrays, LinkSettings(passes=one, within_file_pairs=False))
    assert (arrays.file_code[cands.left] != arrays.file_code[cands.right]).all()
