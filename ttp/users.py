"""Users: identities with a role (operator, privacy-officer, researcher), never key holders."""

from __future__ import annotations

from . import db
from .errors import TTPError
from .roles import ROLES


def add_user(act, name: str, role: str) -> db.User:
    """Add a user in the acting transaction; a taken name or an unknown role is refused."""
    if role not in ROLES:
        raise TTPError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise TTPError("a user name is 1 to 100 characters without spaces")
    if act.session.get(db.User, name) is not None:
        raise TTPError(f"user {name!r} exists already")
    user = db.User(name=name, role=role, created_by=act.user.name)
    act.session.add(user)
    act.session.flush()
    act.details.update({"user": name, "new_role": role})
    return user
