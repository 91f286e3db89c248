"""A school's feedback report built from released tables only: its indicators beside its board, its
municipality and the province, a trend over the cohorts and a background-adjusted reference.

Every figure in a report is a released cell (`Figure.source` names the release, the cell and the measure)
or is computed from released cells (`Figure.inputs`: the reference's uncertainty band); a suppressed cell
is never shown, only said in words.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from policies.cells import TOTAL_LABEL
from policies.external import ExternalTable
from policies.published import SUPPRESSED

LEVELS = ("school", "board", "municipality", "province")
MIN_TREND_YEARS = 3
Z95 = 1.96


@dataclass(frozen=True)
class Released:
    """One released table as its files show it: the shown text of every cell and measure."""

    release_id: str
    request_name: str  # what the request file was called (the report names its sources)
    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    pooled: bool
    cells: dict[tuple[str, ...], dict[str, str]]
    external: str | None = None  # the title of a table that came back from a recipient (CBS), else None

    def shown(self, key: tuple[str, ...], measure: str) -> str | None:
        """The text of a cell as released ("x": suppressed), None when the table has no such cell."""
        row = self.cells.get(key)
        return None if row is None or measure not in row else row[measure]

    def categories(self, dimension: str) -> list[str]:
        """The categories of one dimension in the table's order, the margin left out."""
        axis = self.dimensions.index(dimension)
        return list(dict.fromkeys(k[axis] for k in self.cells if k[axis] != TOTAL_LABEL))


def read_released(release_id: str, request_name: str, metadata: dict, table_csv: str) -> Released:
    """A release's table.csv and metadata.json (its request) as a Released; ValueError when they disagree."""
    request = metadata["request"]
    dims, measures = tuple(request["dimensions"]), tuple(request["measures"])
    if request.get("groups"):
        raise ValueError(f"release {release_id}: a table of comparison groups is no feedback table")
    rows = list(csv.reader(io.StringIO(table_csv.split("\n\n")[0])))
    if not rows or len(rows[0]) != len(dims) + len(measures):
        raise ValueError(f"release {release_id}: its table does not have the columns its request names")
    cells = {tuple(r[:len(dims)]): dict(zip(measures, r[len(dims):], strict=True)) for r in rows[1:] if r}
    return Released(release_id, request_name, dims, measures, bool(request.get("pool")), cells)


@dataclass(frozen=True)
class SchoolInfo:
    """What the school register says of a school (BRIN + vestiging)."""

    code: str
    name: str | None = None
    place: str | None = None
    board: str | None = None
    municipality: str | None = None  # the CBS code, as the tables group by it
    municipality_name: str | None = None
    province: str | None = None


