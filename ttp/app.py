"""One invocation's world: settings, database, keystore, the acting user, and audited transactions."""

from __future__ import annotations

import getpass
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import click
from sqlalchemy.orm import Session

from keys.keystore import Keystore, KeystoreError

from . import auditlog, db, roles
from .credentials import check_password, token_user
from .errors import Forbidden, TTPError, UsageError
from .settings import Settings


def hidden_prompt(text: str, confirm: bool = False) -> str:
    """A prompt that does not echo; without a terminal it reads stdin without getpass's warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", getpass.GetPassWarning)
        return click.prompt(text, hide_input=True, confirmation_prompt=confirm, err=True)


def read_passphrase(confirm: bool = False) -> str:
    """The keystore passphrase from `TTP_PASSPHRASE`, else a hidden prompt (never an argument)."""
    value = os.environ.get("TTP_PASSPHRASE")
    if value:
        return value
    try:
        value = hidden_prompt("Keystore passphrase", confirm)
    except (click.Abort, EOFError):
        raise UsageError("no passphrase: set TTP_PASSPHRASE or run in a terminal") from None
    if not value:
        raise UsageError("the passphrase must not be empty")
    return value


def read_password(name: str) -> str:
    """The acting user's password from `TTP_PASSWORD`, else a hidden prompt (never an argument)."""
    value = os.environ.get("TTP_PASSWORD")
    if value:
        return value
    if not sys.stdin.isatty():
        raise UsageError(f"no credential for {name}: set TTP_TOKEN (your API token) or TTP_PASSWORD, "
                         "or run in a terminal")
    try:
        return hidden_prompt(f"Password for {name}")
    except (click.Abort, EOFError):
        raise UsageError(f"no credential for {name}: set TTP_TOKEN or TTP_PASSWORD") from None


