"""The exceptions the policies package raises for problems a user can cause."""


class PoliciesError(Exception):
    """Base of every error of the policies package: one line naming the problem, never a value."""


class PolicyError(PoliciesError):
    """A policy file is malformed or invalid."""


class RequestError(PoliciesError):
    """A request file is malformed, or a request cannot be computed on the persons frame."""


class LifecycleError(PoliciesError):
    """A request lifecycle transition is not allowed."""


class StateError(LifecycleError):
    """The request is not in a state that allows the transition (decided already, released already)."""
