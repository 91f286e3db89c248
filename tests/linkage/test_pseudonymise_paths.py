"""The fast paths give the same feature bytes as the plain ones: a second core (forked child) or not, the
delivery names decided per distinct (file, year) pair or per row, and ids equal to stdlib HMAC."""

import hashlib
import hmac
import threading
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import linkage.pseudonymise as ps
from keys.derive import subkey
from linkage.forked import Forked, can_fork
from tests.linkage.test_pseudonymise_golden import GOLDEN, GOLDEN_NO_BLOOM, frame_digest, golden_features

SECRET = hashlib.sha256(b"paths test key").digest()
needs_fork = pytest.mark.skipif(not can_fork(), reason="fork is not available here")

TEXT = st.one_of(st.none(), st.just(float("nan")), st.sampled_from(
    ["", " ", "Jansen", "van der Linden", "Linden, v.d.", "Øster", "Anne-Marie", "J.P.", "1234 AB", "1234AB",
     "0123AB", "123456782", "1234-5678-2", "2012-03-04", "2012-02-31", "M", "V", "x", "2024-2025",
     "vo.csv", "po 2024-2025.csv"]), st.text(max_size=8), st.integers(-5, 10**10))
YEAR = st.one_of(st.none(), st.sampled_from(["2024-2025", "2023-2024", "", "2024"]), st.integers(2020, 2026))
FILE = st.one_of(st.none(), st.sampled_from(["a.csv", "vo.csv", "po 2024-2025.csv", "12AB/2024-2025", ""]),
                 st.integers(0, 3))
FIELDS = ("bsn", "onderwijsnummer", "nco_id", "bsn4", "family_name", "name_prefix", "given_names", "initials",
          "preferred_name", "birth_date", "sex", "postcode", "link:naam", "link:nr")


@st.composite
def batches(draw: st.DrawFn, str_only: bool = False) -> pd.DataFrame:
    """A batch of canonical records with awkward values in every column (ints, NaN, empty, unicode)."""
    n = draw(st.integers(1, 40))
    files, years = (st.sampled_from(["a.csv", "vo.csv", "po 2024-2025.csv", ""]), st.sampled_from(
        ["2024-2025", "2023-2024", "", "2024"])) if str_only else (FILE, YEAR)
    frame = {
        "export_file": draw(st.lists(files, min_size=n, max_size=n)),
        "school_year": draw(st.lists(years, min_size=n, max_size=n)),
        "school": draw(st.lists(st.sampled_from(["12AB00", "", None, "99ZZ01"]), min_size=n, max_size=n)),
        "row_number": list(range(1, n + 1)),
        "record_key": [f"k{i}" for i in draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n))],
    }
    for field in FIELDS:
        frame[field] = draw(st.lists(TEXT, min_size=n, max_size=n))
    return pd.DataFrame(frame)


def features(records: pd.DataFrame, **kw) -> pd.DataFrame:
    return ps.make_features(records, source="po", secret=SECRET, key_version=2,
                            link_kinds={"naam": "string", "nr": "number"}, **kw)


@needs_fork
@given(batches(), st.booleans())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_second_core_gives_the_same_bytes(records, blooms):
    one = features(records, workers=1, bloom_filters=blooms)
    two = features(records, workers=2, bloom_filters=blooms)
    assert frame_digest(one) == frame_digest(two)
    assert list(one.dtypes) == list(two.dtypes) and one.attrs == two.attrs


@given(batches(str_only=True))
@settings(max_examples=60, deadline=None)
def test_delivery_per_distinct_pair_equals_row_by_row(records):
    fast = features(records, workers=1)
    with mock.patch.object(ps, "_delivery", ps._delivery_rows):
        plain = features(records, workers=1)
    assert frame_digest(fast) == frame_digest(plain)


@given(batches())
@settings(max_examples=40, deadline=None)
def test_ids_equal_stdlib_hmac(records):
    f = features(records, workers=1, bloom_filters=False)
    key = subkey(SECRET, "ttp/linkage/hmac/v1")
    delivery = ps._delivery_rows(records)

    def lp(value) -> bytes:
        data = ("" if ps.nz.is_missing(value) else str(value)).encode()
        return len(data).to_bytes(4, "big") + data

    for i, row in records.iterrows():
        rid = b"record_id|2|" + lp("po") + lp(delivery[i]) + row["record_key"].encode()
        lid = b"label_id|2|" + lp("po") + lp(row["school"]) + row["record_key"].encode()
        assert f.loc[i, "record_id"] == hmac.new(key, rid, hashlib.sha256).hexdigest()[:32]
        assert f.loc[i, "label_id"] == hmac.new(key, lid, hashlib.sha256).hexdigest()[:32]


@needs_fork
def test_golden_frames_are_unchanged_on_a_second_core():
    assert frame_digest(golden_features(workers=2)) == GOLDEN
    assert frame_digest(golden_features(workers=2, bloom_filters=False)) == GOLDEN_NO_BLOOM


def test_workers_out_of_range_is_refused():
    with pytest.raises(ps.PseudonymError, match="workers"):
        golden_features(workers=3)


@needs_fork
def test_forked_step_returns_the_childs_bytes():
    step = Forked(lambda: np.arange(5, dtype=np.int64).tobytes())
    assert step.forked
    assert np.frombuffer(step.result(), dtype=np.int64).tolist() == [0, 1, 2, 3, 4]


@needs_fork
def test_failing_child_is_computed_again_here_and_raises_here():
    calls = []

    def step() -> bytes:
        calls.append(1)
        raise ValueError("boom")

    forked = Forked(step)
    with pytest.raises(ValueError, match="boom"):
        forked.result()
    assert calls == [1]  # the child's call happened in the child; this one is the parent's


def test_no_fork_while_another_thread_runs():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not can_fork()
        assert not ps._use_fork(None, 10**6) and not ps._use_fork(2, 10**6)
    finally:
        stop.set()
        thread.join()


@needs_fork
def test_child_is_stopped_when_this_process_fails():
    import multiprocessing

    def fail(*args, **kwargs):
        raise ps.PseudonymError("this process's part failed")

    with mock.patch.object(ps, "_other_columns", fail), pytest.raises(ps.PseudonymError, match="part failed"):
        golden_features(workers=2)
    assert not multiprocessing.active_children()


def test_automatic_choice_stays_in_one_process_on_a_busy_machine():
    with mock.patch("os.getloadavg", return_value=(64.0, 64.0, 64.0)):
        assert not ps._use_fork(None, 10**6)
    with mock.patch("os.getloadavg", return_value=(0.0, 0.0, 0.0)), \
            mock.patch("linkage.pseudonymise.cores", return_value=2):
        assert ps._use_fork(None, 10**6) == can_fork()
        assert not ps._use_fork(None, ps.FORK_MIN_ROWS - 1)
