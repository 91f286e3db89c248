import pytest

from policies.errors import LifecycleError
from policies.lifecycle import transition
from tests.policies.helpers import policy


def test_the_happy_path():
    pol = policy()
    state = transition("submitted", "check", "op", "operator", "res", pol)
    state = transition(state, "approve", "po", "privacy-officer", "res", pol)
    assert transition(state, "release", "op", "operator", "res", pol) == "released"


@pytest.mark.parametrize(("actor", "role", "message"), [
    ("res2", "researcher", "researcher cannot approve"),
    ("res", "privacy-officer", "their own request"),
    ("op", "operator", "role operator may not approve"),
])
def test_who_may_not_approve(actor, role, message):
    with pytest.raises(LifecycleError, match=message):
        transition("checked", "approve", actor, role, "res", policy())


def test_named_officer_may_approve_and_release_on_approval():
    pol = policy().model_copy(update={"approval": policy().approval.model_copy(
        update={"officers": ["ann"], "release_on_approval": True})})
    assert transition("checked", "approve", "ann", "operator", "res", pol) == "released"
    assert transition("checked", "deny", "ann", "operator", "res", pol) == "denied"


@pytest.mark.parametrize(("state", "action"), [("submitted", "approve"), ("denied", "release"),
                                               ("released", "approve"), ("approved", "check")])
def test_out_of_order_actions_are_refused(state, action):
    with pytest.raises(LifecycleError, match=f"cannot {action} a request that is {state}"):
        transition(state, action, "po", "privacy-officer", "res", policy())


def test_researcher_cannot_release_and_only_the_requester_withdraws():
    with pytest.raises(LifecycleError, match="role researcher cannot release"):
        transition("approved", "release", "res", "researcher", "res", policy())
    with pytest.raises(LifecycleError, match="only the requester"):
        transition("submitted", "withdraw", "op", "operator", "res", policy())
    assert transition("checked", "withdraw", "res", "researcher", "res", policy()) == "withdrawn"
