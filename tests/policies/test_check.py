import pytest

from policies.check import check_request
from policies.errors import RequestError
from policies.request import Request, load_request
from policies.table import compute_table
from tests.policies.helpers import persons, policy, request


def problems(req, **rules):
    return check_request(req, policy(**rules)).problems


def test_allowed_request_passes():
    assert check_request(request(["school", "level"]), policy()).ok


@pytest.mark.parametrize(("req", "fragment"), [
    (request(["postcode"]), "dimension postcode is not allowed"),
    (request(["school"], ["income"]), "measure income is not allowed"),
    (request(["school"], population=["mbo"]), "population mbo is not allowed"),
    (request(["school", "school"]), "named twice"),
    (request(["school"], filters={"bsn": ["1"]}), "filters: filter on bsn is not allowed"),
    (request(["school"], filters={"band": ["501"]}), "must use its band labels"),
    (request(["school", "year", "level", "band"]), "4 dimensions; at most 3"),
])
def test_refusals_name_the_problem(req, fragment):
    found = problems(req)
    assert any(fragment in p for p in found), found


def test_too_many_cells_is_known_from_declared_categories_or_the_table():
    assert any("12 cells; at most 5" in p for p in problems(request(["level", "band"]), max_cells=5))
    frame = persons(200, 6)
    table = compute_table(frame, request(["school"]), policy())
    assert not check_request(request(["school"]), policy(max_cells=5)).problems
    assert "7 cells; at most 5 allowed" in check_request(request(["school"]), policy(max_cells=5),
                                                        table=table).problems


def test_request_errors_name_key_and_line():
    with pytest.raises(RequestError, match=r"key dimensions \(line 3\)"):
        load_request('policy = "test"\npurpose = "p"\ndimensions = "school"\npopulation = ["po"]\n'
                     'measures = ["pupils"]\n')


def test_compute_table_names_a_missing_column():
    frame = persons(50).drop(columns=["po.gemeente"])
    with pytest.raises(RequestError, match="column po.gemeente is missing"):
        compute_table(frame, Request(policy="test", purpose="p", population=["po"], dimensions=["gemeente"],
                                     measures=["pupils"]), policy())
