"""A feedback report drawn as A4 pages (matplotlib), in Dutch or English: per indicator the school beside
its board, municipality and province, the trend over the cohorts, the reference with its band."""

from __future__ import annotations

import math
import textwrap

from matplotlib.figure import Figure as Page
from matplotlib.patches import Rectangle

from policies.charts import ACCENT, INK, LIGHT, MUTED, SERIES, page, pdf_bytes, png_bytes
from policies.feedback import Figure, Indicator, Point, Reference, Released, Report, Section

TEXT: dict[str, dict[str, str]] = {
    "nl": {
        "kicker": "Terugkoppeling aan de school",
        "subtitle": "Uw oud-leerlingen in het voortgezet onderwijs, naast uw bestuur, uw gemeente en de provincie",
        "school": "Uw school", "board": "Uw bestuur", "municipality": "Uw gemeente", "province": "Provincie",
        "share": "aandeel", "pupils": "leerlingen", "all_cohorts": "Alle cohorten samen",
        "hidden": "te weinig leerlingen om te tonen", "absent": "niet in de tabellen",
        "clamped": "{} (niet precies getoond)",
        "trend": "Per cohort (schooljaar in groep 8)",
        "same": "gelijk aan uw school",
        "gaps": "Een jaar zonder punt: te weinig leerlingen om te tonen.",
        "pooled": ("Per jaar te weinig leerlingen: de school is in blokken van drie cohorten samengenomen "
                   "(het oudste blok kan korter zijn)."),
        "no_trend": "Te weinig jaren met genoeg leerlingen om een ontwikkeling van de school te tonen.",
        "reference": "Vergeleken met scholen met dezelfde leerlingen (naar leerlinggewicht)",
        "expected": "verwacht", "your": "uw school", "band": "95%-band",
        "ref_note": ("Verwacht: het aandeel dat uw school zou halen als uw leerlingen het deden zoals alle "
                     "leerlingen in de provincie met hetzelfde leerlinggewicht. Ook zonder verschil in kwaliteit "
                     "ligt een school met {n} leerlingen door toeval meestal (95 van de 100 keer) tussen {lo} en "
                     "{hi}."),
        "no_reference": "De verwachting is niet te tonen: te weinig leerlingen.",
        "sources": "Bronnen (goedgekeurde tabellen van de monitor, met statistische beveiliging):",
        "footer": ("Alle cijfers komen uit deze tabellen; waar een groep te klein is staat "
                   "'te weinig leerlingen om te tonen'. Geen enkel cijfer gaat over één leerling."),
        "to": "t/m", "brin": "BRIN", "board_word": "bestuur", "municipality_word": "gemeente",
        "province_word": "provincie",
    },
    "en": {
        "kicker": "Feedback to the school",
        "subtitle": "Your former pupils in secondary school, beside your board, your municipality and the province",
        "school": "Your school", "board": "Your board", "municipality": "Your municipality",
        "province": "Province",
        "share": "share", "pupils": "pupils", "all_cohorts": "All cohorts together",
        "hidden": "too few pupils to show", "absent": "not in the tables",
        "clamped": "{} (not shown exactly)",
        "trend": "Per cohort (school year in groep 8)",
        "same": "the same as your school",
        "gaps": "A year without a point: too few pupils to show.",
        "pooled": ("Too few pupils per year: the school is shown in blocks of three cohorts together (the oldest "
                   "block may be shorter)."),
        "no_trend": "Too few years with enough pupils to show how the school develops.",
        "reference": "Against schools with the same pupils (by pupil weight)",
        "expected": "expected", "your": "your school", "band": "95% band",
        "ref_note": ("Expected: the share your school would have if its pupils did as all pupils of the "
                     "province with the same pupil weight do. Even without any difference in quality, a school "
                     "of {n} pupils lands by chance between {lo} and {hi} most of the time (95 times in 100)."),
        "no_reference": "The expected share cannot be shown: too few pupils.",
        "sources": "Sources (approved tables of the monitor, disclosure-controlled):",
        "footer": ("Every figure comes from these tables; where a group is too small the report says "
                   "'too few pupils to show'. No figure is about a single pupil."),
        "to": "to", "brin": "BRIN", "board_word": "board", "municipality_word": "municipality",
        "province_word": "province",
    },
}
VERDICT: dict[str, dict[str, str]] = {
    "nl": {"within": "Uw school ligt binnen die band: niet duidelijk anders dan verwacht.",
           "above": "Uw school ligt boven die band: duidelijk hoger dan verwacht.",
           "below": "Uw school ligt onder die band: duidelijk lager dan verwacht."},
    "en": {"within": "Your school is within that band: not clearly different from what is expected.",
           "above": "Your school is above that band: clearly higher than expected.",
           "below": "Your school is below that band: clearly lower than expected."},
}
SOURCE_KINDS: dict[str, dict[str, str]] = {
    "nl": {"school": "per school en cohort", "school_pooled": "per school, drie cohorten samen",
           "board": "per bestuur en cohort", "municipality": "per gemeente en cohort",
           "external": "per school en cohort, terug uit de omgeving van CBS"},
    "en": {"school": "per school and cohort", "school_pooled": "per school, three cohorts together",
           "board": "per board and cohort", "municipality": "per municipality and cohort",
           "external": "per school and cohort, back from CBS's environment"},
}
LANGUAGES = tuple(TEXT)
LEVEL_ORDER = ("school", "board", "municipality", "province")
TICKS = (0, 25, 50, 75, 100)  # the share axis; the only numbers on a page not taken from a release


