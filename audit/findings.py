"""Collecting verification problems and the first event they implicate."""

MAX_PROBLEMS = 50


class Findings:
    """Problems in the order found (capped) and the events they implicate.

    The chain names an event exactly; a checkpoint mismatch only bounds it to a range, so a range counts
    (by its first event) only when no exact finding falls inside it.
    """

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.hidden = 0
        self.exact: list[int] = []
        self.ranges: list[tuple[int, int]] = []

    def add(self, message: str, seq: int | None = None, upto: int | None = None) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)
        else:
            self.hidden += 1
        if seq is not None and upto is None:
            self.exact.append(seq)
        elif seq is not None and upto is not None:
            self.ranges.append((seq, upto))

    @property
    def ok(self) -> bool:
        return not self.problems and not self.hidden

    @property
    def first_bad(self) -> int | None:
        lows = list(self.exact)
        lows += [lo for lo, hi in self.ranges if not any(lo <= seq <= hi for seq in self.exact)]
        return min(lows, default=None)

    def listed(self) -> list[str]:
        more = [f"... and {self.hidden} more problems"] if self.hidden else []
        return self.problems + more
