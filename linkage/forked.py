"""One step run on a second core in a forked child that hands back a single bytes buffer.

The child is a copy of this process (fork), so its inputs are not pickled or copied; it returns one flat
buffer (digests, int64 columns) through a pipe, never Python objects. Where fork is unavailable or unsafe
(not Linux/Unix, one core, other threads running, inside a daemonic worker) or the child fails, the step
runs here instead: the result is the same bytes either way.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def idle_core() -> bool:
    """Whether a core is likely idle: the 1-minute load average (this process included) is under the cores
    less a half. On a machine whose cores are all busy a child only adds its forking cost."""
    try:
        return os.getloadavg()[0] < cores() - 0.5
    except OSError:  # no load average here
        return True


def can_fork() -> bool:
    """Whether a forked child is available and safe here: fork exists and no other thread is running."""
    return "fork" in mp.get_all_start_methods() and threading.active_count() == 1


def _child(step: Callable[[], bytes], send: Connection) -> None:
    gc.disable()  # a short life: no collection touching (and so copying) the parent's objects
    try:
        data = step()
    except Exception:  # the parent computes the step again and raises the error itself
        send.close()
        return
    send.send_bytes(data)
    send.close()


class Forked:
    """`step()` started in a forked child; `result()` waits for its bytes (or computes them here)."""

    def __init__(self, step: Callable[[], bytes], fork: bool = True) -> None:
        self._step = step
        self._process: Any = None
        self._conn: Connection | None = None
        self._frozen = False
        if not fork:
            return
        context = mp.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(step, send), daemon=True, name="ttp-forked-step")
        # objects that exist now are left out of collections until the child is done, so the parent's
        # collector does not write to (and copy) the pages it shares with the child
        self._frozen = gc.get_freeze_count() == 0
        if self._frozen:
            gc.freeze()
        try:
            process.start()
        except (AssertionError, OSError):  # a daemonic process may not have children; fork refused
            self._thaw()
            receive.close()
            send.close()
            return
        send.close()
        self._process, self._conn = process, receive

    def _thaw(self) -> None:
        if self._frozen:
            gc.unfreeze()
            self._frozen = False

    @property
    def forked(self) -> bool:
        """True from the start of a child until `result()` or `cancel()`."""
        return self._conn is not None

    def cancel(self) -> None:
        """Stop the child (when the parent's own part failed) so it does not wait on the pipe forever."""
        if self._conn is None:
            return
        self._process.terminate()
        self._process.join()
        self._conn.close()
        self._conn = None
        self._thaw()

    def result(self) -> bytes:
        """The step's bytes: the child's, or computed here when there is no child or it failed."""
        if self._conn is None:
            return self._step()
        data: bytes | None
        try:
            data = self._conn.recv_bytes()
        except (EOFError, OSError):
            data = None
        finally:
            self._conn.close()
            self._conn = None
            self._process.join()
            self._thaw()
        if data is None or self._process.exitcode != 0:
            return self._step()
        return data
