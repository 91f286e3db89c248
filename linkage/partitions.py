"""A feature frame as Parquet partitions of rows for a distributed engine: Bloom filters as fixed-size binary
columns, read back as uint64 words without a Python object per filter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from linkage.arrays import FeatureArrays, check_features, to_arrays

META = "parts.json"
# what the stages after comparison read of each record (pipeline.link_compared): the client's share
CLIENT_COLUMNS = ("bsn", "onr", "fam", "given", "given1", "pref")


def count_column(bloom: str) -> str:
    return f"{bloom}.bits"


def write_partitions(features: pd.DataFrame, directory: Path, rows_per_part: int = 250_000) -> dict:
    """Write the features as row partitions (global row number, export-file and source codes, keyed
    hashes, Bloom filters as fixed-width uint64 word columns); returns the partitions' description."""
    check_features(features)
    arrays = to_arrays(features)
    directory.mkdir(parents=True, exist_ok=True)
    record_ids = features["record_id"].astype(str).to_numpy()
    names = []
    for part, start in enumerate(range(0, max(arrays.n, 1), rows_per_part)):
        rows = slice(start, start + rows_per_part)
        columns: dict[str, np.ndarray] = {
            "row": np.arange(start, min(start + rows_per_part, arrays.n), dtype=np.int64),
            "record_id": record_ids[rows], "file_code": arrays.file_code[rows],
            "source_code": arrays.source_code[rows], "sex": arrays.sex[rows]}
        columns.update({k: v[rows] for k, v in arrays.hashes.items()})
        for name, words in arrays.blooms.items():
            part_words = np.ascontiguousarray(words[rows])
            columns[name] = pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(8 * words.shape[1]), len(part_words), [None, pa.py_buffer(part_words)])
            columns[count_column(name)] = arrays.bloom_counts[name][rows]
        names.append(f"part-{part:05d}.parquet")
        pq.write_table(pa.table(columns), directory / names[-1])
    meta = {"n": arrays.n, "parts": names, "rows_per_part": rows_per_part, "sources": arrays.sources,
            "files": arrays.files, "link_kinds": arrays.link_kinds, "hashes": sorted(arrays.hashes),
            "blooms": {k: int(v.shape[1]) for k, v in arrays.blooms.items()}}
    (directory / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
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
    """What the client keeps of every record: its id, codes, numbers and name hashes (no Bloom filters)."""
    wanted = ["row", "record_id", "file_code", "source_code", *(c for c in CLIENT_COLUMNS if c in meta["hashes"])]
    table = pq.ParquetDataset([str(directory / p) for p in meta["parts"]]).read(columns=wanted)
    frame = table.to_pandas()
    if not (frame["row"].to_numpy() == np.arange(len(frame))).all():
        raise ValueError("feature partitions out of row order")
    lean = {**meta, "blooms": {}, "hashes": [c for c in CLIENT_COLUMNS if c in meta["hashes"]]}
    return part_arrays(frame, lean), frame["record_id"].to_numpy(dtype=object)
