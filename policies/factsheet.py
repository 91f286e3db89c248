"""A PDF factsheet of one release a school leader can read: a chart of its first share (or first measure)
over the first dimension, then the table, drawn with matplotlib."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from policies.cells import footnotes, header, rows, text
from policies.charts import ACCENT, INK, LIGHT, MUTED, page, pdf_bytes
from policies.disclosure import ProtectedTable
from policies.external import ExternalTable
from policies.published import SUPPRESSED, is_number

ROWS_PER_PAGE = 52
MAX_BARS = 30


def _measure(protected: ProtectedTable) -> str:
    """The measure to chart: the first share (what a reader compares), else the first measure."""
    measures = protected.table.measures
    return next((n for n, m in measures.items() if m.kind == "share"), next(iter(measures)))


def _bars(protected: ProtectedTable, name: str) -> list[tuple[str, Any]]:
    """The measure per slice and category of the first dimension, at the margins of the others."""
    table = protected.table
    values = protected.published[name]
    bars = []
    for index in table.indices():
        if any(i != table.shape[2 + j] - 1 for j, i in enumerate(index[2:])):
            continue
        group, key = table.key(index)
        label = " · ".join(p for p in ([group] if group else []) + (["Total" if key[0] is None else str(key[0])]
                                                                   if key else []))
        bars.append((label or "Total", values[index]))
    return bars[:MAX_BARS]


def _chart(fig: Figure, title: str, bars: list[tuple[str, Any]]) -> float:
    """Draw the bars below the title; the height of the page left under the chart."""
    height = min(0.5, 0.04 + 0.018 * len(bars))
    ax = fig.add_axes((0.32, 0.86 - height, 0.58, height))
    names = [name for name, _ in bars][::-1]
    numbers = [float(v) if is_number(v) else 0.0 for _, v in bars][::-1]
    ax.barh(range(len(bars)), numbers, color=ACCENT, height=0.7)
    ax.set_yticks(range(len(bars)), [n[:40] for n in names], fontsize=8)
    ax.set_title(title, loc="left", fontsize=11, color=INK, fontweight="bold")
    top = max(numbers, default=0.0) or 1.0
    for y, (_, value) in enumerate(bars[::-1]):
        shown = text(value) if is_number(value) else ("x (not shown)" if value == SUPPRESSED else str(value or ""))
        ax.text((float(value) if is_number(value) else 0.0) + top * 0.01, y, shown, va="center", fontsize=7,
                color=INK if is_number(value) else MUTED)
    ax.set_xlim(0, top * 1.15)
    return 0.86 - height - 0.06


def _table_page(fig: Figure, names: list[str], lines: list[list[str]], top: float) -> None:
    width = 0.88 / max(len(names), 1)
    chars = max(int(width * 8.27 * 72 / 4.6), 6)
    y = top
    for i, line in enumerate([names] + lines):
        for j, value in enumerate(line):
            fig.text(0.06 + j * width, y, str(value)[:chars], fontsize=7, color=INK,
                     fontweight="bold" if i == 0 else "normal")
        if i == 0:
            fig.add_artist(_rule(fig, y - 0.004))
        y -= 0.016


def _rule(fig: Figure, y: float) -> Line2D:
    return Line2D([0.06, 0.94], [y, y], transform=fig.transFigure, color=LIGHT, linewidth=0.8)


def render_factsheet(protected: ProtectedTable, metadata: dict[str, Any]) -> bytes:
    """PDF bytes: title and purpose, a bar chart, the table (as many pages as it needs), footnotes."""
    table = protected.table
    title = str(metadata.get("title") or table.request.purpose)
    first = page()
    first.text(0.06, 0.96, title[:90], fontsize=14, fontweight="bold", color=INK)
    sub = f"Purpose: {table.request.purpose}"
    if metadata.get("release_id"):
        sub += f"   ·   release {metadata['release_id']}"
    first.text(0.06, 0.94, sub[:140], fontsize=8, color=MUTED)
    name = _measure(protected)
    below = _chart(first, table.measures[name].label or name, _bars(protected, name))
    body = [[text(v) for v in row] for row in rows(protected)]
    names = header(protected)
    pages = [first]
    first_rows = max(int((below - 0.08) / 0.016), 0)
    _table_page(first, names, body[:first_rows], below)
    rest = body[first_rows:]
    for start in range(0, len(rest), ROWS_PER_PAGE):
        fig = page()
        _table_page(fig, names, rest[start:start + ROWS_PER_PAGE], 0.95)
        pages.append(fig)
    notes = footnotes(protected)
    for k, note in enumerate(notes):
        pages[-1].text(0.06, 0.05 - 0.014 * k, note, fontsize=7, color=MUTED)
    return pdf_bytes(pages, title=title)


def render_external_factsheet(table: ExternalTable, metadata: dict[str, Any]) -> bytes:
    """PDF bytes of a table that came back from a recipient (CBS): its title, where it came from, a chart of
    its first share (`n_<name>` of `n`, in percent, `<5` and `>95` at the edges) per row, and the table."""
    title = str(metadata.get("title") or metadata.get("release_id") or "external table")
    first = page()
    first.text(0.06, 0.96, title[:90], fontsize=14, fontweight="bold", color=INK)
    sub = (f"Computed by {metadata.get('recipient', 'the recipient')} in its own environment, passed its output "
           f"check and ttp's threshold ({metadata.get('threshold', '')})   ·   "
           f"external {metadata.get('release_id', '')}")
    first.text(0.06, 0.94, sub[:150], fontsize=8, color=MUTED)
    names = [*table.labels, *table.counts]
    body = [[*labels, *map(str, values)] for _, labels, values in table.rows]
    below = 0.9
    if len(table.counts) > 1:
        share = table.counts[1]
        bars = [(" · ".join(labels), _share(values[1], values[0])) for _, labels, values in table.rows]
        below = _chart(first, f"% {share.removeprefix('n_').replace('_', ' ')} (of n)", bars[:MAX_BARS])
    pages = [first]
    first_rows = max(int((below - 0.08) / 0.016), 0)
    _table_page(first, names, body[:first_rows], below)
    rest = body[first_rows:]
    for start in range(0, len(rest), ROWS_PER_PAGE):
        fig = page()
        _table_page(fig, names, rest[start:start + ROWS_PER_PAGE], 0.95)
        pages.append(fig)
    return pdf_bytes(pages, title=title)


def _share(part: int, whole: int) -> str:
    if whole <= 0:
        return SUPPRESSED
    value = 100.0 * part / whole
    return "<5" if value < 5 else ">95" if value > 95 else f"{value:.1f}"
