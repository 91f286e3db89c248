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
KEY_VERSION_KEY = b"ttp.key_version"


def _is_bloom(column: str) -> bool:
    return column.endswith("_bf")


class FeatureWriter:
    """Write one feature file chunk by chunk: one pseudonym scheme, one key version and one set of Bloom
    parameters, recorded in the file's metadata (the only way features are written)."""

    def __init__(self, path: str | os.PathLike, bloom: dict | None = None, key_version: int | None = None):
        self.path = Path(path)
        self.params = dict(bloom or BloomParams().as_metadata())
        self.key_version = key_version
        self._writer: pq.ParquetWriter | None = None

    def _schema(self, features: pd.DataFrame) -> pa.Schema:
        width = int(self.params["length"]) // 8
        inferred = pa.Table.from_pandas(features, preserve_index=False).schema
        fields = []
        for column in features.columns:
            if _is_bloom(column):
                fields.append(pa.field(column, pa.binary(width)))
            elif column in ("record_id", "label_id", "source", "export_file"):
                fields.append(pa.field(column, pa.string()))
            else:
                fields.append(inferred.field(column))
        metadata = {SCHEME_KEY: PSEUDONYM_SCHEME.encode(), BLOOM_KEY: json.dumps(self.params, sort_keys=True).encode()}
        if self.key_version is not None:
            metadata[KEY_VERSION_KEY] = str(self.key_version).encode()
        return pa.schema(fields, metadata=metadata)

    def write(self, features: pd.DataFrame) -> None:
        made = features.attrs.get("ttp.bloom")
        if made is not None and dict(made) != self.params:
            raise PseudonymError("these features were made with other Bloom parameters than the file's")
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self._schema(features))
        table = pa.Table.from_pandas(features, preserve_index=False)
        self._writer.write_table(table.cast(self._writer.schema))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def write_features(features: pd.DataFrame, path: str | os.PathLike, bloom: BloomParams | None = None) -> None:
    """Write a feature frame atomically (temp file, then rename); Bloom columns as fixed-size binary.

    The Bloom parameters come from `bloom`, else from the frame's attrs (set by `make_features`), else the
    defaults.
    """
    path = Path(path)
    params = bloom.as_metadata() if bloom else features.attrs.get("ttp.bloom") or BloomParams().as_metadata()
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        writer = FeatureWriter(tmp, params)
        writer.write(features)
        writer.close()
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_metadata(path: str | os.PathLike) -> dict[str, object]:
    """The pseudonym scheme and Bloom parameters of a feature file; another scheme is refused. A file from
    before the parameters were recorded was made with the defaults."""
    meta = pq.read_schema(path).metadata or {}
    if meta.get(SCHEME_KEY) != PSEUDONYM_SCHEME.encode():
        found = (meta.get(SCHEME_KEY) or b"none").decode(errors="replace")
        raise PseudonymError(f"{Path(path).name}: pseudonym scheme {found}, not {PSEUDONYM_SCHEME}: "
                             "re-ingest the export")
    params = json.loads(meta[BLOOM_KEY]) if BLOOM_KEY in meta else BloomParams().as_metadata()
    return {"ttp.pseudonym": PSEUDONYM_SCHEME, "ttp.bloom": params}


def read_features(path: str | os.PathLike, bloom: dict | None = None) -> pd.DataFrame:
    """Read a feature file back into the frame `make_features` made (Bloom filters `bytes`, None missing);
    with `bloom`, a file made with other Bloom parameters is refused."""
    meta = read_metadata(path)
    if bloom is not None and dict(meta["ttp.bloom"]) != dict(bloom):  # type: ignore[call-overload]
        raise PseudonymError(f"{Path(path).name}: Bloom filters of other parameters than the rest "
                             "(length, hashes or hardening differ): re-ingest the export")
    frame = pq.read_table(path).to_pandas()
    frame.attrs.update(meta)
    return frame
