"""Backup and restore of an installation (SQLite or PostgreSQL): one sealed file with a consistent snapshot
of the database, the folders its rows name, the keystore and the outside checkpoints.

Consistency without stopping the service: the database is dumped table by table inside one read snapshot
(PostgreSQL REPEATABLE READ, read only; SQLite's deferred read transaction in WAL mode), then only the
batch, job and release folders whose rows are in that snapshot (a folder appears only after its row commits
and never changes after), then the keystore (keys are added and re-wrapped data keys stay readable under the
newer keys; a key is destroyed only when no row names it), and the checkpoints no larger than the snapshot's
log. The dump is logical (rows as JSON lines, one file per table, in dependency order), the same for both
databases and free of `pg_dump`: a SQLite backup restores into PostgreSQL and back.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import tarfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, cast

from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, func, inspect, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session

from keys.errors import SealError
from keys.keystore import Keystore, KeystoreError
from keys.stream import SealedReader, SealedWriter

from . import auditlog, db, staging
from .app import App, read_passphrase
from .errors import TTPError, UsageError
from .settings import make_data_dir, resolve

FORMAT = 2  # 1: SQLite's file (restored still, into SQLite); 2: the logical dump of every table
MANIFEST = "manifest.json"
DATABASE = "ttp.db"
DUMP = "database"
KEYSTORE = "keystore.ttpkeys"
CHECKPOINTS = "audit/checkpoints.log"
# a folder per row of these tables (a recipient's delivery and an imported table live among the releases);
# a release whose files retention removed has none
FOLDERS = {"batches": (db.Batch.id,), "jobs": (db.Job.id,), "releases": (db.Release.id, db.RecipientRelease.id)}
_MEMBER = re.compile(r"(batches|jobs|releases)/[A-Za-z0-9_]{1,64}/[A-Za-z0-9_.-]{1,128}")
_TABLE = re.compile(rf"{DUMP}/([a-z_]{{1,64}})\.jsonl")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> Path:
    """The database file of a SQLite URL; an in-memory one is refused in one line."""
    parsed = make_url(url)
    if not parsed.database or parsed.database.startswith(":"):
        raise TTPError("`ttp backup` and `ttp restore` need a database file or server, not an in-memory one")
    return Path(parsed.database)


def backup(app: App, out: Path) -> dict[str, int]:
    """The backup action: written while the service runs (a read snapshot, no write lock), then audited."""
    if is_sqlite(app.settings.database_url):
        sqlite_file(app.settings.database_url)
    counts: dict[str, int] = {}
    with app.reading("backup") as reader:
        if reader is not None:  # else the acting command below refuses it, audited
            passphrase = read_passphrase()
            try:
                app._keystore = Keystore.open(app.settings.keystore_path, passphrase)
            except KeystoreError:
                raise UsageError("wrong passphrase or damaged keystore") from None
            if not is_sqlite(app.settings.database_url):  # the snapshot only reads (REPEATABLE READ already)
                reader.session.execute(text("SET TRANSACTION READ ONLY"))
            counts = write_backup(app, reader.session, out, passphrase)
    with app.acting("backup") as act:
        act.counts.update(counts)
    return counts


def write_backup(app: App, session: Session, out: Path, passphrase: str) -> dict[str, int]:
    """Write the sealed backup of the snapshot `session` reads to `out` (through a temporary file beside it,
    renamed into place: a killed backup leaves no half file); the counts of what it holds."""
    settings = app.settings
    if out.exists():
        raise TTPError(f"{out} exists: give a new file for the backup")
    if not out.parent.is_dir():
        raise TTPError(f"{out.parent}: no such folder")
    # The dump is plaintext: it stays inside the data directory (0700) while the file is written, and a dump
    # left by a killed backup goes at the next one.
    _remove_dead(settings.data_dir, ".backup-")
    work = settings.data_dir / f".backup-{os.getpid()}"
    work.mkdir()
    try:
        dumped = dump(session, work / DUMP)
        ids = {folder: [i for column in columns for i in session.scalars(_with_folder(column))]
               for folder, columns in FOLDERS.items()}
        events = session.scalar(select(func.max(db.AuditEvent.seq))) or 0
        keystore = work / KEYSTORE
        shutil.copyfile(settings.keystore_path, keystore)
        _check_keys(session, keystore, passphrase)
        checkpoints = [note for note in auditlog.outside_checkpoints(settings.checkpoint_log)
                       if int(note.splitlines()[1]) <= events]
        counts = {"events": events, **{folder: len(v) for folder, v in ids.items()}}
        manifest = {"format": FORMAT, "database": make_url(settings.database_url).get_backend_name(),
                    "revision": _revision(session.connection()), "tables": dumped, "counts": counts}
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        try:
            with tmp.open("wb") as fh:
                sealed = SealedWriter(fh, passphrase)
                with tarfile.open(fileobj=cast(IO[bytes], sealed), mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    _add_bytes(tar, MANIFEST, json.dumps(manifest, sort_keys=True).encode())
                    for table in dumped:
                        name = table["name"]
                        tar.add(work / DUMP / f"{name}.jsonl", f"{DUMP}/{name}.jsonl", recursive=False)
                    for folder, names in ids.items():
                        for name in names:
                            path = _folder(settings.data_dir / folder, name)
                            for file in sorted(path.iterdir()):
                                tar.add(file, f"{folder}/{name}/{file.name}", recursive=False)
                    tar.add(keystore, KEYSTORE, recursive=False)
                    _add_bytes(tar, CHECKPOINTS, "".join(n.rstrip("\n") + "\n\n" for n in checkpoints).encode())
                sealed.close()
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return counts


def _with_folder(column):
    """The ids of a table's rows that have a folder (a release's files may have gone by retention)."""
    query = select(column)
    if column is db.Release.id:
        query = query.where(db.Release.removed_at.is_(None))
    return query


def _check_keys(session: Session, keystore: Path, passphrase: str) -> None:
    """Every key a row of the snapshot names is in the keystore copy (a key destroyed between the snapshot and
    the copy would leave batches no key opens)."""
    try:
        held = {e.id for e in Keystore.open(keystore, passphrase).entries()}
    except KeystoreError:
        raise UsageError("wrong passphrase or damaged keystore") from None
    named = set(session.scalars(select(db.Batch.payload_key_id))) | set(
        session.scalars(select(db.Batch.quarantine_key_id))) | set(session.scalars(select(db.Batch.key_id)))
    if named - held:
        raise TTPError("the keys changed while the backup ran (a key was destroyed): run the backup again")


# --- the logical dump ------------------------------------------------------------------------------------------


def tables() -> list[Table]:
    """Every table of the schema, parents before the tables that refer to them."""
    return list(db.Base.metadata.sorted_tables)


def dump(session: Session, folder: Path) -> list[dict]:
    """Write every table's rows as JSON lines (a list of values per row, in the table's column order) into
    `folder`; per table (parents first) its name, columns and row count, for the manifest."""
    folder.mkdir()
    done: list[dict] = []
    for table in tables():
        columns = list(table.columns)
        rows = 0
        with (folder / f"{table.name}.jsonl").open("w", encoding="utf-8") as fh:
            for row in session.execute(select(table).order_by(*table.primary_key.columns)):
                fh.write(json.dumps([_encode(c, v) for c, v in zip(columns, row, strict=True)],
                                    ensure_ascii=False, sort_keys=True) + "\n")
                rows += 1
        done.append({"name": table.name, "columns": [c.name for c in columns], "rows": rows})
    return done


def _encode(column: Column, value: object) -> object:
    if value is None:
        return None
    if isinstance(column.type, LargeBinary):
        return base64.b64encode(cast(bytes, value)).decode("ascii")
    if isinstance(value, datetime):  # SQLite gives back naive values of aware (UTC) ones
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return value


def _decode(column: Column, value: object) -> object:
    if value is None:
        return None
    if isinstance(column.type, LargeBinary):
        return base64.b64decode(cast(str, value), validate=True)
    if isinstance(value, str) and column.type.python_type is datetime:
        return datetime.fromisoformat(value)
    return value


def _revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def load(conn: Connection, url: str, manifest: dict, folder: Path) -> None:
    """Into an empty database: the schema at the backup's revision, its rows, the sequences after them, then
    the newer revisions of this ttp; all on `conn`, in its transaction."""
    from alembic import command
    from alembic.script import ScriptDirectory

    config = db.alembic_config(url)
    revision = manifest.get("revision")
    if revision is None or ScriptDirectory.from_config(config).get_revision(revision) is None:
        raise TTPError(f"the backup is of schema revision {revision}, which this ttp does not know: restore it "
                       "with the ttp that made it")
    config.attributes["connection"] = conn
    command.upgrade(config, revision)
    for info in manifest["tables"]:
        name = info["name"]
        table = _table(conn, name, info["columns"])
        columns = list(table.columns)
        rows = [{c.name: _decode(c, v) for c, v in zip(columns, values, strict=True)}
                for values in _lines(folder / f"{name}.jsonl")]
        if len(rows) != info["rows"]:
            raise TTPError(f"damaged backup ({name}: {len(rows)} rows, the manifest says {info['rows']})")
        for chunk in _parents_first(table, rows):
            conn.execute(table.insert(), chunk)
    if conn.dialect.name == "postgresql":  # the next id of a serial key follows the restored rows
        for table in tables():
            key = list(table.primary_key.columns)
            if len(key) == 1 and key[0].autoincrement is not False and isinstance(key[0].type, Integer):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence(:t, :c), coalesce((SELECT "
                                  f"max({key[0].name}) FROM {table.name}), 0) + 1, false) "
                                  "WHERE pg_get_serial_sequence(:t, :c) IS NOT NULL"),
                             {"t": table.name, "c": key[0].name})
    command.upgrade(config, "head")


def _table(conn: Connection, name: str, columns: list[str]) -> Table:
    """The table to load a dumped table into: this ttp's model when the columns agree, else (a backup of an
    older revision) the table as the database has it at that revision."""
    model = db.Base.metadata.tables.get(name)
    if model is not None and [c.name for c in model.columns] == columns:
        return model
    try:
        reflected = Table(name, MetaData(), autoload_with=conn)
    except Exception:  # noqa: BLE001 - no such table at that revision
        raise TTPError(f"the backup's table {name} is not in its schema revision: a damaged backup") from None
    if sorted(c.name for c in reflected.columns) != sorted(columns):
        raise TTPError(f"the backup's table {name} does not match its schema revision: a damaged backup")
    return Table(name, MetaData(), *(reflected.columns[c].copy() for c in columns))


def _lines(path: Path) -> Iterator[list]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def _parents_first(table: Table, rows: list[dict]) -> Iterable[list[dict]]:
    """The rows in chunks such that a row referring to a row of its own table comes after it."""
    own = [fk for fk in table.foreign_keys if fk.column.table is table]
    if not own:
        for start in range(0, len(rows), 1000):
            yield rows[start:start + 1000]
        return
    key, ref = own[0].column.name, own[0].parent.name
    placed: set = set()
    pending = rows
    while pending:
        ready = [r for r in pending if r[ref] is None or r[ref] in placed]
        if not ready:
            raise TTPError(f"damaged backup ({table.name}: a row refers to a row that is not there)")
        yield ready
        placed.update(r[key] for r in ready)
        done = {id(r) for r in ready}
        pending = [r for r in pending if id(r) not in done]


def is_empty(engine) -> bool:
    """Whether the database holds no table of ttp (nor Alembic's)."""
    names = set(inspect(engine).get_table_names())
    return not names & ({t.name for t in tables()} | {"alembic_version"})


def drop(engine) -> None:
    """Remove what a failed restore put into a (PostgreSQL) database, so it is empty again."""
    with engine.begin() as conn:
        db.Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


# --- the folders, and the pieces of the file -------------------------------------------------------------------


def _folder(parent: Path, name: str) -> Path:
    """The folder of a committed row; just after its commit it may still be in staging for a moment."""
    path = parent / name
    if path.is_dir():
        return path
    staged = sorted(parent.glob(f"{staging.PREFIX}*-{name}"))
    if staged and staged[0].is_dir():
        return staged[0]
    raise TTPError(f"{path}: the folder of a row in the database is missing (deleted by `ttp retention apply` "
                   "while the backup ran? run the backup again)")


def _remove_dead(parent: Path, prefix: str) -> None:
    """Remove `<prefix><pid>` folders in `parent` whose process is gone (left by a killed command)."""
    for folder in parent.glob(f"{prefix}*"):
        pid = folder.name[len(prefix):]
        if folder.is_dir() and pid.isdigit() and not staging.alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    tar.addfile(info, io.BytesIO(data))


# --- restore ---------------------------------------------------------------------------------------------------


def restore(app: App, source: Path) -> dict[str, int]:
    """Restore a backup into an empty (or new) data directory and an empty database (the data directory's own
    SQLite file, or the empty PostgreSQL database of TTP_DATABASE_URL). The restorer proves to be an operator
    of the restored installation; the restore is audited there, and only then does the data directory appear."""
    settings = app.settings
    target = settings.data_dir
    sqlite = is_sqlite(settings.database_url)
    if sqlite and sqlite_file(settings.database_url) != target / DATABASE:
        raise TTPError("restore into the data directory's own SQLite database: unset TTP_DATABASE_URL")
    if target.exists() and any(target.iterdir()):
        raise TTPError(f"{target} is not empty: restore into a new or empty data directory")
    if not sqlite:
        engine = db.make_engine(settings.database_url)
        try:
            empty = is_empty(engine)
        except Exception as exc:  # driver errors carry the URL, never data
            raise TTPError(f"cannot open the database ({type(exc).__name__}): is TTP_DATABASE_URL right?") from None
        finally:
            engine.dispose()
        if not empty:
            raise TTPError("the database of TTP_DATABASE_URL is not empty: restore into a new, empty database")
    passphrase = read_passphrase()
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead(target.parent, f".{target.name}.restore-")
    work = target.with_name(f".{target.name}.restore-{os.getpid()}")
    make_data_dir(work)
    restored: App | None = None
    loaded = False
    try:
        manifest = _unpack(source, passphrase, work)
        url = f"sqlite:///{work / DATABASE}" if sqlite else settings.database_url
        restored = App(settings=resolve(work, url), actor_name=app.actor_name)
        try:
            restored._keystore = Keystore.open(work / KEYSTORE, passphrase)
        except KeystoreError:
            raise UsageError("the backup's keystore does not open with this passphrase") from None
        if manifest["format"] == 1:
            if not sqlite:
                raise TTPError(f"{source} holds a SQLite database file (a backup of format 1): restore it into "
                               "SQLite, then back that up again to move it to PostgreSQL")
        else:
            with restored.engine.begin() as conn:
                loaded = True
                load(conn, url, manifest, work / DUMP)
            shutil.rmtree(work / DUMP)
        with restored.acting("restore") as act:
            act.counts.update(manifest["counts"])
        restored.engine.dispose()
        if target.exists():
            target.rmdir()
        os.replace(work, target)
    except BaseException:
        if restored is not None and restored._engine is not None:
            if loaded and not sqlite:
                drop(restored.engine)
            restored.engine.dispose()
        shutil.rmtree(work, ignore_errors=True)
        raise
    return dict(manifest["counts"])


def _unpack(source: Path, passphrase: str, work: Path) -> dict:
    """Open, check and write out every member; any damage or a wrong passphrase is one line."""
    manifest: dict | None = None
    try:
        with source.open("rb") as fh:
            reader = SealedReader(fh, passphrase)
            with tarfile.open(fileobj=cast(IO[bytes], reader), mode="r|") as tar:
                for member in tar:
                    name = member.name
                    if not member.isfile() or not (name in (MANIFEST, DATABASE, KEYSTORE, CHECKPOINTS)
                                                   or _MEMBER.fullmatch(name) or _TABLE.fullmatch(name)):
                        raise TTPError(f"{source}: not a ttp backup (unexpected member {name!r})")
                    extracted = tar.extractfile(member)
                    assert extracted is not None  # a regular file
                    if name == MANIFEST:
                        manifest = json.loads(extracted.read())
                        if manifest.get("format") not in (1, FORMAT):
                            raise TTPError(f"{source}: a backup of format {manifest.get('format')}, not {FORMAT}")
                        continue
                    path = work / name
                    path.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        with path.open("xb") as out:
                            shutil.copyfileobj(extracted, out)
                    except FileExistsError:
                        raise TTPError(f"{source}: damaged backup ({name} twice)") from None
    except SealError:
        raise UsageError(f"{source}: wrong passphrase or damaged backup") from None
    except (tarfile.TarError, ValueError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise TTPError(f"{source}: damaged backup ({type(exc).__name__})") from None
    if manifest is None:
        raise TTPError(f"{source}: not a complete ttp backup (missing {MANIFEST})")
    wanted = [KEYSTORE, DATABASE] if manifest["format"] == 1 else \
        [KEYSTORE, *(f"{DUMP}/{t['name']}.jsonl" for t in manifest.get("tables", []))]
    missing = [n for n in wanted if not (work / n).exists()]
    if missing:
        raise TTPError(f"{source}: not a complete ttp backup (missing {', '.join(missing)})")
    return manifest
