"""Progress lines for long work: shown on a terminal, silent in pipes and CI."""

from __future__ import annotations

import os
import sys
import time


class Progress:
    """A callable `(stage, done, total)` that redraws one stderr line at most ten times a second."""

    def __init__(self, enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty() and not os.environ.get("CI")
        self.enabled = enabled
        self._last = 0.0
        self._shown = False

    def __call__(self, stage: str, done: int = 0, total: int | None = None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and (total is None or done < total):
            return
        self._last = now
        figure = f"{done:,}/{total:,}" if total else (f"{done:,}" if done else "")
        sys.stderr.write(f"\r\033[K{stage} {figure}".rstrip())
        sys.stderr.flush()
        self._shown = True

    def done(self, line: str | None = None) -> None:
        """Clear the progress line, and print a closing line if one is given."""
        if self.enabled and self._shown:
            sys.stderr.write("\r\033[K")
            self._shown = False
        if self.enabled and line:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
