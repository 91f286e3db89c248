"""Feature frames on disk: Parquet with the pseudonym scheme and Bloom parameters in the file metadata."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from linkage.bloom import BloomParams
from linkage.pseudonymise import PSEUDONYM_SCHEME, PseudonymError

SCHEME_KEY = b"ttp.pseudonym"
BLOOM_KEY = b"ttp.bloom"


def _is_bloom(column: str) -> bool:
    return column.endswith("_bf")


def write_features(features: pd.DataFrame, path: str | os.PathLike, bloom: BloomParams | None = None) -> None:
    """Write a feature frame atomically (temp file, then rename); Bloom columns as fixed-size binary.

    The Bloom parameters come from `bloom`, else from the frame's attrs (set by `make_features`), else the
    defaults.
    """
    path = Path(path)
    params = bloom.as_metadata() if bloom else features.attrs.get("ttp.bloom") or BloomParams().as_metadata()
    width = int(params["length"]) // 8
    fields = []
    for column in features.columns:
        if _is_bloom(column):
            fields.append(pa.field(column, pa.binary(width)))
        elif column in ("record_id", "label_id", "source", "export_file"):
            fields.append(pa.field(column, pa.string()))
        else:
            fields.append(pa.field(column, pa.from_numpy_dtype(features[column].dtype)))
    metadata = {SCHEME_KEY: PSEUDONYM_SCHEME.encode(), BLOOM_KEY: json.dumps(params, sort_keys=True).encode()}
    table = pa.Table.from_pandas(features, schema=pa.schema(fields), preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_metadata(path: str | os.PathLike) -> dict[str, object]:
    """The pseudonym scheme and Bloom parameters of a feature file."""
    meta = pq.read_schema(path).metadata or {}
    if meta.get(SCHEME_KEY) != PSEUDONYM_SCHEME.encode():
        raise PseudonymError(f"{path}: not a feature file of scheme {PSEUDONYM_SCHEME}")
    return {"ttp.pseudonym": PSEUDONYM_SCHEME, "ttp.bloom": json.loads(meta[BLOOM_KEY])}


def read_features(path: str | os.PathLike) -> pd.DataFrame:
    """Read a feature file back into the frame `make_features` made (Bloom filters `bytes`, None missing)."""
    meta = read_metadata(path)
    frame = pq.read_table(path).to_pandas()
    frame.attrs.update(meta)
    return frame
