"""A one-page-per-screen PDF factsheet a school leader can read: a bar chart and the table."""

from __future__ import annotations

from typing import Any

from policies.cells import footnotes, header, rows, text
from policies.disclosure import ProtectedTable
from policies.pdf import Page, write_pdf
from policies.published import SUPPRESSED

ROWS_PER_PAGE = 48


def _bars(protected: ProtectedTable) -> tuple[str, list[tuple[str, Any]]]:
    """The first measure over the slices and the first dimension (margins of the other dimensions)."""
    table = protected.table
    name = next(iter(table.measures))
    label = table.measures[name].label or name
    values = protected.published[name]
    bars = []
    for index in table.indices():
        rest = index[2:]
        if any(i != table.shape[2 + j] - 1 for j, i in enumerate(rest)):
            continue
        bars.append((table.label(index), values[index]))
    return label, bars[:30]


def _chart(page: Page, top: float, label: str, bars: list[tuple[str, Any]]) -> float:
    page.text(40, top, label, size=12, bold=True)
    numbers = [float(v) for _, v in bars if isinstance(v, int | float)]
    scale = max(numbers) if numbers and max(numbers) > 0 else 1.0
    y = top - 20
    for name, value in bars:
        page.text(40, y, name[:45], size=8)
        if isinstance(value, int | float):
            width = 260 * float(value) / scale
            page.rect(250, y - 1, max(width, 0.5), 8, gray=0.45)
            page.text(255 + width, y, text(value), size=8)
        else:
            shown = "x (suppressed)" if value == SUPPRESSED else ("" if value is None else str(value))
            page.text(255, y, shown, size=8)
        y -= 12
    return y - 10


def render_factsheet(protected: ProtectedTable, metadata: dict[str, Any]) -> bytes:
    """PDF bytes: title and purpose, a bar chart of the first measure, the table, footnotes."""
    table = protected.table
    title = str(metadata.get("title") or f"Factsheet: {', '.join(table.measures)}")
    first = Page()
    first.text(40, 800, title, size=16, bold=True)
    first.text(40, 782, f"Purpose: {table.request.purpose}"[:110], size=9)
    if metadata.get("release_id"):
        first.text(40, 770, f"Release {metadata['release_id']}", size=9)
    y = _chart(first, 745, *_bars(protected))
    pages, page = [first], first
    names = header(protected)
    width = (Page.width - 80) / max(len(names), 1)
    body = [[text(v) for v in row] for row in rows(protected)]
    notes = footnotes(protected)
    lines = [names] + body

    for i, line in enumerate(lines):
        if y < 60:
            page = Page()
            pages.append(page)
            y = 800
        for j, value in enumerate(line):
            page.text(40 + j * width, y, str(value)[: int(width / 4.5)], size=8, bold=i == 0)
        if i == 0:
            page.line(40, y - 3, Page.width - 40, y - 3)
        y -= 12
    for note in notes:
        if y < 40:
            page = Page()
            pages.append(page)
            y = 800
        page.text(40, y - 6, note, size=8)
        y -= 12
    return write_pdf(pages, title=title)
