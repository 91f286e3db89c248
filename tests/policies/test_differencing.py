import numpy as np
import pandas as pd

from policies.check import CANNOT_RELEASE, check_request
from policies.cover import Entry
from policies.disclosure import protect
from policies.published import SUPPRESSED
from policies.table import compute_table
from tests.policies.helpers import persons, policy, request
from tests.policies.lp import attack

SCHOOLS = [f"{i:02d}XY00" for i in range(6)]


def release(frame, req, pol, release_id, history=(), frame_key="J"):
    table = compute_table(frame, req, pol)
    protected = protect(table, pol, list(history), frame=frame_key)
    assert protected.refusal is None, protected.refusal
    return Entry(release_id, table, pol, protected.published, protected.suppressed, protected.primary,
                 protected.share_primary, frame_key)


def small_school_frame():
    frame = persons(600, 6, seed=9)
    frame = frame[frame["po.brin"] != "00XY00"]
    extra = persons(4, 1, seed=10).assign(person_id=lambda f: "small" + f["person_id"])  # a school of four
    return pd.concat([frame, extra.assign(**{"po.brin": "00XY00"})], ignore_index=True)


def test_same_table_with_one_school_left_out_is_refused_naming_the_release_to_the_officer_only():
    frame, pol = small_school_frame(), policy()
    earlier = release(frame, request(["year"]), pol, "R-1")
    req = request(["year"], filters={"school": SCHOOLS[1:]})
    table = compute_table(frame, req, pol)
    protected = protect(table, pol, [earlier], frame="J")
    assert protected.refusal and "release R-1" in protected.refusal
    assert protected.constrained_by == ["R-1"]
    check = check_request(req, pol, table, protected)
    assert not check.ok and check.problems == [CANNOT_RELEASE]
    assert "R-1" not in " ".join(check.problems) and any("R-1" in d for d in check.detail)


def test_leaving_out_a_large_school_is_fine():
    frame, pol = small_school_frame(), policy()
    earlier = release(frame, request(["year"]), pol, "R-1")
    req = request(["year"], filters={"school": SCHOOLS[:-1]})
    table = compute_table(frame, req, pol)
    assert check_request(req, pol, table, protect(table, pol, [earlier], frame="J")).ok


def test_a_check_without_the_table_is_about_the_policy_only():
    assert check_request(request(["year"], filters={"school": SCHOOLS[1:]}), policy()).ok


def test_policy_suppress_suppresses_the_differing_cells_and_protects_them():
    frame, pol = small_school_frame(), policy(differencing="suppress")
    earlier = release(frame, request(["year"]), pol, "R-1")
    req = request(["year"], filters={"school": SCHOOLS[1:]})
    table = compute_table(frame, req, pol)
    protected = protect(table, pol, [earlier], frame="J")
    assert protected.refusal is None
    before = earlier.table.counts.ravel()
    differs = table.counts.ravel() - before
    shown_before = np.array([v != SUPPRESSED for v in earlier.published["pupils"].ravel()])
    small = (differs != 0) & (np.abs(differs) < 10) & shown_before
    assert small.any() and (protected.suppressed.ravel()[small]).all()
    assert any("differencing with an earlier release" in r for r in protected.reasons.values())
    for index in zip(*np.nonzero(protected.suppressed), strict=True):
        lo, hi = attack(table.counts.astype(float), protected.suppressed, index)
        assert hi - lo >= 10


def test_new_data_under_the_same_definition_is_compared_too():
    frame, pol = small_school_frame(), policy()
    earlier = release(frame, request(["year"]), pol, "R-2", frame_key="J1")
    grown = pd.concat([frame, persons(3, 1, seed=11).assign(person_id=lambda f: "new" + f["person_id"])],
                      ignore_index=True)
    table = compute_table(grown, request(["year"]), pol)
    protected = protect(table, pol, [earlier], frame="J2")
    assert protected.refusal and "R-2" in protected.refusal


def test_comparison_groups_within_a_request_are_suppressed_where_they_differ_by_a_small_group():
    frame, pol = small_school_frame(), policy()
    req = request(["year"], groups={"school": {"school": ["01XY00"]},
                                    "two": {"school": ["00XY00", "01XY00"]}, "all": {}})
    table = compute_table(frame, req, pol)
    assert (1, 0) in table.inclusions and (2, 1) in table.inclusions
    protected = protect(table, pol)
    assert protected.refusal is None
    shown = protected.published["pupils"]
    for i in range(3):
        one, two = shown[(0, i)], shown[(1, i)]
        assert not (isinstance(one, int) and isinstance(two, int) and 0 < two - one < 10)
    assert any("within the request" in r for r in protected.reasons.values())
