"""The pairs u and the match share refer to: across export files, or a single file's own (deduplication)."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.arrays import to_arrays
from linkage.model import population_pairs, random_pairs


def arrays(files: list[int]):
    return to_arrays(pd.DataFrame({"record_id": [f"r{k}" for k in range(len(files))], "source": "s",
                                   "export_file": [f"f{f}" for f in files]}))


@settings(max_examples=40, deadline=None)
@given(files=st.lists(st.integers(0, 3), min_size=2, max_size=60), seed=st.integers(0, 1000))
def test_random_pairs_cross_files_or_stay_in_the_only_one(files, seed):
    a = arrays(files)
    n = len(files)
    cross = sum(1 for i in range(n) for j in range(i + 1, n) if files[i] != files[j])
    assert population_pairs(a) == (cross or n * (n - 1) // 2)
    il, ir = random_pairs(a, 500, seed)
    if n >= 20 and (cross >= n or not cross):  # enough pairs for the sample not to come out empty by chance
        assert len(il) > 0
    assert (il != ir).all()
    if cross:
        assert (a.file_code[il] != a.file_code[ir]).all()
