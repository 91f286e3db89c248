"""Blocking: every pair sharing a key once, oversized blocks skipped, union of passes deduplicated."""

import itertools

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from linkage.arrays import to_arrays
from linkage.blocking import Numbered, block, pairs_across, pairs_within
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
    # records with names (a nameless file has none: it is reached through its BSN and the person's other records)
    named = features["fam"].to_numpy() != 0
    entity = labels.set_index("record_id")["entity_id"].reindex(features["record_id"]).to_numpy()
    # a record without a number meets one record of a numbered person per block, so a true pair counts as
    # reached when a chain of true candidate pairs joins its records (as clustering would join them)
    true = entity[cands.left] == entity[cands.right]
    graph = coo_matrix((np.ones(int(true.sum())), (cands.left[true], cands.right[true])), shape=(arrays.n,) * 2)
    _, component = connected_components(graph, directed=False)
    groups = pd.DataFrame({"entity": entity, "component": component})[named]
    per_group = groups.groupby(["entity", "component"]).size()
    per_entity = groups.groupby("entity").size()
    reached = int((per_group * (per_group - 1) // 2).sum())
    true_pairs = int((per_entity * (per_entity - 1) // 2).sum())
    assert reached / true_pairs > 0.995


def test_cross_file_only_when_asked(cohort):
    features, _ = cohort
    arrays = to_arrays(features)
    one = (BlockingPass(name="birth_date", keys=("dob",)),)
    cands = block(arrays, LinkSettings(passes=one, within_file_pairs=False))
    assert (arrays.file_code[cands.left] != arrays.file_code[cands.right]).all()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 5)), min_size=2, max_size=40),
       st.integers(1, 3))
def test_a_record_without_a_number_meets_the_richest_records_of_each_numbered_person(rows, per_person):
    """Key, BSN (0 = none) and richness per row: an open row pairs with every open row of its block and with
    the `per_person` richest rows of each BSN in the block; numbered rows never pair with each other."""
    key = np.array([r[0] for r in rows], dtype=np.int64) + 1
    bsn = np.array([r[1] for r in rows], dtype=np.int64)
    rich = np.array([r[2] for r in rows], dtype=np.int8)
    zeros = np.zeros(len(rows), np.int64)
    numbered = Numbered((bsn != 0).astype(np.int8), [bsn, zeros, zeros], rich, per_person)
    left, right, _, _ = pairs_within(key, np.ones(len(rows), bool), 100, numbered)
    got = {tuple(sorted(p)) for p in zip(left.tolist(), right.tolist(), strict=True)}
    assert len(got) == len(left)
    for i, j in got:
        assert key[i] == key[j] and (bsn[i] == 0 or bsn[j] == 0)
    for i in np.flatnonzero(bsn == 0):
        for k in np.flatnonzero((key == key[i]) & (bsn == 0)):
            assert k == i or tuple(sorted((i, k))) in got
        for b in set(bsn[(key == key[i]) & (bsn != 0)].tolist()):
            members = np.flatnonzero((key == key[i]) & (bsn == b))
            met = [m for m in members if tuple(sorted((i, m))) in got]
            assert len(met) == min(per_person, len(members))
            richest = sorted(rich[members].tolist(), reverse=True)[:per_person]
            assert sorted(rich[met].tolist(), reverse=True) == richest


def test_keys_whose_hashes_share_their_high_bits_stay_apart(monkeypatch):
    from linkage import blocking

    # a hash that keeps only the high bits: every small key collides with every other
    monkeypatch.setattr(blocking, "_mix", lambda x: x & np.uint64(0xFFFFFFFFFFFF0000))
    key = np.array([1, 2, 1, 2, 3, 1], np.int64)
    li, ri, _, _ = blocking.pairs_within(key, np.ones(len(key), bool), cap=10)
    assert sorted(zip(li.tolist(), ri.tolist(), strict=True)) == [(0, 2), (0, 5), (1, 3), (2, 5)]


def test_settle_collisions_orders_runs_by_their_exact_values():
    from linkage.blocking import settle_collisions

    high = np.array([1, 1, 1, 1, 2, 2])
    exact = np.array([7, 5, 7, 5, 3, 3])
    assert settle_collisions(high, exact).tolist() == [1, 3, 0, 2, 4, 5]
    assert settle_collisions(high, np.array([7, 7, 7, 7, 3, 3])) is None
