"""Users: identities with a role (operator, privacy-officer, researcher), their credentials, never key holders."""

from __future__ import annotations

from sqlalchemy import delete, select

from . import db
from .app import Acting
from .credentials import hash_password, new_token, revoke_tokens, validate_new_password
from .errors import TTPError
from .roles import OPERATOR, PENDING, PRIVACY_OFFICER, REMOVED, ROLES, SCHOOL


def add_user(act: Acting, name: str, role: str, schools: list[str] | None = None) -> db.User:
    """Add a user in the acting transaction; a taken name or an unknown role is refused. A privacy officer
    waits for another officer's approval (`grant_role`), except the installation's first one. A user of
    role school is bound to one or more BRIN-vestigingen of the register (`schools`), and only they."""
    if role not in ROLES:
        raise TTPError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    codes = [c.strip().upper() for c in schools or [] if c.strip()]
    if role == SCHOOL and not codes:
        raise TTPError("a user of role school needs its school(s): --school BRIN+vestiging, e.g. 01QW00")
    if role != SCHOOL and codes:
        raise TTPError("--school binds a user of role school only")
    for code in codes:
        if len(code) != 6 or act.session.get(db.School, code) is None:
            raise TTPError(f"unknown school {code!r}: a BRIN + vestiging of the school register (`ttp schools import`)")
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise TTPError("a user name is 1 to 100 characters without spaces")
    if act.session.get(db.User, name) is not None:
        raise TTPError(f"user {name!r} exists already")
    waits = role == PRIVACY_OFFICER and _officers(act.session)
    user = db.User(name=name, role=PENDING if waits else role, pending_role=role if waits else None,
                   created_by=act.user.name, schools=" ".join(codes) or None)
    act.session.add(user)
    act.session.flush()
    act.details.update({"user": name, "new_role": role, "pending": bool(waits)})
    if codes:
        act.details["schools"] = codes
    return user


def _officers(session, with_password: bool = False) -> list[str]:
    """The privacy officers (only those who have a password, with `with_password`)."""
    query = select(db.User.name).where(db.User.role == PRIVACY_OFFICER)
    if with_password:
        query = query.where(db.User.password_hash.is_not(None))
    return list(session.scalars(query))


def pending_users(session) -> list[db.User]:
    """Users waiting for a role that needs a privacy officer's approval."""
    return list(session.scalars(select(db.User).where(db.User.pending_role.is_not(None)).order_by(db.User.name)))


def grant_role(act: Acting, name: str, approve: bool) -> db.User:
    """A privacy officer approves (or refuses) a pending grant of the privacy-officer role; never the one
    who asked for it, nor the user themself."""
    user = act.session.get(db.User, name)
    if user is None or user.pending_role is None:
        raise TTPError(f"no role waits for approval for {name!r}: `ttp users pending` shows them")
    if act.user.name in (asked_by(user), user.name):
        raise TTPError("four eyes: a role is approved by a privacy officer other than the one who asked for it")
    act.details.update({"user": name, "role": user.pending_role, "decision": "approve" if approve else "deny"})
    if approve:
        user.role = user.pending_role
    user.pending_role = user.pending_by = None
    return user


def asked_by(user: db.User) -> str | None:
    """Who asked for a user's pending role: the one who changed the role, else the one who added the user."""
    return user.pending_by or user.created_by


def _other_user(act: Acting, name: str, verb: str) -> db.User:
    """A user other than the acting one, not removed; an officer is changed by an officer only."""
    user = act.session.get(db.User, name)
    if user is None or user.role == REMOVED:
        raise TTPError(f"unknown user {name!r}: `ttp users list` shows them")
    if user.name == act.user.name:
        raise TTPError(f"four eyes: your own role is {verb} by someone else")
    if user.role == PRIVACY_OFFICER and act.user.role != PRIVACY_OFFICER:
        raise TTPError(f"a privacy officer's role is {verb} by another privacy officer, never by an operator")
    return user


def _refuse_last(act: Acting, user: db.User, verb: str) -> None:
    """Never leave the installation without an operator. (The last privacy officer needs no rule: only
    another officer changes or removes one.)"""
    if user.role == OPERATOR:
        left = act.session.scalars(select(db.User.name).where(db.User.role == OPERATOR,
                                                              db.User.name != user.name)).first()
        if left is None:
            raise TTPError(f"{user.name} is the last operator: add another before this one is {verb}")


