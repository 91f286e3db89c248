"""The service's shared state (settings, engine, opened keystore) and the audited action of one request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from keys.keystore import Keystore

from .. import auditlog, db
from ..app import Acting, App
from ..errors import TTPError
from ..settings import Settings


class Forbidden(TTPError):
    """The signed-in user's role may not do this (HTTP 403); the refusal is audited."""


class NotFound(TTPError):
    """No such object, or not one the user may see (HTTP 404)."""


class _ServiceApp(App):
    """An App whose schema was checked once when the service started."""

    def require_schema(self) -> None:
        return None


@dataclass(frozen=True)
class Principal:
    """The signed-in user of one HTTP request and how they signed in (session or token)."""

    name: str
    role: str
    via: str
    csrf: str = ""


@dataclass
class Service:
    """What every request shares: settings, one engine and the keystore opened once at start."""

    settings: Settings
    engine: object
    keystore: Keystore
    secure_cookies: bool = True

    @classmethod
    def open(cls, settings: Settings, keystore: Keystore, secure_cookies: bool = True) -> Service:
        engine = db.make_engine(settings.database_url)
        db.require_current(engine, settings.database_url)
        return cls(settings=settings, engine=engine, keystore=keystore, secure_cookies=secure_cookies)

    def app(self, actor_name: str | None = None) -> App:
        return _ServiceApp(settings=self.settings, actor_name=actor_name, _engine=self.engine,
                           _keystore=self.keystore)

    @contextmanager
    def acting(self, user: Principal, action: str, roles: tuple[str, ...],
               objects: dict | None = None) -> Iterator[Acting]:
        """`App.acting` for a web user: a refusal by role is audited and raised as Forbidden."""
        app = self.app(user.name)
        if user.role not in roles:
            try:
                with app.acting(action, roles, objects):
                    pass
            except TTPError:
                pass
            raise Forbidden(f"`{action}` is for {' or '.join(roles)}")
        with app.acting(action, roles, objects) as act:
            act.details["via"] = user.via
            yield act

    def audit(self, *, actor: str, role: str, action: str, outcome: str, details: dict) -> None:
        """Append one event outside any acting command (sign-in, sign-out), then checkpoint."""
        app = self.app()
        with app.session() as session:
            auditlog.append(session, actor=actor, role=role, action=action, outcome=outcome, details=details)
        app.checkpoint()
