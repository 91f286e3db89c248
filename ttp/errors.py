"""The two kinds of failure a user can cause, and the exit code each ends in."""


class TTPError(Exception):
    """A refusal or failure the user can act on: one clear line on stderr, exit 1."""

    exit_code = 1


class UsageError(TTPError):
    """Wrong usage, wrong passphrase or a damaged keystore: one clear line on stderr, exit 2."""

    exit_code = 2


class Forbidden(TTPError):
    """The acting user's role or identity may not do this (HTTP 403); the refusal is audited."""


class NotFound(TTPError):
    """No such object, or not one the user may see (HTTP 404)."""


class Conflict(TTPError):
    """The object is not in a state that allows this (decided already, released already; HTTP 409)."""
