"""Scale: synthetic cohorts across five sources, ttp (keyed features) vs Splink (plaintext), per size.

Run: .venv/bin/python bench/scale.py [--persons 10000 100000] [--million] [--no-splink] [--dense]
                                     [--engine local|dask|both] [--workers 2] [--partition-rows 250000]
                                     [--memory-limit 4GiB]
Each tool and size runs in its own subprocess (peak memory is its own; ttp pseudonymises in one and links
in the next); prints a table with wall and CPU seconds, and how link time grew against n·log n.

`--engine dask` links on a LocalCluster of `--workers` worker processes (one thread each, each with
`--memory-limit`) from feature partitions written beforehand in another process: the row shows the client's
peak memory (peak_mb, the scheduler runs in it too), each worker's peak (worker_peak_mb), CPU seconds of
client and workers together, the bytes the shuffles wrote to the job's scratch directory (shuffled_mb, per
stage in shuffle_stages_mb) and the bytes the workers sent each other over Dask's comms (sent_mb).

The cohorts are national by default: names spread as a whole country's birth cohorts spread them (see
tests/linkage/synthetic.py). `--dense` uses the small tests' dense name pools instead, where blocks on
birth date and name grow with the population and so does every linker's work per record.
Splink runs with the light training settings of LINKAGE-NOTES.md: u from 10^6 random pairs, each EM
session capped at 10^6 pairs.
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from _common import child, in_subprocess, peak_rss_kb, table  # noqa: E402


def _load(path: str):
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _digest(frame) -> str:
    """A digest of a frame's rows in order: two engines' person maps and pairs compared across processes."""
    import hashlib

    import pandas as pd

    return hashlib.sha1(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()[:12]


def run_features(path: str) -> dict:
    """Pseudonymise the records (in its own process, so the link's peak memory is the link's own)."""
    from tests.linkage.synthetic import pseudonymised

    records = _load(path)
    start, cpu = time.perf_counter(), time.process_time()
    features = pseudonymised(records)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    labels = records[["entity_id", "twin_of"]].assign(record_id=features["record_id"].to_numpy(),
                                                      source=features["source"].to_numpy())
    with open(path + ".features", "wb") as fh:
        pickle.dump((features, labels), fh, protocol=5)
    return {"records": len(features), "seconds": round(seconds, 1), "cpu_s": round(cpu, 1)}


def run_ttp(path: str) -> dict:
    import itertools

    from linkage.evaluate import evaluate
    from linkage.pipeline import link

    features, labels = _load(path + ".features")
    counter = itertools.count()
    t, cpu = time.perf_counter(), time.process_time()
    result = link(features, new_person_id=lambda: f"P{next(counter)}")
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    link_peak = _link_peak_mb()
    ev = evaluate(result.person_map.assign(source=features["source"].to_numpy()), labels)
    stages = " ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
    return {"records": len(features), "precision": ev["precision"], "recall": ev["recall"], "f1": ev["f1"],
            "twins_merged": ev["twins_merged"], "seconds": round(seconds, 1), "cpu_s": round(cpu, 1),
            "candidates": int(len(result.candidates.left)), "stages_s": stages, "link_peak_mb": link_peak,
            "person_map": _digest(result.person_map), "pairs": _digest(result.pairs)}


def run_partitions(path: str) -> dict:
    """Write the features as the dask engine's Parquet partitions (in its own process, like pseudonymising)."""
    from linkage.partitions import write_partitions

    features, labels = _load(path + ".features")
    with open(path + ".labels", "wb") as fh:  # the dask client loads these alone: its peak is the engine's
        pickle.dump(labels, fh, protocol=5)
    start = time.perf_counter()
    meta = write_partitions(features, Path(path + ".parts"), rows_per_part=int(sys.argv[4]))
    return {"records": len(features), "seconds": round(time.perf_counter() - start, 1), "parts": len(meta["parts"])}


def run_batches(path: str) -> dict:
    """Generate, pseudonymise and write the dask engine's partitions batch by batch (`--batch-persons`), as
    ingest would: no process holds all records or all features (at 3M persons each is about 10 GB)."""
    import pandas as pd

    from linkage.partitions import PartitionWriter
    from tests.linkage.synthetic import make_persons, make_records, pseudonymised

    n, batch, national, rows_per_part = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "national", int(sys.argv[7])
    start, cpu = time.perf_counter(), time.process_time()
    persons = make_persons(n, seed=11, national=national)
    writer = PartitionWriter(Path(path + ".parts"), rows_per_part=rows_per_part)
    labels = []
    for b, first in enumerate(range(0, n, batch)):
        records = make_records(persons.iloc[first:first + batch], seed=11 + b, national=national)
        records["record_key"] = records["record_key"] + f"-b{b}"  # record keys unique over the batches
        features = pseudonymised(records)
        writer.add(features)
        labels.append(records[["entity_id", "twin_of"]].assign(record_id=features["record_id"].to_numpy(),
                                                               source=features["source"].to_numpy()))
        del records, features
    meta = writer.close()
    with open(path + ".labels", "wb") as fh:
        pickle.dump(pd.concat(labels, ignore_index=True), fh, protocol=5)
    return {"records": meta["n"], "seconds": round(time.perf_counter() - start, 1),
            "cpu_s": round(time.process_time() - cpu, 1), "parts": len(meta["parts"])}