def change_role(act: Acting, name: str, role: str) -> db.User:
    """Change another user's role. To privacy officer it waits for an officer other than the one who asked
    (except while the installation has none); from it only an officer changes it. Ends the user's web
    sessions, so the new role applies at once."""
    if role not in ROLES:
        raise TTPError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    user = _other_user(act, name, "changed")
    if SCHOOL in (role, user.role) and role != user.role:
        raise TTPError("a school user is bound to its schools: remove the user and add one with the new role "
                       "(`ttp users remove`, `ttp users add NAME --role ... [--school CODE]`)")
    if role in (user.role, user.pending_role):
        raise TTPError(f"{name} is a {role} already" if role == user.role else
                       f"{name}'s role {role} waits for approval already (`ttp users pending`)")
    _refuse_last(act, user, "changed")
    before = user.role
    waits = role == PRIVACY_OFFICER and bool(_officers(act.session))
    if waits:
        user.pending_role, user.pending_by = role, act.user.name
    else:
        user.role, user.pending_role, user.pending_by = role, None, None
    act.counts["web_sessions_ended"] = end_sessions(act.session, name)
    act.details.update({"user": name, "role_before": before, "new_role": role, "pending": waits})
    return user


def remove_user(act: Acting, name: str) -> db.User:
    """Remove another user: no role, no password, tokens revoked, web sessions ended. The row stays (role
    `removed`), so the name in the audit log, requests and policies keeps meaning this user, and is never
    given to someone else."""
    user = _other_user(act, name, "removed")
    _refuse_last(act, user, "removed")
    act.details.update({"user": name, "role_before": user.role})
    act.counts["revoked"] = revoke_tokens(act.session, name)
    act.counts["web_sessions_ended"] = end_sessions(act.session, name)
    user.role, user.pending_role, user.pending_by, user.password_hash = REMOVED, None, None, None
    return user


def set_password(act: Acting, name: str, password: str) -> None:
    """Set a password: one's own; an operator sets the first one of an operator or researcher; a privacy
    officer that of another privacy officer (so an operator can never sign in as an officer). Ends the
    user's web sessions."""
    user = act.session.get(db.User, name)
    if user is None or user.role == REMOVED:
        raise TTPError(f"unknown user {name!r}: `ttp users list` shows them")
    if act.user.name != name:
        officer = PRIVACY_OFFICER in (user.role, user.pending_role)
        # bootstrap: until some officer has a password, the operator enrols the first one (audited)
        enrolling = (act.user.role == OPERATOR and user.password_hash is None
                     and not _officers(act.session, with_password=True))
        if officer and act.user.role != PRIVACY_OFFICER and not enrolling:
            raise TTPError("a privacy officer's password is set by themself or another privacy officer")
        if not officer and act.user.role != OPERATOR:
            raise TTPError("only an operator sets another user's password")
        if not officer and user.password_hash is not None:
            raise TTPError(f"{name} has a password: they change it themself")
    validate_new_password(password)
    user.password_hash = hash_password(password)
    act.counts["web_sessions_ended"] = end_sessions(act.session, name)
    act.details["user"] = name


def make_token(act: Acting) -> tuple[str, str]:
    """A new API token for the acting user themself: (token id, the token, shown once)."""
    token_id, token = new_token(act.session, act.user.name, act.user.name)
    act.details.update({"user": act.user.name, "token_id": token_id})
    return token_id, token


def revoke_user_tokens(act: Acting, name: str) -> int:
    """Revoke every token of a user (one's own, or anyone's for an operator or officer) and end their web
    sessions."""
    if act.session.get(db.User, name) is None:
        raise TTPError(f"unknown user {name!r}: `ttp users list` shows them")
    if name != act.user.name and act.user.role not in (OPERATOR, PRIVACY_OFFICER):
        raise TTPError("only an operator or a privacy officer revokes another user's tokens")
    act.counts["revoked"] = revoked = revoke_tokens(act.session, name)
    act.counts["web_sessions_ended"] = end_sessions(act.session, name)
    act.details["user"] = name
    return revoked


def end_sessions(session, name: str) -> int:
    """End every web session of a user (after a password change or a token revoke)."""
    result = session.execute(delete(db.WebSession).where(db.WebSession.user_name == name))
    return int(result.rowcount or 0)


def schools_of(user: db.User) -> list[str]:
    """The BRIN-vestigingen a user of role school is bound to (none for any other role)."""
    return (user.schools or "").split() if user.role == SCHOOL else []
