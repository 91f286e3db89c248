"""The link job on Dask distributed: blocking passes as shuffles by key, comparisons and u per partition of pairs,
then the model, decisions, clusters and person ids on the client through the stages one process runs.

Every rule is the in-process one: a pass's rows are shuffled by the pass's key and `blocking.run_pass` runs on
each group of keys (so block caps and representatives per numbered person hold per block); pairs meet their
two records by two joins on the row number and `compare.compare` runs on each partition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
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


def _by_left(client, il: np.ndarray, ir: np.ndarray, full: np.ndarray, divisions) -> tuple[dd.DataFrame, list]:
    """Pairs drawn on the client as a frame indexed by left row, cut at the records' partition boundaries;
    each piece is scattered to the workers (not sent inside the task graph): keep the returned futures
    until the frame is computed, or the pieces are released."""
    order = np.argsort(il, kind="stable")
    sample = pd.DataFrame({"right": ir[order], "full": full[order]}, index=pd.Index(il[order], name="left"))
    cuts = np.searchsorted(il[order], np.asarray(divisions[1:-1]), side="left")
    pieces = client.scatter([sample.iloc[a:b] for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(il)], strict=True)])
    return dd.from_delayed(pieces, meta=sample.iloc[:0], divisions=divisions, verify_meta=False), pieces


def _attach(pairs: pd.DataFrame, records: pd.DataFrame, side: str, col: str) -> pd.DataFrame:
    """Pairs indexed by one of their rows, with that row's columns (`records`: the partition holding those
    rows, indexed by row number in order) taken beside them; the row becomes column `col` again."""
    at = np.searchsorted(records.index.to_numpy(), pairs.index.to_numpy())
    taken = {side + c: records[c].array.take(at) for c in records.columns}  # Arrow columns stay Arrow
    return pd.DataFrame({col: pairs.index.to_numpy(), **{c: pairs[c].array for c in pairs.columns}, **taken},
                        copy=False)


def _with_records(pairs: dd.DataFrame, feats: dd.DataFrame, on_left: bool = False) -> dd.DataFrame:
    """Pairs joined to their two records: the pairs go to the partition holding each record (a shuffle of
    the pairs by row range), where the join is a lookup; the records stay where they were read.
    `on_left`: the pairs are indexed by their left row in the records' partitions already."""
    for side, col in (("l_", "left"), ("r_", "right")):
        if not (on_left and side == "l_"):
            pairs = pairs.set_index(col, divisions=feats.divisions)
        meta = _attach(pairs._meta, feats._meta, side, col)
        parts = [delayed(_attach)(p, r, side, col)
                 for p, r in zip(pairs.to_delayed(), feats.to_delayed(), strict=True)]
        pairs = dd.from_delayed(parts, meta=meta, verify_meta=False)
    return pairs


def link_dask(directory: Path, client, *, settings: LinkSettings | None = None,
              previous: Mapping[str, str] | None = None, reviews: Mapping[tuple[str, str], str] | None = None,
              new_person_id: Callable[[], str], progress: Progress | None = None) -> LinkResult:
    """Link the records of feature partitions (`partitions.write_partitions`) on a Dask cluster.

    Shuffles go through tasks: Dask's P2P shuffle has no Arrow fixed-size binary (the Bloom filters)."""
    settings = settings or LinkSettings()
    timings, lap = stopwatch()
    with dask.config.set({"dataframe.shuffle.method": "tasks"}):
        meta = read_meta(directory)
        if int(meta["n"]) ** 2 * max(len(settings.passes), 1) >= 2**62:
            raise LinkError("too many records for one link job: split it by cohort")
        arrays, record_ids = client_arrays(directory, meta)
        if len(set(record_ids.tolist())) != len(record_ids):
            raise LinkError("feature frame has duplicate record_id values")
        feats = dd.read_parquet([str(directory / p) for p in meta["parts"]], index="row", calculate_divisions=True,
                                dtype_backend="pyarrow", columns=[c for c in worker_columns(meta) if c != "row"])
        if not feats.known_divisions:
            raise LinkError(f"{directory}: feature partitions without row ranges; write them again")
        crowded = _crowded_numbers(client, feats, meta, settings)
        lap("prepare")
        comparisons = comparisons_for(arrays, settings)
        # what comparisons read: pairs travel without the export-file and source codes
        records = feats[[c for c in feats.columns if c not in ("file_code", "source_code")]]
        cands, levels, tf, patterns, counts = _block_and_compare(client, feats, records, meta, comparisons,
                                                                 settings, crowded)
        if progress:
            progress("block", len(cands.left), len(cands.left))
            progress("compare", len(cands.left), len(cands.left))
        lap("block_compare")  # one graph: blocking, joins and comparison overlap on the workers

        def u_for(used: list[Comparison]) -> list[np.ndarray]:
            return _estimate_u(client, arrays, records, meta, used, settings)

        return link_compared(arrays, record_ids, cands, comparisons, levels, tf, patterns, counts, u_for,
                             settings=settings, previous=previous, reviews=reviews, new_person_id=new_person_id,
                             progress=progress, timings=timings, lap=lap)