def _link_peak_mb() -> float:
    """This process's peak memory so far: read as soon as the link returns, before the benchmark evaluates."""
    return round(peak_rss_kb() / 1024, 1)


def _worker_figures(dask_worker) -> dict:
    """Run on each worker by `Client.run` (which hands it the worker)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/self/status", encoding="ascii") as fh:  # VmHWM: see _common.peak_rss_kb (runs on a worker)
        peak_kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return {"peak_mb": peak_kb / 1024, "cpu_s": usage.ru_utime + usage.ru_stime,
            "sent_bytes": dask_worker.transfer_outgoing_bytes_total}


def run_ttp_dask(path: str) -> dict:
    import itertools

    from distributed import Client, LocalCluster

    from linkage.dask_engine import link_dask
    from linkage.evaluate import evaluate

    counter = itertools.count()
    with LocalCluster(n_workers=int(sys.argv[4]), threads_per_worker=1, processes=True,
                      dashboard_address=None, memory_limit=sys.argv[5]) as cluster, Client(cluster) as client:
        start = client.run(_worker_figures)
        t, cpu = time.perf_counter(), time.process_time()
        result = link_dask(Path(path + ".parts"), client, new_person_id=lambda: f"P{next(counter)}")
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        link_peak = _link_peak_mb()
        end = client.run(_worker_figures)
    labels = _load(path + ".labels")  # after the link: the link's peak is the engine's own
    ev = evaluate(result.person_map.assign(source=labels["source"].to_numpy()), labels)
    stages = " ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
    workers_cpu = sum(end[w]["cpu_s"] - start[w]["cpu_s"] for w in end)
    return {"records": len(labels), "precision": ev["precision"], "recall": ev["recall"], "f1": ev["f1"],
            "twins_merged": ev["twins_merged"], "seconds": round(seconds, 1), "cpu_s": round(cpu + workers_cpu, 1),
            "candidates": int(len(result.candidates.left)), "stages_s": stages, "link_peak_mb": link_peak,
            "person_map": _digest(result.person_map), "pairs": _digest(result.pairs),
            "worker_peak_mb": " ".join(str(round(end[w]["peak_mb"])) for w in sorted(end)),
            "shuffled_mb": round(sum(result.engine["shuffle_bytes"].values()) / 2**20),
            "shuffle_stages_mb": " ".join(f"{k} {v / 2**20:.0f}" for k, v in result.engine["shuffle_bytes"].items()),
            "sent_mb": round(sum(end[w]["sent_bytes"] - start[w]["sent_bytes"] for w in end) / 2**20)}


def run_splink(path: str) -> dict:
    import pandas as pd
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from linkage.evaluate import evaluate

    records = _load(path).reset_index(drop=True)
    df = pd.DataFrame({
        "unique_id": records.index.astype(str), "source": records["source"],
        "export_file": records["source"] + "/" + records["export_file"],
        "bsn": records["bsn"], "family_name": records["family_name"].str.lower(),
        "given_name": records["given_names"].fillna(records["preferred_name"]).str.split().str[0].str.lower(),
        "preferred_name": records["preferred_name"].str.lower(), "birth_date": records["birth_date"],
        "sex": records["sex"], "postcode": records["postcode"]})
    start, cpu = time.perf_counter(), time.process_time()
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("bsn"), block_on("birth_date", "family_name"), block_on("birth_date", "given_name"),
            block_on("birth_date", "postcode"), block_on("given_name", "family_name")],
        comparisons=[
            cl.ExactMatch("bsn"),
            cl.NameComparison("family_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("given_name"),
            cl.DateOfBirthComparison("birth_date", input_is_string=True, datetime_format="%Y-%m-%d"),
            cl.ExactMatch("postcode"),
            cl.ExactMatch("sex"),
        ],
    )
    db = DuckDBAPI()
    linker = Linker(db.register(df, table_name="records"), settings, log_level=40)
    linker.training.estimate_probability_two_random_records_match([block_on("bsn")], recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"), max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("family_name", "given_name"),
                                                                       max_pairs=1e6)
    pred = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, 0.5).as_pandas_dataframe()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    person = clusters.set_index("unique_id")["cluster_id"].reindex(df["unique_id"]).astype(str).to_numpy()
    recs = pd.DataFrame({"record_id": df["unique_id"], "source": df["source"], "person_id": person})
    labels = pd.DataFrame({"record_id": df["unique_id"], "source": df["source"],
                           "entity_id": records["entity_id"], "twin_of": records["twin_of"]})
    ev = evaluate(recs, labels)
    return {"records": len(df), "precision": ev["precision"], "recall": ev["recall"], "f1": ev["f1"],
            "twins_merged": ev["twins_merged"], "seconds": round(seconds, 1), "cpu_s": round(cpu, 1)}


TOOLS = {"pseudonymise": run_features, "ttp": run_ttp, "partitions": run_partitions, "batches": run_batches,
         "ttp-dask": run_ttp_dask, "splink": run_splink}


def main() -> None:
    if len(sys.argv) >= 4 and sys.argv[1] == "--tool":
        child(lambda: TOOLS[sys.argv[2]](sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 persons")
    parser.add_argument("--no-splink", action="store_true")
    parser.add_argument("--dense", action="store_true", help="the small tests' dense name pools")
    parser.add_argument("--engine", choices=["local", "dask", "both"], default="local",
                        help="ttp in one process, on a Dask LocalCluster, or both side by side")
    parser.add_argument("--workers", type=int, default=2, help="dask worker processes")
    parser.add_argument("--partition-rows", type=int, default=250_000, help="records per feature partition")
    parser.add_argument("--memory-limit", default="4GiB", help="each dask worker's memory limit")
    parser.add_argument("--batch-persons", type=int, default=0,
                        help="dask only: generate, pseudonymise and partition the records in batches of this many "
                             "persons (records drawn per batch, so not the unbatched records)")
    args = parser.parse_args()
    skip = {"splink"} if args.no_splink else set()
    skip |= {"ttp"} if args.engine == "dask" else set()
    skip |= {"partitions", "ttp-dask"} if args.engine == "local" else set()
    if args.batch_persons and (args.engine != "dask" or not args.no_splink):
        parser.error("--batch-persons runs the dask engine alone: give --engine dask --no-splink")
    skip |= {"pseudonymise", "partitions"} if args.batch_persons else {"batches"}
    extra = {"partitions": [str(args.partition_rows)], "ttp-dask": [str(args.workers), args.memory_limit]}
    sizes = args.persons + ([1_000_000] if args.million else [])
    from tests.linkage.synthetic import make_persons, make_records

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            if args.batch_persons:
                path = str(Path(tmp) / f"records_{n}.pkl")
                for tool, more in (("batches", [str(n), str(args.batch_persons),
                                                "dense" if args.dense else "national", str(args.partition_rows)]),
                                   ("ttp-dask", extra["ttp-dask"])):
                    rows.append((f"{tool} {n:,}", in_subprocess(__file__, ["--tool", tool, path, *more], timeout=7200)))
                    print(rows[-1], flush=True)
                continue
            t = time.perf_counter()
            national = not args.dense
            records = make_records(make_persons(n, seed=11, national=national), seed=11, national=national)
            path = str(Path(tmp) / f"records_{n}.pkl")
            with open(path, "wb") as fh:
                pickle.dump(records, fh)
            print(f"{n:,} persons: {len(records):,} records generated in {time.perf_counter() - t:.0f} s",
                  flush=True)
            del records  # each tool reads them from the file: this process holds no copy while they run
            for tool in TOOLS:
                if tool in skip:
                    continue
                rows.append((f"{tool} {n:,}", in_subprocess(__file__, ["--tool", tool, path, *extra.get(tool, [])],
                                                            timeout=7200)))
                print(rows[-1], flush=True)
    print(table(rows, ["records", "precision", "recall", "f1", "twins_merged", "seconds", "cpu_s", "peak_mb",
                       "link_peak_mb", "worker_peak_mb", "shuffled_mb", "sent_mb", "candidates", "person_map", "pairs",
                       "stages_s", "shuffle_stages_mb"]))
    print(growth(rows, sizes))


def growth(rows: list[tuple[str, dict]], sizes: list[int]) -> str:
    """Link time (and CPU time) from each size to the next, beside what n·log n allows."""
    lines = []
    by_name = dict(rows)
    ordered = sorted(sizes)
    for tool in ("ttp", "ttp-dask", "splink"):
        for small, large in zip(ordered, ordered[1:], strict=False):
            a, b = by_name.get(f"{tool} {small:,}", {}), by_name.get(f"{tool} {large:,}", {})
            if "seconds" not in a or "seconds" not in b:
                continue
            allowed = large * math.log(large) / (small * math.log(small))
            lines.append(f"{tool} {small:,} -> {large:,} persons: wall x{b['seconds'] / a['seconds']:.1f}, "
                         f"CPU x{b['cpu_s'] / a['cpu_s']:.1f}; n·log n allows x{allowed:.1f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
