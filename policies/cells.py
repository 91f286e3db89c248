"""The rows of a protected table as text, shared by the CSV, XLSX and factsheet renderers."""

from __future__ import annotations

from policies.disclosure import ProtectedTable
from policies.published import SUPPRESSED

TOTAL_LABEL = "Total"
FOOTNOTE_SUPPRESSED = "x = not shown: statistical disclosure control (small groups, and figures that would reveal them)"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Defuse spreadsheet formula injection: text starting with = + - @ tab or CR gets a leading quote."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def header(protected: ProtectedTable) -> list[str]:
    table = protected.table
    names = (["group"] if table.request.groups else []) + list(table.dimensions)
    names += [m.label or name for name, m in table.measures.items()]
    return [neutralise(n) for n in names]


def rows(protected: ProtectedTable) -> list[list[str | int | float]]:
    """One row per cell (margins included): labels, then each measure's published value.

    Labels are neutralised text; values are numbers, "x" (suppressed), "" (not applicable) or a clamped
    percentage such as "<5"."""
    table = protected.table
    out: list[list[str | int | float]] = []
    for index in table.indices():
        group, key = table.key(index)
        row: list[str | int | float] = [neutralise(group)] if table.request.groups else []
        row += [TOTAL_LABEL if c is None else neutralise(c) for c in key]
        for name in table.measures:
            value = protected.published[name][index]
            row.append("" if value is None else value if not isinstance(value, str) else neutralise(value))
        out.append(row)
    return out


def footnotes(protected: ProtectedTable) -> list[str]:
    notes = []
    if any((values == SUPPRESSED).any() for values in protected.published.values()):
        notes.append(FOOTNOTE_SUPPRESSED)
    lo, hi = protected.rules.get("percent_range", [None, None])
    if any(isinstance(v, str) and v != SUPPRESSED for arr in protected.published.values() for v in arr.flat):
        notes.append(f"<{lo:g} / >{hi:g} = percentage below {lo:g}% or above {hi:g}%, not shown exactly")
    base = protected.rules.get("rounding_base")
    if base:
        notes.append(f"counts are rounded to a multiple of {base}")
    return notes


def text(value: str | int | float) -> str:
    """A value as it appears in CSV and factsheet."""
    if isinstance(value, float):
        return repr(value) if value != int(value) else f"{value:.1f}"
    return str(value)
