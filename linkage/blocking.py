"""Blocking: candidate record pairs as the union of several passes of int64 key joins, with a report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage.arrays import FeatureArrays, member, unique_sorted
from linkage.errors import LinkError
from linkage.parallel import map_ordered
from linkage.settings import BlockingPass, LinkSettings

_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class Candidates:
    """Candidate pairs (left index < right index), the first pass that proposed each, and the report."""

    left: np.ndarray
    right: np.ndarray
    first_pass: np.ndarray
    report: list[dict]


def combine_keys(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One int64 key from several keyed columns, and the mask of rows where none is missing (0)."""
    valid = np.ones(len(columns[0]), dtype=bool)
    key = np.zeros(len(columns[0]), dtype=np.uint64)
    for col in columns:
        valid &= col != 0
        key = key * _MIX + col.astype(np.uint64)
    return key.view(np.int64), valid


def lsh_bands(bloom: np.ndarray, counts: np.ndarray, bands: int, bits: int, seed: int) -> list[np.ndarray]:
    """Locality-sensitive bands of a Bloom filter: `bits` bit positions each, packed in an int64.

    A q-gram's positions are keyed hashes, so any fixed set of positions is as random a sample as a drawn
    one: band b takes a run of `bits` bits of word b (two operations per band). Only when the runs do not
    fit in the filter are positions drawn at random with `seed`.
    """
    words = bloom.shape[1]
    band_id = [np.uint64((b + 1) << 56) for b in range(bands)]
    out = []
    if bands <= words * (64 // bits):
        mask = np.uint64((1 << bits) - 1)
        for b in range(bands):
            shift = np.uint64((b // words) * bits)
            value = ((bloom[:, b % words] >> shift) & mask) + band_id[b]
            value[counts == 0] = 0
            out.append(value.view(np.int64))
        return out
    rng = np.random.default_rng(seed)
    for b in range(bands):
        positions = rng.choice(words * 64, size=min(bits, words * 64), replace=False)
        value = np.zeros(len(bloom), dtype=np.uint64)
        for k, pos in enumerate(positions.tolist()):
            value |= ((bloom[:, pos // 64] >> np.uint64(pos % 64)) & np.uint64(1)) << np.uint64(k)
        value = value + band_id[b]
        value[counts == 0] = 0
        out.append(value.view(np.int64))
    return out


def pairs_within(key: np.ndarray, valid: np.ndarray, cap: int, numbered: Numbered | None = None
                 ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """All pairs of rows sharing a key; blocks above `cap` are skipped (count of blocks and rows returned).

    With `numbered` (a bit per number kind a row carries), pairs of rows that both carry a number of one
    kind are left out: the number pass already found them if the numbers agree, and if they differ the
    pair can never be one person. Records sharing a number are one person already, so a record without
    that number meets only that person's `Numbered.per_person` richest records in the block, not all of
    them. Both rules keep the name and date passes near-linear in the population.
    """
    idx = np.flatnonzero(valid)
    if len(idx) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64), 0, 0
    idx, k = sorted_by_key(key, idx)
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, len(k)])
    too_big = sizes > cap
    keep = (sizes > 1) & ~too_big
    skipped_blocks, skipped_rows = int(too_big.sum()), int(sizes[too_big].sum())
    if not keep.any():
        return np.empty(0, np.int64), np.empty(0, np.int64), skipped_blocks, skipped_rows
    if numbered is not None and numbered.any():
        # a pair of rows with no number kind in common has a row without the first kind: only blocks
        # holding such a row can give pairs (at a million persons most blocks hold none)
        open_rows = np.add.reduceat((numbered.mask[idx] & 1) == 0, starts) if len(starts) else starts
        keep &= open_rows > 0
        in_block = np.repeat(keep, sizes)
        li, ri = _pairs_by_number(idx[in_block], k[in_block], numbered)
        return li, ri, skipped_blocks, skipped_rows
    g_start, g_size = starts[keep], sizes[keep]
    left, right = _group_pairs(g_start, g_size)
    return idx[left], idx[right], skipped_blocks, skipped_rows


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: an invertible mix, so every key bit reaches the high bits."""
    x = x ^ (x >> np.uint64(30))
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def sorted_by_key(key: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`idx` ordered by `key[idx]` (row order inside a key), and ascending block numbers: equal exactly where
    the keys are equal.

    Row number and the key's high bits share one uint64 that is sorted by value: about twice as fast as an
    argsort at millions of rows. Keys whose mixed values share their high bits are then told apart by
    `settle_collisions` (a few pairs of keys a pass at a million rows).
    """
    bits = max(int(len(key) - 1).bit_length(), 1)
    low = np.uint64((1 << bits) - 1)
    packed = _mix(key[idx].view(np.uint64))  # a bijection: small keys (tests, codes) get high bits too
    packed &= ~low
    packed |= idx.astype(np.uint64)
    packed.sort()
    order, high = (packed & low).astype(np.int64), packed >> np.uint64(bits)
    exact = key[order]
    perm = settle_collisions(high, exact)
    if perm is not None:
        order, exact = order[perm], exact[perm]
    if not len(order):
        return order, order
    return order, np.cumsum(np.r_[True, (high[1:] != high[:-1]) | (exact[1:] != exact[:-1])])


def settle_collisions(high: np.ndarray, *exact: np.ndarray) -> np.ndarray | None:
    """For rows sorted by hash bits `high`: the permutation that orders each run of equal `high` by the `exact`
    columns (keeping the order inside each exact group), or None when no run holds two exact values.

    Two keys whose hashes share their high bits (a few pairs a pass at a million rows, and how many
    depends on how many rows are sorted together) would otherwise form one block: settling them keeps
    blocks exact, so one process and a partitioned engine find the same pairs.
    """
    if len(high) < 2:
        return None
    same = high[1:] == high[:-1]
    differ = np.zeros(len(same), dtype=bool)
    for col in exact:
        differ |= col[1:] != col[:-1]
    clash = same & differ
    if not clash.any():
        return None
    run = np.cumsum(np.r_[True, ~same]) - 1
    hit = np.zeros(int(run[-1]) + 1, dtype=bool)
    hit[run[1:][clash]] = True
    pos = np.flatnonzero(hit[run])
    perm = np.arange(len(high))
    perm[pos] = pos[np.lexsort((pos, *(col[pos] for col in reversed(exact)), run[pos]))]
    return perm


def _group_pairs(g_start: np.ndarray, g_size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of positions inside each group of consecutive positions (start, size)."""
    member = _ranges(g_start, g_size)
    pos_in_group = member - np.repeat(g_start, g_size)
    later = np.repeat(g_size, g_size) - 1 - pos_in_group
    left = np.repeat(member, later)
    offs = np.arange(len(left)) - np.repeat(np.cumsum(later) - later, later)
    return left, left + 1 + offs


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    total = int(sizes.sum())
    return np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes) + np.repeat(starts, sizes)


def _join_sorted(lkey: np.ndarray, li: np.ndarray, rkey: np.ndarray, ri: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Every (li, ri) whose keys are equal, both sides already in key order (a merge join)."""
    lo = np.searchsorted(rkey, lkey, side="left")
    count = np.searchsorted(rkey, lkey, side="right") - lo
    hit = count > 0
    return np.repeat(li, count), ri[_ranges(lo[hit], count[hit])]


def _by_mask(rows: np.ndarray, keys: np.ndarray, numbered: Numbered) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Rows (and their keys) split by number mask, each part in key order and cut to its representatives."""
    mask = numbered.mask[rows]
    return {int(m): numbered.representatives(rows[mask == m], keys[mask == m], int(m)) for m in np.unique(mask)}


def _pairs_by_number(rows: np.ndarray, keys: np.ndarray, numbered: Numbered) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows (in key order) sharing a key whose rows carry no number kind in common."""
    parts = []
    groups = _by_mask(rows, keys, numbered)
    for a, (la, ka) in groups.items():
        for b, (rb, kb) in groups.items():
            if a & b or b < a:
                continue
            if a == b:  # only unnumbered rows: all pairs within the group
                starts = np.flatnonzero(np.r_[True, ka[1:] != ka[:-1]])
                sizes = np.diff(np.r_[starts, len(ka)])
                left, right = _group_pairs(starts[sizes > 1], sizes[sizes > 1])
                parts.append((la[left], la[right]))
            else:
                parts.append(_join_sorted(ka, la, kb, rb))
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate([p for p, _ in parts]), np.concatenate([q for _, q in parts])


def pairs_across(left_key: np.ndarray, left_valid: np.ndarray, right_key: np.ndarray, right_valid: np.ndarray,
                 cap: int, numbered: Numbered | None = None) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Pairs whose left row's key equals the right row's other key (e.g. swapped date = date)."""
    li, lk = _in_key_order(left_key, np.flatnonzero(left_valid))
    ri, rk = _in_key_order(right_key, np.flatnonzero(right_valid))
    starts = np.flatnonzero(np.r_[True, rk[1:] != rk[:-1]]) if len(rk) else np.empty(0, np.int64)
    sizes = np.diff(np.r_[starts, len(rk)])
    too_big = sizes > cap
    skipped = (int(too_big.sum()), int(sizes[too_big].sum()))
    if skipped[0]:
        ri, rk = ri[~np.repeat(too_big, sizes)], rk[~np.repeat(too_big, sizes)]
    if numbered is None:
        i, j = _join_sorted(lk, li, rk, ri)
        return i, j, *skipped
    # rows keyed by the left column against rows keyed by the right column: join the two key spaces.
    # A pair needs a row without the first number kind on one side (see pairs_within): keep a row only if
    # it lacks that kind or its key meets such a row on the other side.
    l_open, r_open = (numbered.mask[li] & 1) == 0, (numbered.mask[ri] & 1) == 0
    l_keep, r_keep = l_open | member(lk, rk[r_open]), r_open | member(rk, lk[l_open])
    li, lk, ri, rk = li[l_keep], lk[l_keep], ri[r_keep], rk[r_keep]
    parts = []
    for a, (la, ka) in _by_mask(li, lk, numbered).items():
        for b, (rb, kb) in _by_mask(ri, rk, numbered).items():
            if not a & b:
                parts.append(_join_sorted(ka, la, kb, rb))
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.int64), *skipped
    return np.concatenate([p for p, _ in parts]), np.concatenate([q for _, q in parts]), *skipped


def _in_key_order(key: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(key[idx], kind="stable")
    return idx[order], key[idx][order]


NUMBER_KEYS = ("bsn", "onr")
RICHNESS_KEYS = ("fam", "given1", "pref", "pc", "sex")


@dataclass
class Numbered:
    """Which number kinds each row carries (a bit per kind), the numbers, and how much else a row holds."""

    mask: np.ndarray
    numbers: list[np.ndarray]
    richness: np.ndarray
    per_person: int

    def any(self) -> bool:
        return bool(self.mask.any())

    def representatives(self, rows: np.ndarray, keys: np.ndarray, kinds: int) -> tuple[np.ndarray, np.ndarray]:
        """Of rows in key order that all carry `kinds`, the richest `per_person` per (key, number), in key
        order (richness ties go to the earlier row)."""
        if kinds == 0 or len(rows) <= self.per_person:
            return rows, keys
        number = self.numbers[(kinds & -kinds).bit_length() - 1][rows].view(np.uint64)
        group = _mix(keys.view(np.uint64) ^ _mix(number))
        bits = max(int(len(rows) - 1).bit_length(), 1)
        low = np.uint64((1 << (bits + 3)) - 1)
        poorness = (7 - np.minimum(self.richness[rows], 7)).astype(np.uint64) << np.uint64(bits)
        packed = (group & ~low) | poorness | np.arange(len(rows), dtype=np.uint64)
        packed.sort()
        pos = (packed & np.uint64((1 << bits) - 1)).astype(np.int64)
        g, k, v = packed >> np.uint64(bits + 3), keys[pos], number[pos]
        perm = settle_collisions(g, k, v)  # exact (key, number) groups, however many rows are sorted together
        if perm is not None:
            pos, g, k, v = pos[perm], g[perm], k[perm], v[perm]
        first = np.r_[True, (g[1:] != g[:-1]) | (k[1:] != k[:-1]) | (v[1:] != v[:-1])]
        at = np.arange(len(pos))
        rank = at - np.maximum.accumulate(np.where(first, at, 0))
        kept = np.sort(pos[rank < self.per_person])  # positions in key order again
        return rows[kept], keys[kept]


def crowded_numbers(arrays: FeatureArrays, settings: LinkSettings) -> dict[str, np.ndarray]:
    """Per number kind, the numbers shared by more than `max_number_group` rows (sorted)."""
    out = {}
    for name in NUMBER_KEYS:
        col = arrays.column(name)
        values, counts = unique_sorted(col[col != 0], return_counts=True)
        out[name] = values[counts > settings.max_number_group]
    return out


def numbered_rows(arrays: FeatureArrays, settings: LinkSettings,
                  crowded: dict[str, np.ndarray] | None = None) -> Numbered:
    """A bit per number kind each row carries; a number shared by too many rows (`crowded`, counted over
    all rows; counted over `arrays` when not given) counts as missing."""
    crowded = crowded_numbers(arrays, settings) if crowded is None else crowded
    out = np.zeros(arrays.n, dtype=np.int8)
    numbers = []
    for bit, name in enumerate(NUMBER_KEYS):
        col = arrays.column(name)
        has = col != 0
        if has.any() and len(crowded.get(name, ())):
            has &= ~np.isin(col, crowded[name])
        out |= has.astype(np.int8) << bit
        numbers.append(col)
    richness = np.zeros(arrays.n, dtype=np.int8)
    for name in RICHNESS_KEYS:
        richness += (arrays.column(name) != 0) if name != "sex" else (arrays.sex != 0)
    return Numbered(out, numbers, richness, settings.representatives_per_person)


def run_pass(arrays: FeatureArrays, p: BlockingPass, settings: LinkSettings,
             numbered: Numbered | None = None, bands: dict[str, list[np.ndarray]] | None = None
             ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The pairs one pass proposes (before de-duplication and before dropping same-file pairs).

    `bands` keeps the LSH bands of a Bloom column for the next pass on the same column.
    """
    is_number = p.keys in tuple((k,) for k in NUMBER_KEYS)
    cap = p.max_block_size or (settings.max_number_group if is_number else settings.max_block_size)
    if is_number:
        numbered = None
    cols = [arrays.column(k) for k in p.keys]
    if p.cross is not None:
        lcols, rcols = [arrays.column(p.cross[0]), *cols], [arrays.column(p.cross[1]), *cols]
        lkey, lvalid = combine_keys(lcols)
        rkey, rvalid = combine_keys(rcols)
        return pairs_across(lkey, lvalid, rkey, rvalid, cap, numbered)
    if p.lsh is not None:
        if p.lsh not in arrays.blooms:
            return np.empty(0, np.int64), np.empty(0, np.int64), 0, 0
        parts = []
        skipped = [0, 0]
        bands = {} if bands is None else bands
        if p.lsh not in bands:
            bands[p.lsh] = lsh_bands(arrays.blooms[p.lsh], arrays.bloom_counts[p.lsh], settings.lsh_bands,
                                     settings.lsh_band_bits, settings.seed)
        for band in bands[p.lsh]:
            key, valid = combine_keys([band, *cols])
            li, ri, sb, sr = pairs_within(key, valid, cap, numbered)
            parts.append((li, ri))
            skipped[0] += sb
            skipped[1] += sr
        return (np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts]),
                skipped[0], skipped[1])
    key, valid = combine_keys(cols)
    return pairs_within(key, valid, cap, numbered)


def block(arrays: FeatureArrays, settings: LinkSettings) -> Candidates:
    """Union of all passes: deduplicated pairs (of different export files unless settings allow).

    Each pair is credited to the first pass that proposed it: the passes' pair codes are tagged with the
    pass number and sorted once, so the union costs one sort however many passes there are.
    """
    n = np.int64(max(arrays.n, 1))
    numbered = numbered_rows(arrays, settings)
    bands: dict[str, list[np.ndarray]] = {}
    for p in settings.passes:  # LSH bands once per Bloom column, before the passes share them
        if p.lsh is not None and p.lsh in arrays.blooms and p.lsh not in bands:
            bands[p.lsh] = lsh_bands(arrays.blooms[p.lsh], arrays.bloom_counts[p.lsh], settings.lsh_bands,
                                     settings.lsh_band_bits, settings.seed)
    tags = np.int64(max(len(settings.passes), 1))
    if int(n) * int(n) * int(tags) >= 2**62:
        raise LinkError("too many records for one link job: split it by cohort")

    def one_pass(k: int) -> tuple[np.ndarray, dict]:
        p = settings.passes[k]
        li, ri, skipped_blocks, skipped_rows = run_pass(arrays, p, settings, numbered, bands)
        if not settings.within_file_pairs:
            keep = arrays.file_code[li] != arrays.file_code[ri]
            li, ri = li[keep], ri[keep]
        lo, hi = np.minimum(li, ri), np.maximum(li, ri)
        codes = unique_sorted(lo * n + hi)
        return codes * tags + k, {"pass": p.name, "pairs": int(len(codes)), "new_pairs": 0,
                                  "skipped_blocks": skipped_blocks, "skipped_records": skipped_rows}

    done = map_ordered(one_pass, range(len(settings.passes)), settings.threads)
    tagged, report = [t for t, _ in done], [r for _, r in done]
    del done
    every = np.sort(np.concatenate(tagged)) if tagged else np.empty(0, np.int64)
    del tagged
    code = every // tags
    first = np.r_[True, code[1:] != code[:-1]] if len(code) else np.empty(0, bool)
    all_codes, first_pass = code[first], (every[first] % tags).astype(np.int16)
    for k, count in enumerate(np.bincount(first_pass, minlength=len(settings.passes))):
        report[k]["new_pairs"] = int(count)
    return Candidates(left=all_codes // n, right=all_codes % n, first_pass=first_pass, report=report)
