"""A `round` request: its tables expand into requests that share its policy, population and filters."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.errors import RequestError
from policies.round import is_round, load_round, round_table, table_requests

SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "examples" / "requests" / "feedback_round.toml"
ROUND = """kind = "round"
policy = "monitor"
purpose = "Feedback"
population = ["po", "vo"]
filters = { advice_position = ["below", "at", "above"] }

[[tables]]
name = "a"
dimensions = ["school"]
measures = ["pupils"]

[[tables]]
name = "b"
purpose = "pooled"
dimensions = ["school", "school_year"]
measures = ["pupils"]
filters = {}
pool = { school_year = 3 }
"""


def test_a_rounds_tables_are_requests_sharing_its_policy_population_and_filters():
    assert is_round(ROUND) and not is_round('policy = "monitor"') and not is_round("not toml [")
    (name_a, a), (name_b, b) = load_round(ROUND).requests()
    assert (name_a, name_b) == ("a", "b")
    assert a.filters == {"advice_position": ["below", "at", "above"]} and b.filters == {}
    assert a.purpose == "Feedback: a" and b.purpose == "Feedback: pooled" and b.pool == {"school_year": 3}
    assert a.policy == b.policy == "monitor" and a.population == ["po", "vo"]
    assert round_table(ROUND, "b") == b
    with pytest.raises(RequestError, match="no table 'c'"):
        round_table(ROUND, "c")


@pytest.mark.parametrize(("change", "message"), [
    (('name = "b"', 'name = "a"'), "table name(s) a given twice"),
    (('name = "b"', 'name = "B b"'), "key tables.1.name"),
    (('measures = ["pupils"]\n\n[[tables]]', 'measures = []\n\n[[tables]]'), "key tables.0.measures"),
    (('purpose = "Feedback"', 'purpose = "Feedback"\ncolour = 1'), "key colour (line 4)"),
])
def test_a_bad_round_is_one_line_naming_the_key(change, message):
    with pytest.raises(RequestError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        load_round(ROUND.replace(*change, 1))
    assert "\n" not in str(info.value)


def test_the_shipped_round_has_a_table_per_indicator_and_level():
    names = [name for name, _ in table_requests(SHIPPED.read_text(encoding="utf-8"))]
    assert names == [f"{i}_{level}" for i in ("havo_vwo", "below_advice")
                     for level in ("schools", "schools_pooled", "boards", "municipalities")]