def percent(value: float, lang: str) -> str:
    """A share as the report prints it: one decimal, a decimal comma in Dutch."""
    text = f"{value:.1f}"
    return (text.replace(".", ",") if lang == "nl" else text) + "%"


def count(value: float) -> str:
    return str(int(value))


def figure_text(figure: Figure, lang: str, kind: str = "share") -> str:
    """A figure as printed, or why it is not shown."""
    t = TEXT[lang]
    if figure.value is not None:
        return percent(figure.value, lang) if kind == "share" else count(figure.value)
    if figure.clamped:
        return t["clamped"].format(figure.clamped + "%")
    return t["hidden"] if figure.suppressed else t["absent"]


def _title_case(text: str | None) -> str:
    if not text:
        return ""
    return text.title() if text.isupper() else text


def _cohort(label: str, lang: str) -> str:
    return label.replace(" to ", f" {TEXT[lang]['to']}\n")


def _header(fig: Page, report: Report, lang: str) -> float:
    t, s = TEXT[lang], report.school
    fig.text(0.06, 0.962, t["kicker"].upper(), fontsize=8, color=ACCENT, fontweight="bold")
    fig.text(0.06, 0.938, _title_case(s.name) or s.code, fontsize=17, color=INK, fontweight="bold")
    parts = [f"{t['brin']} {s.code}", _title_case(s.place)]
    if s.board:
        parts.append(f"{t['board_word']} {s.board}")
    if s.municipality_name:
        parts.append(f"{t['municipality_word']} {_title_case(s.municipality_name)}")
    if s.province:
        parts.append(f"{t['province_word']} {_title_case(s.province)}")
    fig.text(0.06, 0.918, "  ·  ".join(p for p in parts if p), fontsize=8.5, color=MUTED)
    fig.text(0.06, 0.900, t["subtitle"], fontsize=8.5, color=INK)
    return 0.875


def _levels(fig: Page, section: Section, top: float, lang: str) -> None:
    t = TEXT[lang]
    fig.text(0.06, top, t["all_cohorts"], fontsize=8, color=MUTED, fontweight="bold")
    fig.text(0.30, top, t["share"], fontsize=8, color=MUTED, ha="right")
    fig.text(0.40, top, t["pupils"], fontsize=8, color=MUTED, ha="right")
    y = top - 0.022
    for level in LEVEL_ORDER:
        point = section.levels.get(level)
        if point is None:
            continue
        fig.add_artist(Rectangle((0.055, y - 0.006), 0.012, 0.012, transform=fig.transFigure,
                                 color=SERIES[level], linewidth=0))
        weight = "bold" if level == "school" else "normal"
        fig.text(0.075, y, t[level], fontsize=9, color=INK, fontweight=weight, va="center")
        if point.share.shown:
            fig.text(0.30, y, figure_text(point.share, lang), fontsize=9, color=INK, ha="right", va="center",
                     fontweight=weight)
            fig.text(0.40, y, figure_text(point.pupils, lang, "count"), fontsize=9, color=MUTED, ha="right",
                     va="center")
        else:
            fig.text(0.205, y, figure_text(point.share, lang), fontsize=7.5, color=MUTED, va="center",
                     style="italic")
        y -= 0.024


