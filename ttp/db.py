"""The relational state of ttp (SQLAlchemy 2 models), its engine, and the Alembic revision check."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .errors import TTPError

MIGRATIONS = Path(__file__).with_name("migrations")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, list: JSON, bytes: LargeBinary, datetime: DateTime(timezone=True)}


class User(Base):
    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(Text)
    pending_role: Mapped[str | None] = mapped_column(String(32))  # privacy-officer, until an officer approves
    pending_by: Mapped[str | None] = mapped_column(String(100))  # who asked for it (None: created_by asked)
    schools: Mapped[str | None] = mapped_column(Text)  # role school: its BRIN-vestigingen, space-separated


class Batch(Base):
    __tablename__ = "batches"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(100), index=True)
    sector: Mapped[str] = mapped_column(String(8))
    attach_to: Mapped[str | None] = mapped_column(String(100))
    school_year: Mapped[str | None] = mapped_column(String(16))
    key_id: Mapped[str] = mapped_column(String(64))
    key_version: Mapped[int] = mapped_column(Integer)
    payload_key_id: Mapped[str] = mapped_column(String(64))
    wrapped_payload_key: Mapped[bytes]
    quarantine_key_id: Mapped[str] = mapped_column(String(64))
    wrapped_quarantine_key: Mapped[bytes]
    rows_read: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    quarantined: Mapped[int] = mapped_column(Integer)
    fields_dropped: Mapped[dict]
    link_kinds: Mapped[dict]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded_by: Mapped[str | None] = mapped_column(String(32))  # the corrected delivery that replaces it
    superseded_at: Mapped[datetime | None]
    # a supplier delivery: who made it and under which version of the suppliers' shared secret (None: the
    # TTP pseudonymised the export itself); a job never mixes the two kinds nor two secret versions
    supplier: Mapped[str | None] = mapped_column(String(100))
    secret_version: Mapped[int | None] = mapped_column(Integer)
    objected: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # dropped: in the register


class Objection(Base):
    """One keyed digest of an objected child (a number, or name and birth date), never the value itself."""

    __tablename__ = "objections"
    __table_args__ = (UniqueConstraint("scheme", "kind", "digest"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))  # bsn, onr, name
    scheme: Mapped[str] = mapped_column(String(32))  # ttp, or supplier-v<N> (the suppliers' secret version)
    digest: Mapped[str] = mapped_column(String(64))
    erasure_id: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Erasure(Base):
    """One child erased everywhere: the counts of what went, the jobs rewritten and the releases noted."""

    __tablename__ = "erasures"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    counts: Mapped[dict]
    releases: Mapped[list]  # earlier releases made from a job that held the child: they stay, noted
    jobs: Mapped[list]
    objection: Mapped[bool] = mapped_column(Boolean)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Supplier(Base):
    """A school, board or software supplier whose signed deliveries the TTP accepts."""

    __tablename__ = "suppliers"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    public_key: Mapped[str] = mapped_column(Text)  # Ed25519, PEM
    fingerprint: Mapped[str] = mapped_column(String(64))
    secret_version: Mapped[int] = mapped_column(Integer)  # the shared secret version its deliveries must use
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class Recipient(Base):
    """A designated recipient (CBS) that suppliers seal identities to; usable once a second officer approved it."""

    __tablename__ = "recipients"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    public_key: Mapped[str] = mapped_column(Text)  # X25519, PEM
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending, active, denied
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class RecipientRelease(Base):
    """A microdata delivery made for a designated recipient (kind `delivery`, a `cbs-delivery` request), or a
    table that came back from its environment (kind `external`, imported); its files' sums."""

    __tablename__ = "recipient_releases"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(ForeignKey("requests.id"), unique=True, nullable=True)
    recipient: Mapped[str] = mapped_column(ForeignKey("recipients.name"))
    project: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    derived_from: Mapped[str | None] = mapped_column(ForeignKey("recipient_releases.id"), nullable=True)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    files: Mapped[dict] = mapped_column(JSON)
    size: Mapped[int] = mapped_column(Integer)  # persons of a delivery, rows of an external table
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]  # retention removed its files (the row stays)


