"""The link job on Dask distributed: blocking passes as shuffles by key, comparisons and u per partition of pairs,
then the model, decisions, clusters and person ids on the client through the stages one process runs.

Every rule is the in-process one: a pass's rows are shuffled by the pass's key and `blocking.run_pass` runs on
each group of keys (so block caps and representatives per numbered person hold per block); pairs meet their
two records by two joins on the row number and `compare.compare` runs on each partition.

The job runs stage by stage, every shuffle through Parquet files under the job's scratch directory, so a
worker's memory is bounded by the partition size and `chunk_pairs`, not by the population (docs/scale.md).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dask import delayed

from linkage.arrays import FeatureArrays, unique_sorted
from linkage.blocking import NUMBER_KEYS, Candidates, Numbered, combine_keys, lsh_bands, numbered_rows, run_pass
from linkage.compare import Comparison, compare, comparisons_for
from linkage.em import count_patterns, merge_counts
from linkage.errors import LinkError
from linkage.model import u_from_counts, u_level_counts, u_sample
from linkage.partitions import client_arrays, part_arrays, read_meta, worker_columns
from linkage.pipeline import LinkResult, Progress, link_compared, stopwatch
from linkage.settings import BlockingPass, LinkSettings

ENTRY = {"key": np.int64, "row": np.int64, "file": np.int64, "mask": np.int8, "rich": np.int8,
         **{f"n{k}": np.int64 for k in range(len(NUMBER_KEYS))}}
BAND = "band"


def _empty(dtypes: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({k: np.empty(0, dtype=v) for k, v in dtypes.items()})


def pass_columns(p: BlockingPass) -> list[str]:
    """The keyed columns a pass reads besides the numbers (its keys, the crossed pair, an LSH band)."""
    return [*p.keys, *(p.cross or ()), *([BAND] if p.lsh else [])]


def pass_entries(frame: pd.DataFrame, meta: dict, p: BlockingPass, settings: LinkSettings,
                 crowded: dict[str, np.ndarray]) -> pd.DataFrame:
    """One entry per row and key it is blocked on, with what the pass's rules read of the row.

    A crossed pass has a left entry (the other column of the pair zeroed) and a right entry per row; an LSH
    pass an entry per band, the band's bits in `band`. Zeroed columns are missing keys to `run_pass`.
    """
    arrays = part_arrays(frame, meta)
    numbered = numbered_rows(arrays, settings, crowded)
    rows = frame.index.to_numpy(dtype=np.int64)
    base = {"row": rows, "file": arrays.file_code, "mask": numbered.mask, "rich": numbered.richness,
            **{f"n{k}": col for k, col in enumerate(numbered.numbers)},
            **{c: arrays.column(c) for c in p.keys}}
    cols = [arrays.column(k) for k in p.keys]
    variants: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = []
    if p.cross is not None:
        left, right = arrays.column(p.cross[0]), arrays.column(p.cross[1])
        zero = np.zeros(arrays.n, np.int64)
        for mine, other, (name, other_name) in ((left, zero, p.cross), (right, zero, p.cross[::-1])):
            key, valid = combine_keys([mine, *cols])
            variants.append((key, valid, {name: mine, other_name: other}))
    elif p.lsh is not None:
        if p.lsh in arrays.blooms:
            for band in lsh_bands(arrays.blooms[p.lsh], arrays.bloom_counts[p.lsh], settings.lsh_bands,
                                  settings.lsh_band_bits, settings.seed):
                key, valid = combine_keys([band, *cols])
                variants.append((key, valid, {BAND: band}))
    else:
        key, valid = combine_keys(cols)
        variants.append((key, valid, {}))
    dtypes = {**ENTRY, **{c: np.int64 for c in pass_columns(p)}}
    frames = [pd.DataFrame({"key": key[valid], **{k: v[valid] for k, v in {**base, **extra}.items()}})
              for key, valid, extra in variants]
    return pd.concat([_empty(dtypes), *frames], ignore_index=True).astype(dtypes)


def pass_pairs(entries: pd.DataFrame, p: BlockingPass, k: int, settings: LinkSettings, n: int, tags: int
               ) -> tuple[pd.DataFrame, np.ndarray]:
    """The pairs a pass proposes among a group of keys (`run_pass` on the group), as tagged pair codes."""
    entries = entries.sort_values("row", kind="stable")  # rows in their global order: the same tie-breaks
    m = len(entries)
    hashes = {c: entries[c].to_numpy(dtype=np.int64) for c in [*p.keys, *(p.cross or ())]}
    arrays = FeatureArrays(n=m, hashes=hashes, blooms={}, bloom_counts={}, sex=np.zeros(m, np.int8),
                           file_code=entries["file"].to_numpy(dtype=np.int64),
                           source_code=np.zeros(m, np.int64), sources=[], files=[])
    bands = None
    if p.lsh is not None:
        band = entries[BAND].to_numpy(dtype=np.int64)
        arrays.blooms[p.lsh] = np.zeros((m, 1), np.uint64)  # the bands stand in for the filter
        # an entry is one band's: each band sees only its own entries, as it would in one process
        order = band.view(np.uint64) >> np.uint64(56)
        bands = {p.lsh: [np.where(order == b + 1, band, 0) for b in range(settings.lsh_bands)]}
    numbered = Numbered(entries["mask"].to_numpy(dtype=np.int8),
                        [entries[f"n{j}"].to_numpy(dtype=np.int64) for j in range(len(NUMBER_KEYS))],
                        entries["rich"].to_numpy(dtype=np.int8), settings.representatives_per_person)
    li, ri, skipped_blocks, skipped_rows = run_pass(arrays, p, settings, numbered, bands)
    if not settings.within_file_pairs:
        keep = arrays.file_code[li] != arrays.file_code[ri]
        li, ri = li[keep], ri[keep]
    rows = entries["row"].to_numpy(dtype=np.int64)
    gl, gr = rows[li], rows[ri]
    codes = unique_sorted(np.minimum(gl, gr) * np.int64(n) + np.maximum(gl, gr))
    frame = pd.DataFrame({"pair": codes, "code": codes * np.int64(tags) + k})
    return frame, np.array([skipped_blocks, skipped_rows], np.int64)


def union_pairs(tagged: pd.DataFrame, tags: int, passes: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Distinct pairs of a group of pair codes, each with the first pass that proposed it, and the distinct
    pairs each pass proposed (a pair lands in one group, so these sum over groups)."""
    every = unique_sorted(tagged["code"].to_numpy(dtype=np.int64))
    code = every // tags
    first = np.r_[True, code[1:] != code[:-1]] if len(code) else np.empty(0, bool)
    frame = pd.DataFrame({"pair": code[first], "first_pass": (every[first] % tags).astype(np.int16)})
    return frame, np.bincount(every % tags, minlength=passes)