def _trend(fig: Page, section: Section, rect: tuple[float, float, float, float], lang: str) -> None:
    t = TEXT[lang]
    if not any(p.share.shown for series in section.trend.values() for _, p in series):
        return  # an empty chart tells nothing: the note says why
    ax = fig.add_axes(rect)
    cohorts = list(dict.fromkeys(c for series in section.trend.values() for c, _ in series))
    xs = range(len(cohorts))
    drawn: dict[str, list[float]] = {}
    every = {level: [_value(dict(section.trend.get(level, [])).get(c, _ABSENT).share) for c in cohorts]
             for level in LEVEL_ORDER}
    for level in LEVEL_ORDER:
        values = every[level]
        if all(math.isnan(v) for v in values):
            continue  # no line, no legend entry
        school = level == "school"
        label = t[level]
        if not school and values == drawn.get("school"):
            label += f" ({t['same']})"  # a line hidden under the school's: say why it is not seen
        drawn[level] = values
        ax.plot(xs, values, color=SERIES[level], linewidth=2.4 if school else 1.2, marker="o",
                markersize=5 if school else 3, zorder=3 if school else 2, label=label)
        others = [every[o] for o in LEVEL_ORDER if o != level]
        for x, v in enumerate(values):
            if math.isnan(v):
                continue
            if school:  # its value above the dot, or below it where another line runs just above
                near = [o[x] for o in others if not math.isnan(o[x])]
                below = any(v - 1 <= o <= v + 9 for o in near) and not any(v - 9 <= o < v - 1 for o in near)
                ax.annotate(percent(v, lang), (x, v), textcoords="offset points", xytext=(0, -12 if below else 7),
                            ha="center", va="top" if below else "baseline", fontsize=7, color=SERIES[level],
                            fontweight="bold")
            elif _lone(values, x):  # a dot without a line to its neighbours: its value beside it, so it is
                ax.annotate(percent(v, lang), (x, v), textcoords="offset points", xytext=(6, 0),  # read
                            ha="left", va="center", fontsize=6.5, color=SERIES[level])
    ax.set_ylim(0, 100)
    ax.set_yticks(TICKS, [f"{v}%" for v in TICKS])
    ax.set_xticks(list(xs), [_cohort(c, lang) for c in cohorts], fontsize=7)
    ax.set_xlim(-0.4, len(cohorts) - 0.6)
    ax.grid(axis="y", color=LIGHT, linewidth=0.6)
    ax.set_title(t["trend"], loc="left", fontsize=8, color=MUTED)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)


_ABSENT = Point(Figure(None), Figure(None))


def _lone(values: list[float], x: int) -> bool:
    """Whether the point at x has no shown neighbour (matplotlib draws it as a dot without a line)."""
    return all(not (0 <= n < len(values)) or math.isnan(values[n]) for n in (x - 1, x + 1))


def _value(figure: Figure) -> float:
    return math.nan if figure.value is None else figure.value


def _trend_note(section: Section, lang: str) -> str | None:
    t = TEXT[lang]
    points = section.trend.get("school", [])
    shown = sum(p.share.shown for _, p in points)
    if section.pooled_trend:
        note = t["pooled"] if shown else t["no_trend"]
    else:
        note = t["no_trend"] if shown < 3 else ""
    if shown and shown < len(points):
        note = f"{note} {t['gaps']}".strip()
    return note or None


