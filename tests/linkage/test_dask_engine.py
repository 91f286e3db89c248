"""The dask engine gives the in-process answer: the same person map, pair decisions, blocking report and model,
on a LocalCluster of two worker processes."""

import itertools

import pandas as pd
import pytest
from distributed import Client, LocalCluster

from linkage import dask_engine
from linkage.dask_engine import link_dask
from linkage.partitions import read_meta, write_partitions
from linkage.pipeline import link
from linkage.settings import LinkSettings
from tests.linkage.demo_cohort import load_demo

# a small u sample keeps the test short: both engines draw the same pairs from the same seed
SETTINGS = LinkSettings(u_sample_pairs=40_000, threads=1)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit="2GiB") as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    features, _ = load_demo(tmp_path_factory.mktemp("demo"), persons=400, seed=1)
    return features


def _ids():
    counter = itertools.count()
    return lambda: f"P{next(counter):06d}"


def test_same_person_map_and_pair_decisions_as_in_one_process(demo, client, tmp_path, monkeypatch):
    # buckets of a few hundred entries: a pass's shuffle has more buckets than there are partitions
    monkeypatch.setattr(dask_engine, "SHUFFLE_ROWS", 300)
    first = link(demo, settings=SETTINGS, new_person_id=_ids())
    # the client-side stages see earlier ids and clerical reviews as well
    previous = dict(first.person_map.head(len(demo) // 2).itertuples(index=False, name=None))
    decided = first.pairs[first.pairs["decision"] == "link"]
    reviews = {(decided["record_id_l"].iloc[0], decided["record_id_r"].iloc[0]): "reject"}
    local = link(demo, settings=SETTINGS, previous=previous, reviews=reviews, new_person_id=_ids())
    meta = write_partitions(demo, tmp_path / "parts", rows_per_part=len(demo) // 4 + 1)
    assert len(meta["parts"]) == 4 and meta["blooms"]  # several partitions, Bloom filters among the columns
    on_dask = link_dask(tmp_path / "parts", client, settings=SETTINGS, previous=previous, reviews=reviews,
                        new_person_id=_ids())

    pd.testing.assert_frame_equal(on_dask.person_map, local.person_map)
    pd.testing.assert_frame_equal(on_dask.pairs, local.pairs)
    assert on_dask.report["blocking"] == local.report["blocking"]
    assert on_dask.engine["shuffle_bytes"]["entries"] > 0  # the shuffles went through files,
    assert not (tmp_path / "parts" / "scratch").exists()  # which are gone
    assert on_dask.model == local.model
    assert (local.pairs["decision"] == "link").sum() > len(demo) // 2  # a real job: most records linked
    assert local.person_map["person_id"].nunique() < len(demo)


def test_partitions_hold_bloom_filters_as_fixed_size_binary(demo, tmp_path):
    import pyarrow.parquet as pq

    meta = write_partitions(demo, tmp_path / "parts", rows_per_part=len(demo))
    table = pq.read_table(tmp_path / "parts" / meta["parts"][0])
    assert str(table.schema.field("fam_bf").type) == "fixed_size_binary[128]"
    assert read_meta(tmp_path / "parts")["n"] == len(demo)


def test_partitions_written_batch_by_batch_are_those_of_the_whole_frame(demo, tmp_path):
    import pyarrow.parquet as pq

    from linkage.partitions import PartitionWriter

    # batches in a shuffled row order, so export files and sources appear for the first time in later batches
    frame = demo.sample(frac=1, random_state=3).reset_index(drop=True)
    whole = write_partitions(frame, tmp_path / "whole", rows_per_part=150)
    writer = PartitionWriter(tmp_path / "batches", rows_per_part=150)
    for start in range(0, len(frame), 97):
        writer.add(frame.iloc[start:start + 97])
    assert writer.close() == whole
    for name in whole["parts"]:
        assert pq.read_table(tmp_path / "batches" / name).equals(pq.read_table(tmp_path / "whole" / name))
