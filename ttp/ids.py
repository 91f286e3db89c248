"""Random identifiers for batches, jobs, requests, releases and persons (never derived from data)."""

import secrets


def new_id(prefix: str, nbytes: int = 6) -> str:
    """A random id such as `b_3f9a2c1d07e4`; the prefix names the kind of object."""
    return f"{prefix}_{secrets.token_hex(nbytes)}"
