"""Small inline-SVG charts drawn from numbers (no scripts, no external resources)."""

from __future__ import annotations

from html import escape

POS, NEG, INK, GRID, ACCENT = "#2e7d32", "#c62828", "#263238", "#cfd8dc", "#1565c0"


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'font-family="system-ui, sans-serif" font-size="11">{"".join(body)}</svg>')


def _text(x: float, y: float, s: str, anchor: str = "start", color: str = INK, weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{color}" '
            f'font-weight="{weight}">{escape(s)}</text>')


def diverging_bars(rows: list[tuple[str, float]], label: str, unit: str = "", half: int = 180) -> str:
    """Horizontal bars left (negative, red) or right (positive, green) of zero, one row per item.

    The label column is as wide as the longest label (~6.5 px a character at 11 px) and each side keeps a
    margin for the value, so neither a long level name nor the value of a full-length bar is overdrawn.
    """
    row_h, margin = 18, 44
    left = max(120, int(max([len(name) for name, _ in rows] + [0]) * 6.5) + 12)
    width = left + 2 * margin + 2 * half
    height = row_h * len(rows) + 24
    span = max([abs(v) for _, v in rows] + [1e-9])
    zero = left + margin + half
    body = [f'<line x1="{zero:.1f}" y1="4" x2="{zero:.1f}" y2="{height - 16}" stroke="{GRID}"/>']
    for i, (name, v) in enumerate(rows):
        y = 6 + i * row_h
        w = abs(v) / span * half
        x = zero if v >= 0 else zero - w
        body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{row_h - 5}" '
                    f'fill="{POS if v >= 0 else NEG}"><title>{escape(name)}: {v:.2f}{unit}</title></rect>')
        body.append(_text(left - 6, y + 10, name, "end"))
        tx = zero + w + 4 if v >= 0 else zero - w - 4
        body.append(_text(tx, y + 10, f"{v:+.1f}", "start" if v >= 0 else "end"))
    return _svg(width, height, body, label)


def histogram(edges: list[float], counts: list[int], label: str, marks: dict[str, float] | None = None,
              width: int = 640, height: int = 220, log: bool = True) -> str:
    """Vertical bars over bins, optional vertical marker lines (e.g. thresholds) and a log count scale."""
    import math

    pad_l, pad_b, pad_t = 40, 28, 10
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    if not counts:
        return _svg(width, height, [_text(10, 20, "no pairs")], label)
    lo, hi = edges[0], edges[-1]

    def sx(v: float) -> float:
        return pad_l + (v - lo) / ((hi - lo) or 1) * plot_w

    def sy(c: float) -> float:
        top = math.log10(max(counts) + 1) if log else max(counts)
        val = math.log10(c + 1) if log else c
        return pad_t + plot_h - (val / (top or 1)) * plot_h

    body = [f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{pad_l + plot_w}" y2="{pad_t + plot_h}" '
            f'stroke="{INK}"/>']
    for i, c in enumerate(counts):
        x0, x1 = sx(edges[i]), sx(edges[i + 1])
        color = POS if edges[i] >= 0 else NEG
        body.append(f'<rect x="{x0:.1f}" y="{sy(c):.1f}" width="{max(x1 - x0 - 1, 0.5):.1f}" '
                    f'height="{pad_t + plot_h - sy(c):.1f}" fill="{color}" opacity="0.8">'
                    f'<title>{edges[i]:g} to {edges[i + 1]:g}: {c} pairs</title></rect>')
    step = max(1, int((hi - lo) / 10))
    v = math.ceil(lo / step) * step
    while v <= hi:
        body.append(_text(sx(v), height - 10, f"{v:g}", "middle"))
        v += step
    for name, value in (marks or {}).items():
        if lo <= value <= hi:
            body.append(f'<line x1="{sx(value):.1f}" y1="{pad_t}" x2="{sx(value):.1f}" y2="{pad_t + plot_h}" '
                        f'stroke="{ACCENT}" stroke-dasharray="4 3"/>')
            body.append(_text(sx(value) + 3, pad_t + 10, name, color=ACCENT))
    body.append(_text(4, pad_t + 8, "pairs (log)" if log else "pairs"))
    return _svg(width, height, body, label)


