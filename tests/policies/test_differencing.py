import numpy as np
import pandas as pd

from policies.check import check_request
from policies.differencing import ReleasedTable, released_table
from policies.disclosure import protect
from policies.table import compute_table
from tests.policies.helpers import persons, policy, request
from tests.policies.lp import attack

SCHOOLS = [f"{i:02d}XY00" for i in range(6)]


def release(frame, req, pol, release_id):
    table = compute_table(frame, req, pol)
    stored = released_table(protect(table, pol), release_id)
    return ReleasedTable.model_validate_json(stored.model_dump_json())  # as the integrator stores it


def small_school_frame():
    frame = persons(600, 6, seed=9)
    frame = frame[frame["po.brin"] != "00XY00"]
    extra = persons(4, 1, seed=10)  # a school of four pupils
    return pd.concat([frame, extra.assign(**{"po.brin": "00XY00"})], ignore_index=True)


def test_same_table_with_one_school_left_out_is_refused_naming_the_release():
    frame, pol = small_school_frame(), policy()
    earlier = release(frame, request(["year"]), pol, "R-1")
    req = request(["year"], filters={"school": SCHOOLS[1:]})
    table = compute_table(frame, req, pol)
    check = check_request(req, pol, [earlier], table=table)
    assert not check.ok
    assert any("release R-1" in p for p in check.problems)
    assert check.collisions and all("release R-1" in c for c in check.collisions)


def test_leaving_out_a_large_school_is_fine():
    frame, pol = small_school_frame(), policy()
    earlier = release(frame, request(["year"]), pol, "R-1")
    req = request(["year"], filters={"school": SCHOOLS[:-1]})
    assert check_request(req, pol, [earlier], table=compute_table(frame, req, pol)).ok


def test_without_the_table_a_related_release_cannot_be_ruled_out():
    pol = policy()
    earlier = release(small_school_frame(), request(["year"]), pol, "R-7")
    check = check_request(request(["year"], filters={"school": SCHOOLS[1:]}), pol, [earlier])
    assert not check.ok and "R-7" in check.problems[0]
    unrelated = request(["school"], filters={"school": SCHOOLS[1:]})
    assert check_request(unrelated, pol, [earlier]).ok


def test_policy_suppress_suppresses_the_differing_cells_and_protects_them():
    frame, pol = small_school_frame(), policy(differencing="suppress")
    earlier = release(frame, request(["year"]), pol, "R-1")
    req = request(["year"], filters={"school": SCHOOLS[1:]})
    table = compute_table(frame, req, pol)
    assert check_request(req, pol, [earlier], table=table).ok
    protected = protect(table, pol, [earlier])
    differs = table.counts - np.array([c.count for c in earlier.cells])
    assert ((differs > 0) & (differs < 10) <= protected.suppressed).all()
    assert any("differencing with release R-1" in r for r in protected.reasons.values())
    for index in zip(*np.nonzero(protected.suppressed), strict=True):
        lo, hi = attack(table.counts.astype(float), protected.suppressed, index)
        assert hi - lo >= 10


def test_new_data_under_the_same_definition_is_compared_too():
    frame, pol = small_school_frame(), policy()
    earlier = release(frame, request(["year"]), pol, "R-2")
    grown = pd.concat([frame, persons(3, 1, seed=11)], ignore_index=True)
    check = check_request(request(["year"]), pol, [earlier], table=compute_table(grown, request(["year"]), pol))
    assert not check.ok and "R-2" in check.problems[0]


def test_comparison_groups_within_a_request_are_suppressed_where_they_differ_by_a_small_group():
    frame, pol = small_school_frame(), policy()
    req = request(["year"], groups={"school": {"school": ["01XY00"]},
                                    "two": {"school": ["00XY00", "01XY00"]}, "all": {}})
    table = compute_table(frame, req, pol)
    assert (1, 0) in table.inclusions and (2, 1) in table.inclusions
    protected = protect(table, pol)
    two = protected.suppressed[1]
    assert two[:2].any(), "the group that adds four pupils must not show the small difference"
    assert all("group school" in protected.reasons[(1, i)] or "secondary" in protected.reasons[(1, i)]
               for i in range(3) if two[i])