def read_new_password(prompt: str = "New password") -> str:
    """A new password from `TTP_NEW_PASSWORD`, else a hidden prompt asked twice (never an argument)."""
    value = os.environ.get("TTP_NEW_PASSWORD")
    if value:
        return value
    try:
        return hidden_prompt(prompt, confirm=True)
    except (click.Abort, EOFError):
        raise UsageError("no password: set TTP_NEW_PASSWORD or run in a terminal") from None


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
    proved: str | None = None  # the user whose own secret was checked (by prove(), or by the web's sign-in)
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

    @contextmanager
    def reading(self, action: str) -> Iterator[Acting | None]:
        """A read-only snapshot for the long part of an action, before its acting command takes the write
        lock: no event, no lock (on SQLite a deferred transaction in WAL mode). Yields None when the proved
        user may not run the action; the acting command that follows then refuses it, audited."""
        allowed = roles.allowed(action)
        self.require_schema()
        name = self.prove()
        # closing the session rolls its transaction back: nothing read here can be written. PostgreSQL
        # reads one snapshot for the whole transaction (REPEATABLE READ), as SQLite's deferred one does.
        options: dict = {db.READ_ONLY: True}
        if not self.settings.database_url.startswith("sqlite"):
            options["isolation_level"] = "REPEATABLE READ"
        with Session(self.engine.execution_options(**options), expire_on_commit=False) as session:
            user = session.get(db.User, name)
            if user is None or user.role not in allowed:
                yield None
            else:
                yield Acting(app=self, session=session, user=user, action=action, objects={})

    def act_as(self, name: str) -> None:
        """Act as a user this process proved itself (the web's sign-in, the demo's own users)."""
        self.actor_name = self.proved = name

    def prove(self) -> str:
        """The acting user, proved by their own secret: `TTP_TOKEN` (an API token, which names its user),
        else `--as NAME` / `TTP_USER` with that user's password (`TTP_PASSWORD` or a prompt). The keystore
        passphrase is never an identity."""
        if self.proved is not None:
            return self.proved
        claimed = self.actor_name or default_user()
        token = os.environ.get("TTP_TOKEN")
        if token:
            with self.session() as session:
                owner = token_user(session, token)
            if owner is None:
                raise UsageError("TTP_TOKEN is not a valid API token (unknown, revoked or malformed)")
            if claimed and claimed != owner:
                raise UsageError(f"TTP_TOKEN is the token of {owner}, not of {claimed}")
            self.proved = owner
            return owner
        if not claimed:
            raise UsageError("who is acting? set TTP_TOKEN (your API token), or give --as NAME and your password")
        password = read_password(claimed)
        with self.session() as session:
            user = session.get(db.User, claimed)
            stored = user.password_hash if user is not None else None
        if not check_password(password, stored):  # same time whether the user exists or not
            raise UsageError(f"wrong password for {claimed}, or no such user (a user without a password "
                             "has it set with `ttp users passwd`)")
        self.proved = claimed
        return claimed

    def checkpoint(self) -> None:
        """Sign a checkpoint of the log after an acting command, in its own transaction. Without the
        keystore (a researcher or officer who does not hold the passphrase) the events wait, chained, for
        the next checkpoint signed by a command or service that holds it."""
        if self._keystore is None and not os.environ.get("TTP_PASSPHRASE"):
            return
        entry = self.keystore.active("audit-signing")
        with self.session() as session:
            auditlog.checkpoint(session, self.keystore.signing_key(), audit_key_name(entry),
                                self.settings.checkpoint_log)

    @contextmanager
    def acting(self, action: str, objects: dict | None = None, record: bool = True) -> Iterator[Acting]:
        """Run an acting command: check the role (declared in `ttp.roles`), audit the action with the work,
        checkpoint after.

        A refusal by role is audited in a transaction of its own, then raised (Forbidden). With
        `record=False` (a page that only reads) a success appends no event; refusals and failures still do.
        """
        allowed = roles.allowed(action)
        self.require_schema()
        name = self.prove()
        refusal: TTPError | None = None
        with self.session() as session:
            user = session.get(db.User, name)
            if user is None:
                auditlog.append(session, actor=name, role="unknown", action=action, outcome="refused",
                                objects=objects, details={"reason": "unknown user"})
                refusal = TTPError(f"unknown user {name!r}: an operator adds users with `ttp users add`")
            else:
                if user.role not in allowed:
                    auditlog.append(session, actor=user.name, role=user.role, action=action, outcome="refused",
                                    objects=objects, details={"reason": "role", "allowed": list(allowed)})
                    article = "an" if user.role[0] in "aeiou" else "a"
                    refusal = Forbidden(f"{user.name} is {article} {user.role}; `{action}` is for "
                                        f"{' or '.join(allowed)}")
        if refusal is not None:
            self.checkpoint()
            raise refusal
        kept: TTPError | None = None
        assert user is not None  # refused above otherwise
        try:
            with self.session() as session:
                acting_user = session.get(db.User, user.name)
                if acting_user is None:
                    raise TTPError(f"user {user.name!r} was removed while acting")
                act = Acting(app=self, session=session, user=acting_user, action=action,
                             objects=dict(objects or {}))
                if (self.settings.data_dir / "erasures").is_dir():
                    from .erasure import settle  # an erasure killed after its commit: its files move now

                    settle(act)
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
                if not act.recorded and (record or kept is not None):
                    act.record()
        except TTPError as exc:
            with self.session() as session:
                auditlog.append(session, actor=user.name, role=user.role, action=action, outcome="failed",
                                objects=act.objects, details={"reason": str(exc)})
            self.checkpoint()
            raise
        if act.recorded and act.anchor:
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
    anchor: bool = True  # sign a checkpoint after the work (audit.verify does not over a tail it doubts)

    def record(self) -> db.AuditEvent:
        # The checkpoint after this event covers the events that waited for one: say so in the event, so
        # that anchoring them (a rewritten tail among them, perhaps) is never silent.
        waiting = auditlog.unanchored(self.session)
        if waiting:
            self.counts["unanchored_before"] = waiting
        self.event = auditlog.append(
            self.session, actor=self.user.name, role=self.user.role, action=self.action, outcome=self.outcome,
            objects=self.objects, counts=self.counts, details=self.details,
        )
        self.recorded = True
        return self.event