def waterfall(steps: list[tuple[str, float]], label: str, width: int = 640) -> str:
    """Cumulative weight: each step a bar from the running total to the new total; the end marked."""
    row_h, left = 18, 230
    height = row_h * (len(steps) + 1) + 14
    totals, run = [], 0.0
    for _, v in steps:
        totals.append((run, run + v))
        run += v
    lo = min([0.0] + [min(a, b) for a, b in totals])
    hi = max([0.0] + [max(a, b) for a, b in totals])
    plot_w = width - left - 50

    def sx(v: float) -> float:
        return left + (v - lo) / ((hi - lo) or 1) * plot_w

    body = [f'<line x1="{sx(0):.1f}" y1="2" x2="{sx(0):.1f}" y2="{height - 4}" stroke="{GRID}"/>']
    for i, ((name, v), (a, b)) in enumerate(zip(steps, totals, strict=True)):
        y = 4 + i * row_h
        x0, x1 = sorted((sx(a), sx(b)))
        body.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 0.5):.1f}" height="{row_h - 5}" '
                    f'fill="{POS if v >= 0 else NEG}"/>')
        body.append(_text(left - 6, y + 10, name, "end"))
        body.append(_text(x1 + 4, y + 10, f"{v:+.1f}"))
    y = 4 + len(steps) * row_h
    body.append(f'<rect x="{min(sx(0), sx(run)):.1f}" y="{y}" width="{abs(sx(run) - sx(0)):.1f}" '
                f'height="{row_h - 5}" fill="{ACCENT}"/>')
    body.append(_text(left - 6, y + 10, "match weight", "end", weight="bold"))
    body.append(_text(max(sx(run), sx(0)) + 4, y + 10, f"{run:+.1f}", weight="bold"))
    return _svg(width, height, body, label)


def heatmap(names: list[str], values: dict[tuple[str, str], int], label: str) -> str:
    """Square matrix of counts between named groups, shaded by size."""
    cell, left, top = 64, 60, 24
    n = len(names)
    width, height = left + cell * n + 10, top + cell * n + 10
    peak = max(list(values.values()) + [1])
    body = []
    for j, name in enumerate(names):
        body.append(_text(left + j * cell + cell / 2, top - 8, name, "middle", weight="bold"))
    for i, a in enumerate(names):
        body.append(_text(left - 6, top + i * cell + cell / 2 + 4, a, "end", weight="bold"))
        for j, b in enumerate(names):
            v = values.get((a, b), values.get((b, a), 0))
            shade = 0.08 + 0.82 * (v / peak) ** 0.5 if v else 0.0
            body.append(f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell - 2}" height="{cell - 2}" '
                        f'fill="{ACCENT}" fill-opacity="{shade:.2f}" stroke="{GRID}"/>')
            color = "#ffffff" if shade > 0.5 else INK
            body.append(_text(left + j * cell + cell / 2, top + i * cell + cell / 2 + 4, f"{v:,}", "middle",
                              color=color))
    return _svg(width, height, body, label)


def bars(rows: list[tuple[str, float]], label: str, width: int = 560, log: bool = False) -> str:
    """Plain horizontal bars with their value."""
    import math

    row_h, left = 18, 230
    height = row_h * len(rows) + 8
    f = (lambda v: math.log10(v + 1)) if log else (lambda v: v)
    peak = max([f(v) for _, v in rows] + [1e-9])
    body = []
    for i, (name, v) in enumerate(rows):
        y = 4 + i * row_h
        w = f(v) / peak * (width - left - 70)
        body.append(f'<rect x="{left}" y="{y}" width="{max(w, 0.5):.1f}" height="{row_h - 5}" fill="{ACCENT}"/>')
        body.append(_text(left - 6, y + 10, name, "end"))
        body.append(_text(left + w + 4, y + 10, f"{v:,.0f}"))
    return _svg(width, height, body, label)
