"""Sign-in: browser sessions (random id, stored hashed, with a CSRF token), throttling and auditing."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from .. import db
from ..credentials import check_password
from .context import Principal, Service

SESSION_HOURS = 8
FREE_FAILURES = 5  # consecutive failures before a name is locked
LOCK_BASE_SECONDS = 30
LOCK_MAX_SECONDS = 15 * 60


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def lock_seconds(failures: int) -> int:
    """How long a name is locked after this many consecutive failures (0 below the free ones)."""
    if failures < FREE_FAILURES:
        return 0
    return min(LOCK_BASE_SECONDS * 2 ** (failures - FREE_FAILURES), LOCK_MAX_SECONDS)


def _locked(throttle: db.SignInThrottle | None) -> bool:
    return throttle is not None and (_aware(throttle.locked_until) or _now()) > _now()


def sign_in(service: Service, name: str, password: str) -> tuple[str, Principal] | None:
    """A new session id and the principal, or None (wrong name or password, or throttled); audited."""
    key = _sha256(name.strip().casefold())  # the typed name is kept only hashed: it may be a mistyped secret
    with service.session() as session:
        locked = _locked(session.get(db.SignInThrottle, key))
        user = session.get(db.User, name)
        stored, role = (user.password_hash, user.role) if user is not None else (None, None)
    # the slow hash runs outside any transaction; a locked name costs the same time as any other
    matches = check_password(password, stored)
    with service.session() as session:
        throttle = session.get(db.SignInThrottle, key)
        locked = locked or _locked(throttle)
        ok = matches and not locked
        if not ok:
            throttle = throttle or db.SignInThrottle(name=key, failures=0)
            if not locked:
                throttle.failures = (throttle.failures or 0) + 1
                wait = lock_seconds(throttle.failures)
                throttle.locked_until = _now() + timedelta(seconds=wait) if wait else None
            throttle.last_failure = _now()
            session.add(throttle)
            session.flush()
            failures = throttle.failures
            reason = "throttled" if locked else ("unknown user" if role is None else "wrong password")
        else:
            if throttle is not None:
                session.delete(throttle)
            session_id = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(32)
            session.add(db.WebSession(id_sha256=_sha256(session_id), user_name=name, csrf=csrf,
                                      expires_at=_now() + timedelta(hours=SESSION_HOURS)))
    if not ok:
        service.audit(actor=name if role is not None else "(unknown)", role=role or "unknown",
                      action="web.signin", outcome="refused", details={"reason": reason, "failures": failures})
        return None
    assert role is not None  # a password matched: the user exists
    service.audit(actor=name, role=role, action="web.signin", outcome="ok", details={"via": "session"})
    return session_id, Principal(name=name, role=role, via="session", csrf=csrf)


def session_user(service: Service, session_id: str | None) -> Principal | None:
    """The principal of a live session, or None."""
    if not session_id:
        return None
    with service.session() as session:
        row = session.get(db.WebSession, _sha256(session_id))
        if row is None:
            return None
        expires = _aware(row.expires_at)
        if expires is None or expires <= _now():
            session.delete(row)
            return None
        user = session.get(db.User, row.user_name)
        if user is None:
            return None
        return Principal(name=user.name, role=user.role, via="session", csrf=row.csrf)


def sign_out(service: Service, session_id: str, user: Principal) -> None:
    with service.session() as session:
        session.execute(delete(db.WebSession).where(db.WebSession.id_sha256 == _sha256(session_id)))
    service.audit(actor=user.name, role=user.role, action="web.signout", outcome="ok", details={})


def token_principal(service: Service, token: str) -> Principal | None:
    from ..credentials import token_user

    with service.session() as session:
        name = token_user(session, token)
        user = session.get(db.User, name) if name else None
        return Principal(name=user.name, role=user.role, via="token") if user else None
