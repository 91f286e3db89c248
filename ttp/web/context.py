"""The service's shared state (settings, engine, opened keystore) and the audited action of one request."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from keys.keystore import Keystore

from .. import auditlog, db, roles
from ..app import Acting, App
from ..errors import Forbidden, TTPError
from ..settings import Settings


class _ServiceApp(App):
    """An App whose schema was checked once when the service started."""

    def require_schema(self) -> None:
        return None


class FifoLock:
    """A lock that hands over in arrival order, so no request waits behind a stream of later ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> None:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._cond.wait_for(lambda: self._serving == ticket)

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()


class Tally:
    """Counts refusals and hands the count over at most once per `seconds` (for one audit event)."""

    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._count = 0
        self._last: float | None = None

    def tally(self) -> int:
        """Count one refusal; the count to record now (0: not yet, the minute is not over)."""
        now = time.monotonic()
        with self._lock:
            self._count += 1
            if self._last is not None and now - self._last < self.seconds:
                return 0
            count, self._count, self._last = self._count, 0, now
            return count


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
    # Every action appends to the audit log, so writers serialise anyway; on SQLite they queue here rather
    # than in SQLite's busy-wait, which keeps the latency tail short under concurrent clients.
    _writer: FifoLock | None = field(default=None, repr=False)
    refused_tokens: Tally = field(default_factory=Tally, repr=False)
    _seen: set = field(default_factory=set, repr=False)
    _seen_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def first_time(self, key: tuple) -> bool:
        """True the first time this service sees `key` (an action once per session)."""
        with self._seen_lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def __post_init__(self) -> None:
        if self._writer is None and self.settings.database_url.startswith("sqlite"):
            self._writer = FifoLock()

    def turn(self):
        """This process's turn at the database (SQLite: every transaction takes the write lock at BEGIN)."""
        return self._writer or nullcontext()

    @contextmanager
    def session(self) -> Iterator:
        with self.turn(), self.app().session() as session:
            yield session

    @classmethod
    def open(cls, settings: Settings, keystore: Keystore, secure_cookies: bool = True) -> Service:
        engine = db.make_engine(settings.database_url)
        db.require_current(engine, settings.database_url)
        return cls(settings=settings, engine=engine, keystore=keystore, secure_cookies=secure_cookies)

    def app(self, actor_name: str | None = None) -> App:
        # the web proved the user (session or token) before any action
        return _ServiceApp(settings=self.settings, actor_name=actor_name, proved=actor_name, _engine=self.engine,
                           _keystore=self.keystore)

    @contextmanager
    def acting(self, user: Principal, action: str, objects: dict | None = None,
               record: bool = True) -> Iterator[Acting]:
        """`App.acting` for a web user: a refusal by role is audited and raised as Forbidden."""
        app = self.app(user.name)
        allowed = roles.allowed(action)
        if user.role not in allowed:
            try:
                with self.turn(), app.acting(action, objects):
                    pass
            except TTPError:
                pass
            raise Forbidden(f"`{action}` is for {' or '.join(allowed)}")
        with self.turn(), app.acting(action, objects, record) as act:
            act.details["via"] = user.via
            yield act

    def audit(self, *, actor: str, role: str, action: str, outcome: str, details: dict) -> None:
        """Append one event outside any acting command (sign-in, sign-out), then checkpoint."""
        app = self.app()
        with self.turn():
            with app.session() as session:
                auditlog.append(session, actor=actor, role=role, action=action, outcome=outcome,
                                details=details)
            app.checkpoint()