def _sides(frame: pd.DataFrame, meta: dict) -> tuple[FeatureArrays, np.ndarray, np.ndarray]:
    """The records of a partition of pairs (joined as l_* and r_* columns) as arrays, and each pair's two rows."""
    m = len(frame)
    left = frame[[c for c in frame.columns if c.startswith("l_")]].rename(columns=lambda c: c[2:])
    right = frame[[c for c in frame.columns if c.startswith("r_")]].rename(columns=lambda c: c[2:])
    arrays = part_arrays(pd.concat([left, right], ignore_index=True), meta)
    return arrays, np.arange(m), np.arange(m, 2 * m)


def compare_pairs(frame: pd.DataFrame, meta: dict, comparisons: list[Comparison], settings: LinkSettings
                  ) -> tuple[pd.DataFrame, tuple[np.ndarray, np.ndarray]]:
    """Levels and agreeing tf values of a partition of candidate pairs, and its pattern counts."""
    arrays, il, ir = _sides(frame, meta)
    out = {"pair": frame["pair"].to_numpy(dtype=np.int64), "first_pass": frame["first_pass"].to_numpy(np.int16)}
    level_parts, tf_parts, count_parts = [], [], []
    for s in range(0, len(il), settings.chunk_pairs):
        cmp = compare(arrays, il[s:s + settings.chunk_pairs], ir[s:s + settings.chunk_pairs], comparisons, settings)
        level_parts.append(cmp.levels)
        tf_parts.append(cmp.tf_values)
        count_parts.append(count_patterns(cmp.levels))
    levels = np.concatenate(level_parts) if level_parts else np.empty((0, len(comparisons)), np.int8)
    for k in range(len(comparisons)):
        out[f"lv{k}"] = levels[:, k]
    for c in comparisons:
        if c.tf:
            out[f"tf_{c.name}"] = (np.concatenate([t[c.name] for t in tf_parts]) if tf_parts
                                   else np.empty(0, np.int64))
    counts = merge_counts(count_parts) if any(len(p) for p, _ in count_parts) else None
    return pd.DataFrame(out), counts if counts is not None else (np.empty((0, len(comparisons)), np.int8),
                                                                 np.empty(0, np.int64))


