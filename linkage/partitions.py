"""A feature frame as Parquet partitions of rows for a distributed engine: Bloom filters as fixed-size binary
columns, read back as uint64 words without a Python object per filter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkage.arrays import FeatureArrays, check_features, to_arrays
from linkage.errors import LinkError

META = "parts.json"
# what the stages after comparison read of each record (pipeline.link_compared): the client's share
CLIENT_COLUMNS = ("bsn", "onr", "fam", "given", "given1", "pref")


def count_column(bloom: str) -> str:
    return f"{bloom}.bits"


def write_partitions(features: pd.DataFrame, directory: Path, rows_per_part: int = 250_000) -> dict:
    """Write the features as row partitions (global row number, export-file and source codes, keyed
    hashes, Bloom filters as fixed-width uint64 word columns); returns the partitions' description."""
    writer = PartitionWriter(directory, rows_per_part)
    writer.add(features)
    return writer.close()


class PartitionWriter:
    """Feature partitions written from feature frames handed in row order, one batch at a time: the files
    `write_partitions` writes from their concatenation (export-file and source codes in order of first
    appearance over all batches), without the whole feature frame in memory."""

    def __init__(self, directory: Path, rows_per_part: int = 250_000) -> None:
        self.directory, self.rows_per_part = directory, rows_per_part
        directory.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.sources: dict[str, int] = {}
        self.files: dict[str, int] = {}
        self.names: list[str] = []
        self.pending: list[pa.Table] = []
        self.shape: dict = {}

    def add(self, features: pd.DataFrame) -> None:
        check_features(features)
        arrays = to_arrays(features)
        shape = {"link_kinds": arrays.link_kinds, "hashes": sorted(arrays.hashes),
                 "blooms": {k: int(v.shape[1]) for k, v in arrays.blooms.items()}}
        if self.shape and shape != self.shape:
            raise ValueError("feature batches with different columns cannot share partitions")
        self.shape = shape
        source_map = np.array([self.sources.setdefault(s, len(self.sources)) for s in arrays.sources], np.int64)
        file_map = np.array([self.files.setdefault(f, len(self.files)) for f in arrays.files], np.int64)
        columns: dict[str, np.ndarray] = {
            "row": np.arange(self.n, self.n + arrays.n, dtype=np.int64),
            "record_id": features["record_id"].astype(str).to_numpy(),
            "file_code": file_map[arrays.file_code] if arrays.n else arrays.file_code,
            "source_code": source_map[arrays.source_code] if arrays.n else arrays.source_code,
            "sex": arrays.sex}
        columns.update(arrays.hashes)
        for name, words in arrays.blooms.items():
            words = np.ascontiguousarray(words)
            columns[name] = pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(8 * words.shape[1]), len(words), [None, pa.py_buffer(words)])
            columns[count_column(name)] = arrays.bloom_counts[name]
        self.pending.append(pa.table(columns))
        self.n += arrays.n
        self._flush(final=False)

    def _flush(self, final: bool) -> None:
        table = pa.concat_tables(self.pending) if self.pending else None
        self.pending = []
        start = 0
        while table is not None and (table.num_rows - start >= self.rows_per_part
                                     or (final and (start < table.num_rows or not self.names))):
            self.names.append(f"part-{len(self.names):05d}.parquet")
            pq.write_table(table.slice(start, self.rows_per_part), self.directory / self.names[-1])
            start += self.rows_per_part
        if table is not None and start < table.num_rows:
            self.pending = [table.slice(start)]

    def close(self) -> dict:
        """Write the last partition and the partitions' description; returns the description."""
        if not self.shape:
            raise ValueError("no feature batch to write")
        self._flush(final=True)
        meta = {"n": self.n, "parts": self.names, "rows_per_part": self.rows_per_part,
                "sources": list(self.sources), "files": list(self.files), **self.shape}
        meta = {k: meta[k] for k in ("n", "parts", "rows_per_part", "sources", "files", "link_kinds", "hashes",
                                     "blooms")}
        (self.directory / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        return meta


def read_meta(directory: Path) -> dict:
    return json.loads((directory / META).read_text(encoding="utf-8"))


def worker_columns(meta: dict) -> list[str]:
    """Every column a comparison or blocking pass reads (all but the record ids)."""
    out = ["row", "file_code", "source_code", "sex", *meta["hashes"]]
    for name in meta["blooms"]:
        out += [name, count_column(name)]
    return out


def bloom_words(values: pd.Series, words: int) -> np.ndarray:
    """A fixed-size binary column (Arrow-backed) as an n × words uint64 matrix, from its data buffer."""
    if len(values) == 0:
        return np.zeros((0, words), np.uint64)
    chunks = pa.array(values)  # the column's own Arrow buffers, not a copy per value
    if isinstance(chunks, pa.ChunkedArray):
        chunks = chunks.combine_chunks()
    if chunks.null_count or chunks.type.byte_width != 8 * words:
        raise ValueError(f"column {values.name}: not {8 * words}-byte Bloom filters on every row")
    data = np.frombuffer(chunks.buffers()[1], dtype=np.uint64, count=(chunks.offset + len(chunks)) * words)
    return data.reshape(-1, words)[chunks.offset:]


def part_arrays(frame: pd.DataFrame, meta: dict) -> FeatureArrays:
    """The FeatureArrays of some rows (a partition, or rows gathered for pairs) for the shared stages."""
    n = len(frame)
    hashes = {k: frame[k].to_numpy(dtype=np.int64) for k in meta["hashes"] if k in frame.columns}
    blooms, counts = {}, {}
    for name, words in meta["blooms"].items():
        blooms[name] = bloom_words(frame[name], words)
        counts[name] = frame[count_column(name)].to_numpy(dtype=np.int32)
    sex = frame["sex"].to_numpy(dtype=np.int8) if "sex" in frame.columns else np.zeros(n, np.int8)
    codes = {c: frame[c].to_numpy(dtype=np.int64) if c in frame.columns else np.zeros(n, np.int64)
             for c in ("file_code", "source_code")}  # comparisons do not read them: pairs travel without
    return FeatureArrays(n=n, hashes=hashes, blooms=blooms, bloom_counts=counts, sex=sex,
                         file_code=codes["file_code"], source_code=codes["source_code"],
                         sources=list(meta["sources"]), files=list(meta["files"]),
                         link_kinds=dict(meta["link_kinds"]))


def client_arrays(directory: Path, meta: dict) -> tuple[FeatureArrays, np.ndarray]:
    """What the client keeps of every record: its id, codes, numbers and name hashes (no Bloom filters).

    Read column by column from the Arrow table (no pandas frame beside it); record ids checked distinct by
    Arrow (no Python set of millions of strings)."""
    hashes = [c for c in CLIENT_COLUMNS if c in meta["hashes"]]
    wanted = ["row", "record_id", "file_code", "source_code", *hashes]
    table = pq.ParquetDataset([str(directory / p) for p in meta["parts"]]).read(columns=wanted)
    n = table.num_rows
    if not (table["row"].to_numpy() == np.arange(n)).all():
        raise ValueError("feature partitions out of row order")
    if pc.count_distinct(table["record_id"]).as_py() != n:
        raise LinkError("feature frame has duplicate record_id values")
    column = {c: table[c].to_numpy().astype(np.int64, copy=False) for c in ["file_code", "source_code", *hashes]}
    record_ids = table["record_id"].to_numpy(zero_copy_only=False).astype(object, copy=False)
    del table
    pa.default_memory_pool().release_unused()  # the table's buffers back to the system, not kept by Arrow's pool
    arrays = FeatureArrays(n=n, hashes={c: column[c] for c in hashes}, blooms={}, bloom_counts={},
                           sex=np.zeros(n, np.int8), file_code=column["file_code"], source_code=column["source_code"],
                           sources=list(meta["sources"]), files=list(meta["files"]),
                           link_kinds=dict(meta["link_kinds"]))
    return arrays, record_ids