class Delivery(Base):
    """A delivery id once ingested: a second delivery with the same id is a replay."""

    __tablename__ = "deliveries"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    supplier: Mapped[str] = mapped_column(ForeignKey("suppliers.name"), index=True)
    created: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id"))  # None: retention deleted it
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class BatchFile(Base):
    __tablename__ = "batch_files"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    sources: Mapped[list]
    batch_ids: Mapped[list]
    key_version: Mapped[int] = mapped_column(Integer)
    records: Mapped[int] = mapped_column(Integer)
    persons: Mapped[int] = mapped_column(Integer)
    links: Mapped[int] = mapped_column(Integer)
    reviews: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict]
    previous_job_id: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewDecision(Base):
    __tablename__ = "review_decisions"
    record_id_l: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id_r: Mapped[str] = mapped_column(String(64), primary_key=True)
    decision: Mapped[str] = mapped_column(String(8))
    job_id: Mapped[str] = mapped_column(String(32))
    decided_by: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class Policy(Base):
    __tablename__ = "policies"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    # pending until a privacy officer other than its author approves it; then active (or rejected)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="active")
    decided_by: Mapped[str | None] = mapped_column(String(100))


class Request(Base):
    __tablename__ = "requests"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    requester: Mapped[str] = mapped_column(String(100), index=True)
    policy_name: Mapped[str] = mapped_column(String(100))
    policy_version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    check: Mapped[dict]
    job_id: Mapped[str | None] = mapped_column(String(32))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Release(Base):
    __tablename__ = "releases"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)  # a round: one per table
    job_id: Mapped[str] = mapped_column(String(32))
    policy_name: Mapped[str] = mapped_column(String(100))
    policy_version: Mapped[int] = mapped_column(Integer)
    files: Mapped[dict]
    released_table: Mapped[dict]  # policies.history.ReleaseRecord (never released)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    seq: Mapped[int | None] = mapped_column(Integer, index=True, unique=True)  # the order of releases
    removed_at: Mapped[datetime | None]  # retention removed its files (the row and its history stay)


class School(Base):
    __tablename__ = "schools"
    brin: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    municipality: Mapped[str | None] = mapped_column(String(100))
    board: Mapped[str | None] = mapped_column(String(32))
    place: Mapped[str | None] = mapped_column(String(100))
    municipality_name: Mapped[str | None] = mapped_column(String(100))
    province: Mapped[str | None] = mapped_column(String(100))


class AuditEvent(Base):
    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    time: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100), index=True)
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    batch_id: Mapped[str | None] = mapped_column(String(64), index=True)
    job_id: Mapped[str | None] = mapped_column(String(64), index=True)
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)
    release_id: Mapped[str | None] = mapped_column(String(64), index=True)
    key_id: Mapped[str | None] = mapped_column(String(64))
    key_version: Mapped[int | None] = mapped_column(Integer)
    counts: Mapped[dict]
    details: Mapped[dict]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    tree_state: Mapped[dict]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


READ_ONLY = "ttp_read_only"  # an execution option: this transaction only reads


def make_engine(url: str) -> Engine:
    """An engine; on SQLite, transactions take the write lock at BEGIN so appends serialise."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record):  # pragma: no cover - driver hook
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA foreign_keys=ON")
            dbapi_connection.execute("PRAGMA journal_mode=WAL")

        @event.listens_for(engine, "begin")
        def _begin(conn):  # pragma: no cover - driver hook
            # A read snapshot (READ_ONLY) takes no lock: WAL readers neither wait for nor block the writer.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision(url: str) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, url: str) -> None:
    """Bring the schema to the newest revision (creates it on an empty database)."""
    from alembic import command

    config = alembic_config(url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def require_current(engine: Engine, url: str) -> None:
    """Refuse to act on a database that is missing or not at the newest schema revision."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///").split("?", 1)[0]
        if path and not path.startswith(":") and not Path(path).exists():
            raise TTPError(f"no ttp database at {path}: run `ttp init` first (or give --data-dir / TTP_DATA_DIR)")
    try:
        current = current_revision(engine)
    except Exception as exc:  # driver errors carry the URL, never data
        raise TTPError(f"cannot open the database ({type(exc).__name__}): is the data directory or "
                       "TTP_DATABASE_URL right? A new installation starts with `ttp init`") from None
    if current is None:
        raise TTPError("the database has no ttp schema: run `ttp init` first")
    if current != head_revision(url):
        raise TTPError(f"the database is at schema revision {current}, older than this ttp: run `ttp db upgrade`")


# --- web service (issue 8): API tokens, browser sessions, sign-in throttling ------------------------------


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None] = mapped_column()


class WebSession(Base):
    __tablename__ = "web_sessions"
    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class SignInThrottle(Base):
    __tablename__ = "signin_throttle"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure: Mapped[datetime | None] = mapped_column()
    locked_until: Mapped[datetime | None] = mapped_column()
