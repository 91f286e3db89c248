"""The request lifecycle as a pure state machine: submitted -> checked -> approved/denied -> released."""

from __future__ import annotations

from policies.errors import LifecycleError, StateError
from policies.policy import Policy

STATES = ("submitted", "checked", "approved", "denied", "released", "withdrawn")
OPERATOR_ROLES = ("operator", "privacy-officer")

_MOVES = {
    ("submitted", "check"): "checked",
    ("checked", "approve"): "approved",
    ("checked", "deny"): "denied",
    ("submitted", "deny"): "denied",
    ("approved", "release"): "released",
    ("submitted", "withdraw"): "withdrawn",
    ("checked", "withdraw"): "withdrawn",
}


def may_decide(actor: str, actor_role: str, requester: str, policy: Policy) -> str | None:
    """Why `actor` may not approve or deny this request, or None when they may."""
    if actor_role == "researcher":
        return "a researcher cannot approve or deny"
    if actor == requester:
        return "nobody approves or denies their own request"
    if actor_role not in policy.approval.roles and actor not in policy.approval.officers:
        return f"role {actor_role} may not approve or deny under policy {policy.name}"
    return None


def transition(state: str, action: str, actor: str, actor_role: str, requester: str,
               policy: Policy | None) -> str:
    """The state after `actor` (in `actor_role`) does `action`; LifecycleError (one line) when not allowed.

    Only approving and denying read the `policy` (the others may pass None). With
    `approval.release_on_approval`, approving releases at once (the new state is "released")."""
    if state not in STATES:
        raise LifecycleError(f"unknown request state {state}")
    target = _MOVES.get((state, action))
    if target is None:
        raise StateError(f"cannot {action} a request that is {state}")
    if action in ("approve", "deny"):
        assert policy is not None, "approving or denying a request needs its policy"
        reason = may_decide(actor, actor_role, requester, policy)
        if reason:
            raise LifecycleError(reason)
        if action == "approve" and policy.approval.release_on_approval:
            return "released"
    elif action in ("check", "release") and actor_role not in OPERATOR_ROLES:
        raise LifecycleError(f"role {actor_role} cannot {action} a request")
    elif action == "withdraw" and actor != requester:
        raise LifecycleError("only the requester can withdraw a request")
    return target