@dataclass(frozen=True)
class Figure:
    """One number of a report: a released cell, or one computed from released cells (`inputs`)."""

    value: float | None  # None: not shown (suppressed, or not in the release)
    source: tuple[str, tuple[str, ...], str] | None = None  # (release id, cell, measure)
    inputs: tuple[Figure, ...] = ()
    suppressed: bool = False  # the release hid it
    clamped: str | None = None  # a share shown only as "<5" or ">95"

    @property
    def shown(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class Point:
    """A share with its denominator, at one level (school, board, ...) and one cohort (or all of them)."""

    share: Figure
    pupils: Figure


@dataclass(frozen=True)
class Reference:
    """The school's share against what its pupils' background leads one to expect, with a 95% band."""

    observed: Point
    expected: Figure
    low: Figure
    high: Figure

    @property
    def verdict(self) -> str | None:
        """below, within or above the band; None when a figure is not shown."""
        o, lo, hi = self.observed.share.value, self.low.value, self.high.value
        if o is None or lo is None or hi is None:
            return None
        return "below" if o < lo else "above" if o > hi else "within"


@dataclass(frozen=True)
class Indicator:
    """An indicator of the report: a share measure of the feedback round's tables, and its reference."""

    measure: str
    title: dict[str, str]
    about: dict[str, str]
    reference: str | None = None  # the mean measure holding the expected share (expected_share)


FEEDBACK_INDICATORS = (
    Indicator("havo_vwo", {"nl": "Havo/vwo in leerjaar 3", "en": "Havo/vwo in year 3 of secondary school"},
              {"nl": "Deel van de oud-leerlingen dat in leerjaar 3 van het voortgezet onderwijs havo of vwo volgt "
                     "(van wie het niveau in leerjaar 3 en het advies bekend zijn).",
               "en": "Share of former pupils in havo or vwo in year 3 of secondary school (of those whose level "
                     "in year 3 and advice are known)."},
              reference="havo_vwo_expected"),
    Indicator("below_advice", {"nl": "Onder het advies in leerjaar 3", "en": "Below the advice in year 3"},
              {"nl": "Deel van de oud-leerlingen dat in leerjaar 3 op een lager niveau zit dan het "
                     "schooladvies (een dubbel advies telt als het laagste niveau).",
               "en": "Share of former pupils below their primary-school advice in year 3 (a double advice "
                     "counts as its lower level)."}),
)


EXTERNAL_PREFIX = "cbs."  # an imported table's measures: never mistaken for a measure of ttp's own releases
EXTERNAL_LABELS = ("school", "school_year")
SHARE_LOW, SHARE_HIGH = 5.0, 95.0  # NCO: shares only between 5% and 95%, as ttp's policies print them


def external_released(release_id: str, title: str, table: ExternalTable) -> Released | None:
    """An imported table (docs/nco.md's layout) as a feedback table, when its labels are a school and a
    cohort: `n` is the pupils, each `n_<name>` becomes the share `cbs.<name>` of them, printed as ttp prints
    a share (one decimal, `<5` and `>95` at the edges). The import checked both sides of every share against
    the threshold. Any other table: None (it is not about schools)."""
    if tuple(label.lower() for label in table.labels) != EXTERNAL_LABELS or table.counts[0] != "n":
        return None
    names = [EXTERNAL_PREFIX + c.removeprefix("n_") for c in table.counts[1:]]
    cells: dict[tuple[str, ...], dict[str, str]] = {}
    for _, labels, values in table.rows:
        n = values[0]
        row = {"pupils": str(n)}
        for name, value in zip(names, values[1:], strict=True):
            row[name] = _share_text(100.0 * value / n) if n else SUPPRESSED
        cells[labels] = row
    return Released(release_id, title, EXTERNAL_LABELS, ("pupils", *names), False, cells, external=title)


def _share_text(share: float) -> str:
    if share < SHARE_LOW:
        return f"<{SHARE_LOW:g}"
    if share > SHARE_HIGH:
        return f">{SHARE_HIGH:g}"
    return f"{share:.1f}"


def external_indicators(tables: Iterable[Released]) -> list[Indicator]:
    """An indicator per share of the imported tables, titled after the import and saying where it comes from."""
    out: dict[str, Indicator] = {}
    for table in tables:
        if table.external is None:
            continue
        for measure in table.measures[1:]:
            what = measure.removeprefix(EXTERNAL_PREFIX).replace("_", " ")
            out[measure] = Indicator(
                measure, {"nl": f"{table.external}: {what} (CBS)", "en": f"{table.external}: {what} (CBS)"},
                {"nl": "Berekend door CBS in zijn beveiligde omgeving uit de gegevens die de monitor aanleverde, "
                       "door de outputcontrole van CBS gekomen en door ttp opnieuw getoetst.",
                 "en": "Computed by CBS in its secure environment from the data the monitor delivered, passed "
                       "by CBS's output check and checked again by ttp."})
    return list(out.values())


@dataclass
class Section:
    """One indicator of one school: the levels over all cohorts, the trend, the reference."""

    indicator: Indicator
    levels: dict[str, Point]  # school, board, municipality, province: all cohorts together
    trend: dict[str, list[tuple[str, Point]]]  # level -> (cohort or block of cohorts, point)
    pooled_trend: bool  # the school's trend is over blocks of pooled cohorts (too few per year)
    reference: Reference | None


@dataclass
class Report:
    """A school's feedback: who it is, a section per indicator, the releases it was made from."""

    school: SchoolInfo
    sections: list[Section]
    sources: list[Released] = field(default_factory=list)

    def figures(self) -> list[Figure]:
        """Every figure the report may show (shown or not)."""
        out: list[Figure] = []
        for s in self.sections:
            points = list(s.levels.values()) + [p for series in s.trend.values() for _, p in series]
            out += [f for p in points for f in (p.share, p.pupils)]
            if s.reference is not None:
                r = s.reference
                out += [r.observed.share, r.observed.pupils, r.expected, r.low, r.high]
        return out


def _figure(table: Released | None, key: tuple[str, ...], measure: str) -> Figure:
    if table is None:
        return Figure(None)
    text = table.shown(key, measure)
    if text is None or text == "":
        return Figure(None)
    source = (table.release_id, key, measure)
    if text == SUPPRESSED:
        return Figure(None, source, suppressed=True)
    if text[:1] in "<>":
        return Figure(None, source, clamped=text)
    return Figure(float(text), source)


def _point(table: Released | None, key: tuple[str, ...], measure: str) -> Point:
    return Point(_figure(table, key, measure), _figure(table, key, "pupils"))


def _latest(tables: Sequence[Released], dimension: str, measure: str, pooled: bool) -> Released | None:
    """The newest release (last in the list) grouping by `dimension` and the cohort that holds `measure`."""
    for table in reversed(tables):
        if table.dimensions == (dimension, "school_year") and measure in table.measures \
                and table.pooled == pooled:
            return table
    return None


def _series(table: Released | None, code: str, measure: str) -> list[tuple[str, Point]]:
    if table is None:
        return []
    return [(year, _point(table, (code, year), measure)) for year in table.categories("school_year")]


def band(expected: Figure, pupils: Figure) -> tuple[Figure, Figure]:
    """The 95% band a school of this size lands in by chance when its pupils do as those of their
    background do: expected ± 1.96·√(p(1−p)/n), in percentage points, cut to 0..100 (a binomial bound over
    the school's n pupils with the school's expected share; wider than the exact band of mixed rates)."""
    if expected.value is None or pupils.value is None or pupils.value <= 0:
        return Figure(None, inputs=(expected, pupils)), Figure(None, inputs=(expected, pupils))
    p = expected.value / 100.0
    half = 100.0 * Z95 * math.sqrt(p * (1 - p) / pupils.value)
    lo, hi = max(0.0, expected.value - half), min(100.0, expected.value + half)
    return Figure(round(lo, 1), inputs=(expected, pupils)), Figure(round(hi, 1), inputs=(expected, pupils))


def build_report(school: SchoolInfo, tables: Sequence[Released],
                 indicators: Iterable[Indicator] | None = None) -> Report:
    """The report of one school from the released tables of a feedback round (oldest first); by default
    the round's indicators, then one per share of the tables imported from a recipient."""
    if indicators is None:
        indicators = (*FEEDBACK_INDICATORS, *external_indicators(tables))
    keys = {"school": school.code, "board": school.board, "municipality": school.municipality}
    sections, used = [], {}
    for indicator in indicators:
        m = indicator.measure
        yearly = {lvl: _latest(tables, lvl, m, False) for lvl in ("school", "board", "municipality")}
        pooled = _latest(tables, "school", m, True)
        if yearly["school"] is None and pooled is None:
            continue
        levels: dict[str, Point] = {}
        trend: dict[str, list[tuple[str, Point]]] = {}
        for lvl, table in yearly.items():
            code = keys[lvl]
            if table is None or code is None:
                continue
            levels[lvl] = _point(table, (code, TOTAL_LABEL), m)
            trend[lvl] = _series(table, code, m)
        province_table = yearly["school"] or pooled
        levels["province"] = _point(province_table, (TOTAL_LABEL, TOTAL_LABEL), m)
        trend["province"] = _series(province_table, TOTAL_LABEL, m)
        shown_years = sum(p.share.shown for _, p in trend.get("school", []))
        use_pooled = pooled is not None and shown_years < MIN_TREND_YEARS
        if use_pooled:
            trend = {"school": _series(pooled, school.code, m), "province": _series(pooled, TOTAL_LABEL, m)}
        for lvl, code in (("school", school.code), ("province", TOTAL_LABEL)):
            if pooled is not None and (lvl not in levels or not levels[lvl].share.shown):
                levels[lvl] = _point(pooled, (code, TOTAL_LABEL), m)  # all cohorts: the same pupils
        reference = None
        if indicator.reference:
            source = next((t for t in (yearly["school"], pooled) if t is not None
                           and indicator.reference in t.measures
                           and t.shown((school.code, TOTAL_LABEL), indicator.reference) not in (None, SUPPRESSED)),
                          yearly["school"] or pooled)
            observed = _point(source, (school.code, TOTAL_LABEL), m)
            expected = _figure(source, (school.code, TOTAL_LABEL), indicator.reference)
            lo, hi = band(expected, observed.pupils)
            reference = Reference(observed, expected, lo, hi)
        for t in (*yearly.values(), pooled):
            if t is not None:
                used[t.release_id] = t
        sections.append(Section(indicator, levels, trend, use_pooled, reference))
    return Report(school, sections, list(used.values()))
