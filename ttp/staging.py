"""Folders of batches, jobs and releases: written aside, moved into place only once their row is committed.

A command writes `<parent>/.tmp-<pid>-<id>/` and asks for it to be moved to `<parent>/<id>/` when its
transaction commits (removed when it rolls back). A process killed on the way leaves at most a temporary
folder of a dead process; the next command of its kind rolls that forward when the row was committed, and
removes it when it was not. A folder of an id without a row (left by versions that moved before the commit)
is removed too. So the data directory never keeps a folder that no row names, nor a row without its folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from .app import Acting

PREFIX = ".tmp-"


def staging_folder(parent: Path, object_id: str) -> Path:
    """A new, empty temporary folder for an object, named after this process."""
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f"{PREFIX}{os.getpid()}-{object_id}"
    tmp.mkdir()
    return tmp


def move_on_commit(session: Session, tmp: Path, final: Path) -> None:
    """Move `tmp` to `final` once the session's transaction commits; remove it if the transaction rolls back.
    A failed move is left to `clean`, which rolls it forward (the row is committed by then)."""

    def committed(_session: Session) -> None:
        try:
            os.replace(tmp, final)
            _fsync_dir(final.parent)
        except OSError:
            pass

    def rolled_back(_session: Session) -> None:
        shutil.rmtree(tmp, ignore_errors=True)

    event.listen(session, "after_commit", committed, once=True)
    event.listen(session, "after_rollback", rolled_back, once=True)


@dataclass
class Cleaned:
    """What `clean` did in one parent folder."""

    rolled_forward: int = 0
    removed_temporary: int = 0
    removed_without_row: int = 0


def clean(parent: Path, known_ids: Callable[[], Iterable[str]]) -> Cleaned:
    """Roll forward or remove what killed commands left in `parent`. `known_ids` reads the committed ids after
    the folder is listed (a folder is moved into place only after its commit, so its row is in that read)."""
    done = Cleaned()
    if not parent.exists():
        return done
    entries = list(parent.iterdir())
    known = set(known_ids())
    for folder in entries:
        if not folder.is_dir():
            continue
        if folder.name.startswith(PREFIX):
            pid, _, object_id = folder.name[len(PREFIX):].partition("-")
            if not pid.isdigit() or alive(int(pid)):
                continue
            final = parent / object_id
            if object_id in known and not final.exists():
                os.replace(folder, final)
                done.rolled_forward += 1
            else:
                shutil.rmtree(folder, ignore_errors=True)
                done.removed_temporary += 1
        elif not folder.name.startswith(".") and folder.name not in known:
            shutil.rmtree(folder, ignore_errors=True)
            done.removed_without_row += 1
    return done


def left_behind(act: Acting, parent: Path, *id_columns) -> dict[str, int]:
    """Clean what killed commands left in `parent` (see `ttp.staging`), a folder per row of the `id_columns`'
    tables; the counts, for the audit event, of what was rolled forward or removed (none when nothing was)."""
    # The acting transaction sees every commit made before the folder was listed: on SQLite it holds the write
    # lock since its BEGIN IMMEDIATE, on PostgreSQL (READ COMMITTED) each statement reads the newest commits.
    def known_ids() -> list[str]:
        return [i for column in id_columns for i in act.session.scalars(select(column))]

    done = clean(parent, known_ids)
    counts = {"left_behind_rolled_forward": done.rolled_forward,
              "left_behind_removed": done.removed_temporary + done.removed_without_row}
    return {k: v for k, v in counts.items() if v}


def alive(pid: int) -> bool:
    """Whether a process of this id exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
