import hashlib
from pathlib import Path

import pytest

from policies.errors import PolicyError
from policies.policy import load_policy, policy_hash
from tests.policies.helpers import POLICY

EXAMPLES = Path(__file__).parents[2] / "policies" / "examples"


def test_monitor_example_has_the_documented_defaults():
    policy = load_policy((EXAMPLES / "monitor.toml").read_text(), "monitor")
    rules = policy.disclosure
    assert (rules.min_cell_count, rules.dominance.n, rules.dominance.k, rules.p_ratio) == (10, 2, 90, 10)
    assert (rules.percent_min, rules.percent_max, rules.differencing) == (5, 95, "suppress")
    assert policy.measures["havo_vwo"].kind == "share"


def test_policy_hash_is_sha256_of_the_file_bytes():
    text = (EXAMPLES / "monitor.toml").read_text()
    assert policy_hash(text) == hashlib.sha256(text.encode()).hexdigest()
    assert policy_hash(text) != policy_hash(text + "\n")


@pytest.mark.parametrize(("replace", "key"), [
    ("min_cell_count = 10", "disclosure.min_cell_count"),
    ('kind = "mean"', "measures.score.kind"),
])
def test_errors_name_the_key_and_its_line(replace, key):
    bad = POLICY.replace(replace, replace.split("=")[0] + '= "nonsense"')
    line = next(i for i, text in enumerate(bad.splitlines(), 1) if "nonsense" in text)
    with pytest.raises(PolicyError, match=rf"key {key} \(line {line}\)"):
        load_policy(bad, "test")


def test_unknown_key_and_bad_condition_are_refused():
    with pytest.raises(PolicyError, match=r"disclosure.treshold \(line \d+\)"):
        load_policy(POLICY + "treshold = 3\n", "test")
    with pytest.raises(PolicyError, match=r"measures.havo_vwo"):
        load_policy(POLICY.replace("vo.niveau in [havo, vwo]", "vo.niveau is havo"), "test")


def test_syntax_error_and_wrong_name():
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(POLICY + "[[", "test")
    with pytest.raises(PolicyError, match="differs from the policy name"):
        load_policy(POLICY, "other")


def test_researcher_may_never_approve():
    with pytest.raises(PolicyError, match="approval.roles"):
        load_policy(POLICY + '[approval]\nroles = ["researcher"]\n', "test")