def u_pairs(frame: pd.DataFrame, meta: dict, comparisons: list[Comparison], settings: LinkSettings
            ) -> list[np.ndarray]:
    """Level counts of a partition of the random pairs u is measured on."""
    arrays, il, ir = _sides(frame, meta)
    return u_level_counts(arrays, il, ir, frame["full"].to_numpy(dtype=bool), comparisons, settings)


def _attach(pairs: pd.DataFrame, records: pd.DataFrame, side: str, col: str) -> pd.DataFrame:
    """Pairs indexed by one of their rows, with that row's columns (`records`: the partition holding those
    rows, indexed by row number in order) taken beside them; the row becomes column `col` again."""
    at = np.searchsorted(records.index.to_numpy(), pairs.index.to_numpy())
    taken = {side + c: records[c].array.take(at) for c in records.columns}  # Arrow columns stay Arrow
    return pd.DataFrame({col: pairs.index.to_numpy(), **{c: pairs[c].array for c in pairs.columns}, **taken},
                        copy=False)



# Shuffles go through Parquet files under the job's scratch directory, one stage at a time (as a map-reduce
# job, or Spark, writes its shuffle files): a map task writes its rows split by bucket, a reduce task reads its
# bucket's files; between stages the workers hold nothing but small counts. So a worker holds what its current
# task reads, never the data in flight: a feature partition, a bucket of a pass's entries, or `chunk_pairs`
# pairs with their records' columns.
SHUFFLE_ROWS = 1_000_000  # entries of a blocking pass per bucket (about 100 bytes each)


def _bucket_of(values: np.ndarray, buckets: int) -> np.ndarray:
    """A bucket per hashed key (keys are keyed hashes already: uniform)."""
    return (values.view(np.uint64) % np.uint64(buckets)).astype(np.int64)


def _mixed_bucket(values: np.ndarray, buckets: int) -> np.ndarray:
    """A bucket per plain integer (a number hash or row), mixed first (Fibonacci hashing)."""
    mixed = values.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((mixed >> np.uint64(32)) % np.uint64(buckets)).astype(np.int64)


def _write_split(frame: pd.DataFrame, bucket: np.ndarray, buckets: int, out: str, name: str) -> int:
    """Write a frame's rows to one Parquet file per bucket they fall in (`out/b00007/name.parquet`), keeping
    their order; the bytes written. A retried task writes the same files again."""
    counts = np.bincount(bucket, minlength=buckets)
    starts = np.r_[0, np.cumsum(counts)]
    table = pa.Table.from_pandas(frame, preserve_index=False).take(np.argsort(bucket, kind="stable"))
    written = 0
    for j in np.flatnonzero(counts):
        folder = Path(out) / f"b{j:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(int(starts[j]), int(counts[j])), folder / f"{name}.parquet")
        written += (folder / f"{name}.parquet").stat().st_size
    return written


def _bucket_files(out: str, j: int) -> list[Path]:
    """A bucket's files in the order their map tasks are numbered (the order one process reads rows in)."""
    folder = Path(out) / f"b{j:05d}"
    return sorted(folder.glob("*.parquet")) if folder.exists() else []


