"""One invocation's world: settings, database, keystore, the acting user, and audited transactions."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import click
from sqlalchemy.orm import Session

from keys.keystore import Keystore, KeystoreError

from . import auditlog, db
from .errors import TTPError, UsageError
from .settings import Settings


def read_passphrase(confirm: bool = False) -> str:
    """The keystore passphrase from `TTP_PASSPHRASE`, else a hidden prompt (never an argument)."""
    value = os.environ.get("TTP_PASSPHRASE")
    if value:
        return value
    try:
        value = click.prompt("Keystore passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    except (click.Abort, EOFError):
        raise UsageError("no passphrase: set TTP_PASSPHRASE or run in a terminal") from None
    if not value:
        raise UsageError("the passphrase must not be empty")
    return value


def default_user() -> str | None:
    """The acting user from `TTP_USER`, else None (the caller decides on a fallback)."""
    return os.environ.get("TTP_USER") or None


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "operator"


@dataclass
class App:
    """The shell's context: lazily opened database and keystore, and the acting user."""

    settings: Settings
    actor_name: str | None = None
    _engine: object = field(default=None, repr=False)
    _keystore: Keystore | None = field(default=None, repr=False)

    @property
    def engine(self):
        if self._engine is None:
            self._engine = db.make_engine(self.settings.database_url)
        return self._engine

    def require_schema(self) -> None:
        db.require_current(self.engine, self.settings.database_url)

    @property
    def keystore(self) -> Keystore:
        if self._keystore is None:
            path = self.settings.keystore_path
            if not path.exists():
                raise TTPError(f"no keystore at {path}: run `ttp init` first")
            passphrase = read_passphrase()
            try:
                self._keystore = Keystore.open(path, passphrase)
            except KeystoreError:
                raise UsageError("wrong passphrase or damaged keystore") from None
        return self._keystore

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed if the block ends normally, rolled back otherwise."""
        with Session(self.engine, expire_on_commit=False) as session:
            with session.begin():
                yield session

    def actor(self, session: Session) -> db.User:
        """The acting user (`--as` or `TTP_USER`); an unknown name is refused and the refusal audited."""
        name = self.actor_name or default_user()
        if not name:
            raise UsageError("who is acting? give --as NAME or set TTP_USER")
        user = session.get(db.User, name)
        if user is None:
            raise TTPError(f"unknown user {name!r}: an operator adds users with `ttp users add`")
        return user

    def checkpoint(self) -> None:
        """Sign a checkpoint of the log after an acting command, in its own transaction."""
        entry = self.keystore.active("audit-signing")
        with self.session() as session:
            auditlog.checkpoint(session, self.keystore.signing_key(), audit_key_name(entry),
                                self.settings.checkpoint_log)

    @contextmanager
    def acting(self, action: str, roles: tuple[str, ...], objects: dict | None = None) -> Iterator[Acting]:
        """Run an acting command: check the role, audit the action with the work, checkpoint after.

        A refusal by role is audited in a transaction of its own, then raised.
        """
        self.require_schema()
        _ = self.keystore
        if not (self.actor_name or default_user()):
            raise UsageError("who is acting? give --as NAME or set TTP_USER")
        refusal: TTPError | None = None
        with self.session() as session:
            try:
                user = self.actor(session)
            except TTPError as exc:
                name = self.actor_name or default_user() or ""
                auditlog.append(session, actor=name, role="unknown", action=action, outcome="refused",
                                objects=objects, details={"reason": "unknown user"})
                refusal = exc
            else:
                if user.role not in roles:
                    auditlog.append(session, actor=user.name, role=user.role, action=action, outcome="refused",
                                    objects=objects, details={"reason": "role", "allowed": list(roles)})
                    refusal = TTPError(
                        f"{user.name} is a {user.role}; `{action}` is for {' or '.join(roles)}"
                    )
        if refusal is not None:
            self.checkpoint()
            raise refusal
        kept: TTPError | None = None
        try:
            with self.session() as session:
                act = Acting(app=self, session=session, user=session.get(db.User, user.name), action=action,
                             objects=dict(objects or {}))
                try:
                    yield act
                except TTPError as exc:
                    if not getattr(exc, "keep", False):
                        raise
                    # A refusal whose record is part of the work (a release refused by disclosure control
                    # keeps its reasons for the privacy officer): committed with its event, then raised.
                    act.outcome = "refused"
                    act.details["reason"] = str(exc)
                    kept = exc
                if not act.recorded:
                    act.record()
        except TTPError as exc:
            with self.session() as session:
                auditlog.append(session, actor=user.name, role=user.role, action=action, outcome="failed",
                                objects=act.objects, details={"reason": str(exc)})
            self.checkpoint()
            raise
        self.checkpoint()
        if kept is not None:
            raise kept


def audit_key_name(entry) -> str:
    """The signer name of an audit-signing key in checkpoint notes (versioned, so rotation keeps old ones)."""
    return f"ttp-audit-{entry.id}"


@dataclass
class Acting:
    """An acting command in progress: its transaction, its user, and the event it will append."""

    app: App
    session: Session
    user: db.User
    action: str
    objects: dict
    counts: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    outcome: str = "ok"
    recorded: bool = False
    event: db.AuditEvent | None = None

    def record(self) -> db.AuditEvent:
        self.event = auditlog.append(
            self.session, actor=self.user.name, role=self.user.role, action=self.action, outcome=self.outcome,
            objects=self.objects, counts=self.counts, details=self.details,
        )
        self.recorded = True
        return self.event