def _crowded_numbers(client, feats: dd.DataFrame, meta: dict, settings: LinkSettings) -> dict[str, np.ndarray]:
    """Per number kind, the numbers shared by more than `max_number_group` records, counted over all partitions."""
    crowded = {}
    for name in NUMBER_KEYS:
        if name in meta["hashes"]:
            sizes = feats[name][feats[name] != 0].value_counts()
            crowded[name] = np.sort(client.compute(sizes[sizes > settings.max_number_group]).result()
                                    .index.to_numpy(dtype=np.int64))
    return crowded


def _block_and_compare(client, feats: dd.DataFrame, records: dd.DataFrame, meta: dict, comparisons: list[Comparison],
                       settings: LinkSettings, crowded: dict[str, np.ndarray]):
    """Candidates (in pair-code order, as one process orders them), their levels and tf values, and the summed
    pattern counts: every pass, the union and the comparisons in one graph, gathered once."""
    n, tags, passes = int(meta["n"]), max(len(settings.passes), 1), len(settings.passes)
    parts = max(feats.npartitions, 1)
    pass_outs, skipped = [], []
    for k, p in enumerate(settings.passes):
        dtypes = {**ENTRY, **{c: np.int64 for c in pass_columns(p)}}
        entries = feats.map_partitions(pass_entries, meta, p, settings, crowded, meta=_empty(dtypes))
        for group in entries.shuffle(on="key", npartitions=parts).to_delayed():
            frame, skip = delayed(pass_pairs, nout=2)(group, p, k, settings, n, tags)
            pass_outs.append(frame)
            skipped.append((k, skip))
    tagged = dd.from_delayed(pass_outs, meta=_empty({"pair": np.int64, "code": np.int64}), verify_meta=False)
    unions = [delayed(union_pairs, nout=2)(g, tags, passes)
              for g in tagged.shuffle(on="pair", npartitions=parts).to_delayed()]
    pairs = dd.from_delayed([u for u, _ in unions], meta=_empty({"pair": np.int64, "first_pass": np.int16}),
                            verify_meta=False)
    pairs = pairs.assign(left=pairs["pair"] // n, right=pairs["pair"] % n)
    compared = [delayed(compare_pairs, nout=2)(g, meta, comparisons, settings)
                for g in _with_records(pairs, records).to_delayed()]
    wanted = [[c for c, _ in compared], [c for _, c in compared], [s for _, s in skipped], [c for _, c in unions]]
    results = client.gather(client.compute([x for group in wanted for x in group]))
    cuts = np.cumsum([0, *map(len, wanted)])
    frames, count_parts, skip_counts, pass_counts = (results[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True))
    del results
    frame = (pd.concat(frames, ignore_index=True) if frames
             else _empty({"pair": np.int64, "first_pass": np.int16}))  # no columns of levels needed then
    del frames
    frame = frame.sort_values("pair", kind="stable")
    code = frame["pair"].to_numpy(dtype=np.int64)
    first_pass = frame["first_pass"].to_numpy(np.int16)
    new_pairs = np.bincount(first_pass, minlength=passes)
    report = []
    for k, p in enumerate(settings.passes):
        skips = sum((s for (j, _), s in zip(skipped, skip_counts, strict=True) if j == k), np.zeros(2, np.int64))
        report.append({"pass": p.name, "pairs": int(sum(c[k] for c in pass_counts)), "new_pairs": int(new_pairs[k]),
                       "skipped_blocks": int(skips[0]), "skipped_records": int(skips[1])})
    cands = Candidates(left=code // n, right=code % n, first_pass=first_pass, report=report)
    levels = (np.column_stack([frame[f"lv{k}"].to_numpy(np.int8) for k in range(len(comparisons))])
              if len(code) and comparisons else np.empty((len(code), len(comparisons)), np.int8))
    tf = {c.name: frame[f"tf_{c.name}"].to_numpy(np.int64) if len(code) else np.empty(0, np.int64)
          for c in comparisons if c.tf}
    counted = [c for c in count_parts if len(c[0])]
    patterns, counts = (merge_counts(counted) if counted
                        else (np.empty((0, len(comparisons)), np.int8), np.empty(0, np.int64)))
    return cands, levels, tf, patterns, counts


def _estimate_u(client, arrays: FeatureArrays, records: dd.DataFrame, meta: dict, used: list[Comparison],
                settings: LinkSettings) -> list[np.ndarray]:
    """u from the random pairs one process draws (`model.u_sample` on the client's codes), compared on the
    workers; the three quarters compared without Bloom filters travel without them."""
    il, ir, full = u_sample(arrays, settings)
    plain_meta = {**meta, "blooms": {}}
    plain = records[[c for c in records.columns if c in worker_columns(plain_meta)]]
    tasks, held = [], []
    for pick, recs, part_meta in ((full, records, meta), (~full, plain, plain_meta)):
        sample, pieces = _by_left(client, il[pick], ir[pick], full[pick], records.divisions)
        held.append(pieces)
        tasks += [delayed(u_pairs)(g, part_meta, used, settings)
                  for g in _with_records(sample, recs, on_left=True).to_delayed()]
    level_counts = client.gather(client.compute(tasks))
    del held
    summed = [sum((c[k] for c in level_counts), np.zeros(len(used[k].levels))) for k in range(len(used))]
    return u_from_counts(summed, used)
