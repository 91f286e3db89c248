"""Backup and restore of an installation on SQLite: one sealed file with a consistent snapshot of the
database, the folders its rows name, the keystore and the outside checkpoints.

Consistency without stopping the service: the database is copied first (SQLite's online backup), then
only the batch, job and release folders whose rows are in that copy (a folder appears only after its row
commits and never changes after), then the keystore (keys are only ever added, so a later copy holds every
key the copy needs), and the checkpoints no larger than the copy's log.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import tarfile
from pathlib import Path
from typing import IO, cast

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from keys.errors import SealError
from keys.keystore import Keystore, KeystoreError
from keys.stream import SealedReader, SealedWriter

from . import auditlog, db, staging
from .app import App, read_passphrase
from .errors import TTPError, UsageError
from .settings import make_data_dir, resolve

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = "ttp.db"
KEYSTORE = "keystore.ttpkeys"
CHECKPOINTS = "audit/checkpoints.log"
# a folder per row of these tables (a recipient's delivery and an imported table live among the releases)
FOLDERS = {"batches": (db.Batch.id,), "jobs": (db.Job.id,), "releases": (db.Release.id, db.RecipientRelease.id)}
_MEMBER = re.compile(r"(batches|jobs|releases)/[A-Za-z0-9_]{1,64}/[A-Za-z0-9_.-]{1,128}")


def sqlite_file(url: str) -> Path:
    """The database file of a SQLite URL; another database is refused in one line."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database.startswith(":"):
        raise TTPError("`ttp backup` and `ttp restore` cover SQLite installations; on PostgreSQL back up the "
                       "database with pg_dump and the data directory with it (docs/architecture.md)")
    return Path(parsed.database)


def backup(app: App, out: Path) -> dict[str, int]:
    """The backup action: written while the service runs (a read snapshot, no write lock), then audited."""
    sqlite_file(app.settings.database_url)
    counts: dict[str, int] = {}
    with app.reading("backup") as reader:
        if reader is not None:  # else the acting command below refuses it, audited
            passphrase = read_passphrase()
            try:
                app._keystore = Keystore.open(app.settings.keystore_path, passphrase)
            except KeystoreError:
                raise UsageError("wrong passphrase or damaged keystore") from None
            counts = write_backup(app, out, passphrase)
    with app.acting("backup") as act:
        act.counts.update(counts)
    return counts


def write_backup(app: App, out: Path, passphrase: str) -> dict[str, int]:
    """Write the sealed backup to `out` (through a temporary file beside it); the counts of what it holds."""
    settings = app.settings
    database = sqlite_file(settings.database_url)
    if out.exists():
        raise TTPError(f"{out} exists: give a new file for the backup")
    if not out.parent.is_dir():
        raise TTPError(f"{out.parent}: no such folder")
    # The copy of the database is plaintext: it stays inside the data directory (0700) while the file is
    # written, and a copy left by a killed backup goes at the next one.
    _remove_dead(settings.data_dir, ".backup-")
    work = settings.data_dir / f".backup-{os.getpid()}"
    work.mkdir()
    try:
        copy = work / DATABASE
        _snapshot(database, copy)
        engine = db.make_engine(f"sqlite:///{copy}")
        try:
            with Session(engine) as session:
                ids = {folder: [i for column in columns for i in session.scalars(select(column))]
                       for folder, columns in FOLDERS.items()}
                events = session.scalar(select(func.max(db.AuditEvent.seq))) or 0
        finally:
            engine.dispose()
        checkpoints = [note for note in auditlog.outside_checkpoints(settings.checkpoint_log)
                       if int(note.splitlines()[1]) <= events]
        counts = {"events": events, **{folder: len(v) for folder, v in ids.items()}}
        manifest = {"format": FORMAT, "database": "sqlite", "counts": counts}
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        try:
            with tmp.open("wb") as fh:
                sealed = SealedWriter(fh, passphrase)
                with tarfile.open(fileobj=cast(IO[bytes], sealed), mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    _add_bytes(tar, MANIFEST, json.dumps(manifest, sort_keys=True).encode())
                    tar.add(copy, DATABASE, recursive=False)
                    for folder, names in ids.items():
                        for name in names:
                            path = _folder(settings.data_dir / folder, name)
                            for file in sorted(path.iterdir()):
                                tar.add(file, f"{folder}/{name}/{file.name}", recursive=False)
                    tar.add(settings.keystore_path, KEYSTORE, recursive=False)
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


def _folder(parent: Path, name: str) -> Path:
    """The folder of a committed row; just after its commit it may still be in staging for a moment."""
    path = parent / name
    if path.is_dir():
        return path
    staged = sorted(parent.glob(f"{staging.PREFIX}*-{name}"))
    if staged and staged[0].is_dir():
        return staged[0]
    raise TTPError(f"{path}: the folder of a row in the database is missing")


def _remove_dead(parent: Path, prefix: str) -> None:
    """Remove `<prefix><pid>` folders in `parent` whose process is gone (left by a killed command)."""
    for folder in parent.glob(f"{prefix}*"):
        pid = folder.name[len(prefix):]
        if folder.is_dir() and pid.isdigit() and not staging.alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _snapshot(database: Path, copy: Path) -> None:
    """SQLite's online backup: a consistent copy while other processes read and write."""
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    tar.addfile(info, io.BytesIO(data))


def restore(app: App, source: Path) -> dict[str, int]:
    """Restore a backup into an empty (or new) data directory. The restorer proves to be an operator of the
    restored installation; the restore is audited there, and only then does the data directory appear."""
    settings = app.settings
    target = settings.data_dir
    if sqlite_file(settings.database_url) != target / DATABASE:
        raise TTPError("restore into the data directory's own SQLite database: unset TTP_DATABASE_URL")
    if target.exists() and any(target.iterdir()):
        raise TTPError(f"{target} is not empty: restore into a new or empty data directory")
    passphrase = read_passphrase()
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead(target.parent, f".{target.name}.restore-")
    work = target.with_name(f".{target.name}.restore-{os.getpid()}")
    make_data_dir(work)
    restored: App | None = None
    try:
        manifest = _unpack(source, passphrase, work)
        restored = App(settings=resolve(work, f"sqlite:///{work / DATABASE}"), actor_name=app.actor_name)
        try:
            restored._keystore = Keystore.open(work / KEYSTORE, passphrase)
        except KeystoreError:
            raise UsageError("the backup's keystore does not open with this passphrase") from None
        with restored.acting("restore") as act:
            act.counts.update(manifest["counts"])
        restored.engine.dispose()
        if target.exists():
            target.rmdir()
        os.replace(work, target)
    except BaseException:
        if restored is not None and restored._engine is not None:
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
                                                   or _MEMBER.fullmatch(name)):
                        raise TTPError(f"{source}: not a ttp backup (unexpected member {name!r})")
                    extracted = tar.extractfile(member)
                    assert extracted is not None  # a regular file
                    if name == MANIFEST:
                        manifest = json.loads(extracted.read())
                        if manifest.get("format") != FORMAT:
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
    missing = [n for n in (DATABASE, KEYSTORE) if not (work / n).exists()]
    if manifest is None or missing:
        raise TTPError(f"{source}: not a complete ttp backup (missing {', '.join(missing) or MANIFEST})")
    return manifest