def _reference(fig: Page, ref: Reference, top: float, lang: str) -> float:
    t = TEXT[lang]
    fig.text(0.06, top, t["reference"], fontsize=9, color=INK, fontweight="bold")
    if ref.expected.value is None or ref.low.value is None or ref.high.value is None:
        fig.text(0.06, top - 0.02, t["no_reference"], fontsize=8, color=MUTED, style="italic")
        return top - 0.04
    ax = fig.add_axes((0.10, top - 0.06, 0.70, 0.03))
    ax.add_patch(Rectangle((ref.low.value, -1), ref.high.value - ref.low.value, 2, color=LIGHT, linewidth=0))
    ax.plot([ref.expected.value] * 2, [-1, 1], color=MUTED, linewidth=1.5)
    if ref.observed.share.value is not None:
        ax.plot([ref.observed.share.value], [0], "o", color=ACCENT, markersize=9, zorder=3)
    ax.set_xlim(0, 100)
    ax.set_ylim(-1, 1)
    ax.set_yticks([])
    ax.set_xticks(TICKS, [f"{v}%" for v in TICKS], fontsize=7)
    ax.spines["left"].set_visible(False)
    lines = textwrap.wrap(f"{t['your']}: {figure_text(ref.observed.share, lang)}", 22)  # within the page
    for k, line in enumerate(lines):
        fig.text(0.82, top - (0.036 if len(lines) == 1 else 0.024) - 0.013 * k, line, fontsize=8, color=ACCENT,
                 fontweight="bold")
    fig.text(0.82, top - 0.052, f"{t['expected']}: {figure_text(ref.expected, lang)}", fontsize=8, color=MUTED)
    note = t["ref_note"].format(n=figure_text(ref.observed.pupils, lang, "count"),
                                lo=percent(ref.low.value, lang), hi=percent(ref.high.value, lang))
    if ref.verdict:
        note += " " + VERDICT[lang][ref.verdict]
    y = top - 0.09
    for line in textwrap.wrap(note, 120):
        fig.text(0.06, y, line, fontsize=7.5, color=INK)
        y -= 0.014
    return y - 0.01


SECTION_HEIGHT = 0.265
REFERENCE_HEIGHT = 0.15


def _section(fig: Page, section: Section, top: float, lang: str) -> float:
    ind = section.indicator
    fig.add_artist(Rectangle((0.06, top + 0.012), 0.88, 0.0015, transform=fig.transFigure, color=LIGHT))
    fig.text(0.06, top - 0.012, ind.title[lang], fontsize=12.5, color=INK, fontweight="bold")
    fig.text(0.06, top - 0.03, ind.about[lang], fontsize=7.5, color=MUTED)
    _levels(fig, section, top - 0.06, lang)
    _trend(fig, section, (0.50, top - 0.205, 0.34, 0.145), lang)
    note = _trend_note(section, lang)
    if note:
        for k, line in enumerate(textwrap.wrap(note, 60)):
            fig.text(0.06, top - 0.19 - 0.014 * k, line, fontsize=7.5, color=MUTED, style="italic")
    y = top - SECTION_HEIGHT
    if section.reference is not None:
        y = _reference(fig, section.reference, y, lang)
    return y - 0.02


def _source_kind(table: Released) -> str:
    if table.external is not None:
        return "external"
    return "school_pooled" if table.dimensions[0] == "school" and table.pooled else table.dimensions[0]


def _sources_height(report: Report) -> float:
    return 0.05 + 0.013 * (len(report.sources) + 2)


def _sources(fig: Page, sources: list[Released], indicators: list[Indicator], lang: str) -> None:
    t = TEXT[lang]
    y = 0.03 + 0.013 * (len(sources) + 2)
    fig.text(0.06, y, t["sources"], fontsize=7, color=INK, fontweight="bold")
    for table in sources:
        y -= 0.013
        kind = SOURCE_KINDS[lang].get(_source_kind(table), "")
        what = next((i.title[lang] for i in indicators if i.measure in table.measures), "")
        fig.text(0.06, y, f"{table.release_id}   {what}, {kind}", fontsize=7, color=MUTED)
    fig.text(0.06, y - 0.015, t["footer"], fontsize=7, color=MUTED)


def report_pages(report: Report, lang: str = "nl") -> list[Page]:
    """The report's pages: a header, each indicator (a new page when it does not fit), the sources."""
    fig = page()
    pages = [fig]
    y = _header(fig, report, lang)
    for k, section in enumerate(report.sections):
        need = SECTION_HEIGHT + (REFERENCE_HEIGHT if section.reference is not None else 0.0)
        floor = _sources_height(report) if k == len(report.sections) - 1 else 0.04
        if y - need < floor:
            fig = page()
            pages.append(fig)
            y = 0.95
        y = _section(fig, section, y, lang)
    _sources(pages[-1], report.sources, [s.indicator for s in report.sections], lang)
    return pages


def report_pdf(report: Report, lang: str = "nl") -> bytes:
    """The report as PDF bytes (the same report gives the same bytes)."""
    return pdf_bytes(report_pages(report, lang), title=f"{TEXT[lang]['kicker']}: {report.school.code}")


def report_png(report: Report, lang: str = "nl", dpi: int = 100) -> bytes:
    """The report's first page as a PNG."""
    return png_bytes(report_pages(report, lang)[0], dpi=dpi)