def _read(files: list[Path], dtypes: Mapping[str, Any]) -> pd.DataFrame:
    if not files:
        return _empty(dtypes)
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pandas()


def _read_part(path: str, columns: list[str]) -> pd.DataFrame:
    """A feature partition indexed by row number; Arrow-backed, so Bloom filters stay fixed-size binary."""
    frame = pq.read_table(path, columns=["row", *columns]).to_pandas(types_mapper=pd.ArrowDtype)
    return frame.drop(columns="row").set_index(pd.Index(frame["row"].to_numpy(dtype=np.int64), name="row"))


def _count_numbers(path: str, names: list[str], buckets: int, out: str, name: str) -> int:
    """Map: each number's records in a partition, split by number."""
    frame = _read_part(path, names)
    pieces = []
    for kind, col in enumerate(names):
        values = frame[col].to_numpy(dtype=np.int64)
        values, counts = unique_sorted(values[values != 0], return_counts=True)
        pieces.append(pd.DataFrame({"kind": np.full(len(values), kind, np.int8), "value": values, "count": counts}))
    counted = pd.concat(pieces, ignore_index=True)
    return _write_split(counted, _mixed_bucket(counted["value"].to_numpy(np.int64), buckets), buckets, out, name)


def _crowded_in(out: str, j: int, kinds: int, most: int) -> list[np.ndarray]:
    """Reduce: per number kind, the numbers of a bucket held by more than `most` records in all."""
    frame = _read(_bucket_files(out, j), {"kind": np.int8, "value": np.int64, "count": np.int64})
    found = []
    for kind in range(kinds):
        mine = frame[frame["kind"] == kind]
        sums = mine.groupby("value")["count"].sum()
        found.append(sums.index.to_numpy(dtype=np.int64)[sums.to_numpy() > most])
    return found


def _pass_map(path: str, columns: list[str], meta: dict, p: BlockingPass, settings: LinkSettings,
              crowded: dict[str, np.ndarray], buckets: int, out: str, name: str) -> int:
    """Map: a partition's entries of one pass, split by key."""
    entries = pass_entries(_read_part(path, columns), meta, p, settings, crowded)
    return _write_split(entries, _bucket_of(entries["key"].to_numpy(np.int64), buckets), buckets, out, name)


def _pass_reduce(src: str, j: int, p: BlockingPass, k: int, settings: LinkSettings, n: int, tags: int,
                 rows_per_part: int, parts: int, out: str, name: str) -> tuple[np.ndarray, int]:
    """Reduce: the pairs a pass proposes among a bucket of keys, split by the partition of their left row."""
    entries = _read(_bucket_files(src, j), {**ENTRY, **{c: np.int64 for c in pass_columns(p)}})
    frame, skipped = pass_pairs(entries, p, k, settings, n, tags)
    left_part = frame["pair"].to_numpy(np.int64) // n // rows_per_part
    return skipped, _write_split(frame[["code"]], left_part, parts, out, name)


