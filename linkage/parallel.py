"""Run independent steps of a link job on a few threads (numpy releases the GIL in its heavy loops)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_threads() -> int:
    """The cores this process may use, at most four (the steps are memory-bound beyond that)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def map_ordered(step: Callable[[T], R], items: Iterable[T], threads: int) -> list[R]:
    """`[step(x) for x in items]`, computed on up to `threads` threads; results keep the items' order."""
    items = list(items)
    if threads <= 1 or len(items) <= 1:
        return [step(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="link") as pool:
        return list(pool.map(step, items))
