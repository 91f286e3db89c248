"""The two kinds of failure a user can cause, and the exit code each ends in."""


class TTPError(Exception):
    """A refusal or failure the user can act on: one clear line on stderr, exit 1."""

    exit_code = 1


class UsageError(TTPError):
    """Wrong usage, wrong passphrase or a damaged keystore: one clear line on stderr, exit 2."""

    exit_code = 2