def _left(src: str, i: int, path: str, columns: list[str], n: int, tags: int, passes: int, chunk: int,
          rows_per_part: int, parts: int, out: str) -> tuple[np.ndarray, int]:
    """The candidate pairs whose left record is in partition `i` (the union of the passes' pairs: a pair
    falls in one partition), each with its left record's columns, split by the partition of the right record.

    Also the random pairs of u (`tags` 0: pairs drawn on the client, with `left`, `right` and `full`)."""
    if tags:
        tagged = _read(_bucket_files(src, i), {"code": np.int64})
        pairs, pass_counts = union_pairs(tagged, tags, passes)
        code = pairs["pair"].to_numpy(np.int64)
        pairs = pairs.assign(right=code % n).set_index(pd.Index(code // n, name="left"))
    else:
        pairs = _read(_bucket_files(src, i), {"left": np.int64, "right": np.int64, "full": bool}).set_index("left")
        pass_counts = np.zeros(0, np.int64)
    records = _read_part(path, columns) if len(pairs) else _empty({})
    written = 0
    for c, s in enumerate(range(0, len(pairs), chunk)):
        joined = _attach(pairs.iloc[s:s + chunk], records, "l_", "left")
        right_part = joined["right"].to_numpy(np.int64) // rows_per_part
        written += _write_split(joined, right_part, parts, out, f"l{i:05d}-{c:05d}")
    return pass_counts, written


def _right(src: str, j: int, path: str, columns: list[str], meta: dict, comparisons: list[Comparison],
           settings: LinkSettings, out: str) -> tuple[tuple[np.ndarray, np.ndarray] | None, int]:
    """Pairs whose right record is in partition `j`, one file of them at a time, joined to that record and
    compared; levels and tf values written to `out`, pattern counts returned."""
    files = _bucket_files(src, j)
    if not files:
        return None, 0
    records = _read_part(path, columns)
    frames, counts = [], []
    for f in files:
        pairs = pq.read_table(f).to_pandas(types_mapper=pd.ArrowDtype)
        joined = _attach(pairs.set_index(pd.Index(pairs.pop("right").to_numpy(np.int64))), records, "r_", "right")
        frame, count = compare_pairs(joined, meta, comparisons, settings)
        frames.append(frame)
        if len(count[0]):
            counts.append(count)
    target = Path(out) / f"c{j:05d}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False), target)
    return (merge_counts(counts) if counts else None), target.stat().st_size


def _right_u(src: str, j: int, path: str, columns: list[str], meta: dict, used: list[Comparison],
             settings: LinkSettings) -> list[np.ndarray] | None:
    """Level counts of the random pairs whose right record is in partition `j`."""
    files = _bucket_files(src, j)
    if not files:
        return None
    records = _read_part(path, columns)
    summed = None
    for f in files:
        pairs = pq.read_table(f).to_pandas(types_mapper=pd.ArrowDtype)
        joined = _attach(pairs.set_index(pd.Index(pairs.pop("right").to_numpy(np.int64))), records, "r_", "right")
        counts = u_pairs(joined, meta, used, settings)
        summed = counts if summed is None else [a + b for a, b in zip(summed, counts, strict=True)]
    return summed


class _Job:
    """One link job's stages on the cluster: what they read, where their shuffle files go, what they wrote."""

    def __init__(self, client, directory: Path, meta: dict, settings: LinkSettings) -> None:
        self.client, self.meta, self.settings = client, meta, settings
        self.n, self.rows_per_part = int(meta["n"]), int(meta["rows_per_part"])
        self.paths = [str(directory / p) for p in meta["parts"]]
        self.scratch = directory / "scratch"
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir()
        self.written: dict[str, int] = {}
        columns = [c for c in worker_columns(meta) if c != "row"]
        self.all_columns = columns
        # what comparisons read: pairs travel without the export-file and source codes
        self.record_columns = [c for c in columns if c not in ("file_code", "source_code")]

    def run(self, tasks: list) -> list:
        """One stage: its tasks computed and their (small) results gathered; nothing stays on the workers."""
        return self.client.gather(self.client.compute(tasks))

    def dir(self, stage: str) -> str:
        return str(self.scratch / stage)

    def done(self, stage: str, written: int) -> None:
        """A stage's shuffle files are read: count their bytes and free the disk."""
        if written:
            self.written[stage] = self.written.get(stage, 0) + int(written)
        shutil.rmtree(self.scratch / stage, ignore_errors=True)

    def crowded_numbers(self) -> dict[str, np.ndarray]:
        """Per number kind, the numbers shared by more than `max_number_group` records in all partitions."""
        names = [k for k in NUMBER_KEYS if k in self.meta["hashes"]]
        if not names:
            return {}
        parts, out = len(self.paths), self.dir("numbers")
        written = sum(self.run([delayed(_count_numbers)(path, names, parts, out, f"m{i:05d}")
                                for i, path in enumerate(self.paths)]))
        found = self.run([delayed(_crowded_in)(out, j, len(names), self.settings.max_number_group)
                          for j in range(parts)])
        self.done("numbers", written)
        return {name: np.sort(np.concatenate([f[kind] for f in found])) for kind, name in enumerate(names)}

    def block(self, crowded: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Every pass (a shuffle of its entries by key, `run_pass` per bucket): the proposed pairs written by
        the partition of their left record; per pass the skipped blocks and records."""
        settings, n, parts = self.settings, self.n, len(self.paths)
        tags = max(len(settings.passes), 1)
        maps, plan = [], []
        for k, p in enumerate(settings.passes):
            variants = 2 if p.cross is not None else settings.lsh_bands if p.lsh is not None else 1
            buckets = max(parts, -(-n * variants // SHUFFLE_ROWS))  # buckets of a fixed size, whatever n
            plan.append(buckets)
            maps += [delayed(_pass_map)(path, self.all_columns, self.meta, p, settings, crowded, buckets,
                                        self.dir(f"pass{k}"), f"m{i:05d}") for i, path in enumerate(self.paths)]
        self.written["entries"] = sum(self.run(maps))
        reduces, which = [], []
        for k, p in enumerate(settings.passes):
            for j in range(plan[k]):
                reduces.append(delayed(_pass_reduce)(self.dir(f"pass{k}"), j, p, k, settings, n, tags,
                                                     self.rows_per_part, parts, self.dir("pairs"),
                                                     f"p{k:03d}-{j:05d}"))
                which.append(k)
        results = self.run(reduces)
        for k in range(len(settings.passes)):
            self.done(f"pass{k}", 0)
        self.written["pairs"] = sum(w for _, w in results)
        skipped = [np.zeros(2, np.int64) for _ in settings.passes]
        for k, (skip, _) in zip(which, results, strict=True):
            skipped[k] += skip
        return skipped

    def join(self, src: str, columns: list[str], tags: int, passes: int) -> np.ndarray:
        """Pairs written by left partition meet their left records (the union of passes first, for
        candidates), and are written by right partition; the distinct pairs each pass proposed."""
        results = self.run([delayed(_left)(src, i, path, columns, self.n, tags, passes, self.settings.chunk_pairs,
                                           self.rows_per_part, len(self.paths), self.dir("left"))
                            for i, path in enumerate(self.paths)])
        self.done(Path(src).name, 0)
        self.written["left"] = self.written.get("left", 0) + sum(w for _, w in results)
        return sum((c for c, _ in results), np.zeros(passes, np.int64))

    def compare(self, comparisons: list[Comparison]) -> tuple[list, int]:
        results = self.run([delayed(_right)(self.dir("left"), j, path, self.record_columns, self.meta, comparisons,
                                            self.settings, self.dir("compared")) for j, path in enumerate(self.paths)])
        self.done("left", 0)
        return [c for c, _ in results if c is not None], sum(w for _, w in results)


def link_dask(directory: Path, client, *, settings: LinkSettings | None = None,
              previous: Mapping[str, str] | None = None, reviews: Mapping[tuple[str, str], str] | None = None,
              new_person_id: Callable[[], str], progress: Progress | None = None) -> LinkResult:
    """Link the records of feature partitions (`partitions.write_partitions`) on a Dask cluster.

    The job runs stage by stage; each shuffle goes through Parquet files under `directory/scratch` (removed
    at the end), so every worker must see `directory` at the same path. A worker holds one task's data at a
    time: its memory follows the partition size and `chunk_pairs`, not the number of records."""
    settings = settings or LinkSettings()
    timings, lap = stopwatch()
    meta = read_meta(directory)
    if int(meta["n"]) ** 2 * max(len(settings.passes), 1) >= 2**62:
        raise LinkError("too many records for one link job: split it by cohort")
    arrays, record_ids = client_arrays(directory, meta)
    job = _Job(client, directory, meta, settings)
    try:
        crowded = job.crowded_numbers()
        lap("prepare")
        comparisons = comparisons_for(arrays, settings)
        skipped = job.block(crowded)
        pass_counts = job.join(job.dir("pairs"), job.record_columns, max(len(settings.passes), 1),
                               len(settings.passes))
        lap("block")
        count_parts, written = job.compare(comparisons)
        cands, levels, tf = _read_compared(job, comparisons, skipped, pass_counts)
        job.done("compared", written)
        counted = [c for c in count_parts if len(c[0])]
        patterns, counts = (merge_counts(counted) if counted
                            else (np.empty((0, len(comparisons)), np.int8), np.empty(0, np.int64)))
        if progress:
            progress("block", len(cands.left), len(cands.left))
            progress("compare", len(cands.left), len(cands.left))
        lap("join_compare")

        def u_for(used: list[Comparison]) -> list[np.ndarray]:
            return _estimate_u(job, arrays, used)

        result = link_compared(arrays, record_ids, cands, comparisons, levels, tf, patterns, counts, u_for,
                               settings=settings, previous=previous, reviews=reviews, new_person_id=new_person_id,
                               progress=progress, timings=timings, lap=lap)
    finally:
        shutil.rmtree(job.scratch, ignore_errors=True)
    result.engine = {"shuffle_bytes": dict(job.written), "partitions": len(job.paths)}
    return result


def _read_compared(job: _Job, comparisons: list[Comparison], skipped: list[np.ndarray], pass_counts: np.ndarray
                   ) -> tuple[Candidates, np.ndarray, dict[str, np.ndarray]]:
    """The candidates in pair-code order (as one process orders them), their levels and tf values, read on the
    client column by column (no frame of them all, no sorted copy of one)."""
    settings, n, passes = job.settings, job.n, len(job.settings.passes)
    files = sorted((job.scratch / "compared").glob("*.parquet"))
    table = pa.concat_tables([pq.read_table(f) for f in files]) if files else pa.table({"pair": np.empty(0, np.int64)})
    code = table["pair"].to_numpy()
    order = np.argsort(code, kind="stable")

    def column(name: str, dtype) -> np.ndarray:
        return table[name].to_numpy()[order].astype(dtype, copy=False) if len(code) else np.empty(0, dtype)

    code = code[order]
    first_pass = column("first_pass", np.int16)
    levels = np.empty((len(code), len(comparisons)), np.int8)
    for k in range(len(comparisons) if len(code) else 0):
        levels[:, k] = column(f"lv{k}", np.int8)
    tf = {c.name: column(f"tf_{c.name}", np.int64) for c in comparisons if c.tf}
    new_pairs = np.bincount(first_pass, minlength=passes)
    report = [{"pass": p.name, "pairs": int(pass_counts[k]), "new_pairs": int(new_pairs[k]),
               "skipped_blocks": int(skipped[k][0]), "skipped_records": int(skipped[k][1])}
              for k, p in enumerate(settings.passes)]
    return Candidates(left=code // n, right=code % n, first_pass=first_pass, report=report), levels, tf


def _estimate_u(job: _Job, arrays: FeatureArrays, used: list[Comparison]) -> list[np.ndarray]:
    """u from the random pairs one process draws (`model.u_sample` on the client's codes), compared on the
    workers the way candidates are; the three quarters compared without Bloom filters travel without them."""
    settings = job.settings
    il, ir, full = u_sample(arrays, settings)
    plain_meta = {**job.meta, "blooms": {}}
    plain = [c for c in job.record_columns if c in worker_columns(plain_meta)]
    summed = [np.zeros(len(c.levels)) for c in used]
    for pick, columns, part_meta in ((full, job.record_columns, job.meta), (~full, plain, plain_meta)):
        sample = pd.DataFrame({"left": il[pick], "right": ir[pick], "full": full[pick]})
        job.written["u"] = job.written.get("u", 0) + _write_split(
            sample, sample["left"].to_numpy() // job.rows_per_part, len(job.paths), job.dir("u"), "client")
        job.join(job.dir("u"), columns, 0, 0)
        counted = job.run([delayed(_right_u)(job.dir("left"), j, path, columns, part_meta, used, settings)
                           for j, path in enumerate(job.paths)])
        job.done("left", 0)
        for c in counted:
            if c is not None:
                summed = [a + b for a, b in zip(summed, c, strict=True)]
    return u_from_counts(summed, used)
