"""An mbo team's feedback page from released tables only: per opleiding, vsv and switching in the first year
by prior vo track and by advice, beside the institution and the region.

The tables group by institution (`mbo_school`), opleiding (`crebo`) and a breakdown (`prior_track` or
`advice_level`); their margins (Total) are the institution and the region. Every figure is a released cell
(`Figure.source`); a suppressed one is only said in words.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

from matplotlib.figure import Figure as Page
from matplotlib.patches import Rectangle

from policies.cells import TOTAL_LABEL
from policies.charts import ACCENT, INK, LIGHT, MUTED, SERIES, page, pdf_bytes, png_bytes
from policies.feedback import Figure, Point, Released, SchoolInfo, _point
from policies.feedback_pages import TICKS, figure_text

INSTITUTION, OPLEIDING = "mbo_school", "crebo"
BREAKDOWNS = ("prior_track", "advice_level")
MEASURES = ("vsv_first", "switch_first")
COLUMNS = ("team", "institution", "region")
COLOURS = {"team": ACCENT, "institution": SERIES["board"], "region": SERIES["province"]}


@dataclass(frozen=True)
class Row:
    """One row of a block: a group of starters (all, or one vo track or advice) at the three levels."""

    label: str  # TOTAL_LABEL for all starters
    points: dict[str, Point]  # team (the opleiding at the institution), institution, region


@dataclass(frozen=True)
class Block:
    """One indicator by one breakdown; `table` None when no such table has been released."""

    measure: str
    breakdown: str
    table: Released | None
    rows: list[Row]


@dataclass
class MboReport:
    """The page of one opleiding (crebo) at one institution, and the releases it was made from."""

    institution: SchoolInfo
    crebo: str
    blocks: list[Block]
    sources: list[Released] = field(default_factory=list)

    def figures(self) -> list[Figure]:
        """Every figure the page may show (shown or not)."""
        return [f for b in self.blocks for r in b.rows for p in r.points.values() for f in (p.share, p.pupils)]

    def team_shown(self) -> int:
        """How many of the opleiding's own figures (shares and numbers of starters) are shown."""
        return sum(bool(f.value) for b in self.blocks for r in b.rows for f in (r.points["team"].share,
                                                                               r.points["team"].pupils))


def is_mbo_table(table: Released) -> bool:
    """Whether a released table is one of the mbo rounds' (institution × opleiding × a breakdown, or
    institution × a breakdown: the advice, known for fewer starters)."""
    dims = table.dimensions
    return (dims[0] == INSTITUTION and dims[-1] in BREAKDOWNS and any(m in table.measures for m in MEASURES)
            and (dims[1:-1] == (OPLEIDING,) or len(dims) == 2))


def per_opleiding(table: Released) -> bool:
    """Whether an mbo table has the opleiding as a dimension (else the institution is its finest level)."""
    return OPLEIDING in table.dimensions


def _latest(tables: Sequence[Released], measure: str, breakdown: str) -> Released | None:
    for table in reversed(tables):
        if is_mbo_table(table) and table.dimensions[2] == breakdown and measure in table.measures:
            return table
    return None


def opleidingen(tables: Sequence[Released], institution: str) -> list[str]:
    """The opleidingen (crebo codes) of an institution that the tables hold starters of, in order."""
    out: dict[str, None] = {}
    for table in tables:
        if not is_mbo_table(table):
            continue
        if not per_opleiding(table):
            continue
        for key, row in table.cells.items():
            if key[0] == institution and key[1] != TOTAL_LABEL and key[2] == TOTAL_LABEL \
                    and row.get("pupils") not in (None, "", "0"):
                out[key[1]] = None
    return sorted(out)


def institutions(tables: Sequence[Released]) -> list[str]:
    """The institutions the mbo tables show."""
    return sorted({c for t in tables if is_mbo_table(t) for c in t.categories(INSTITUTION)})


def build_mbo_report(institution: SchoolInfo, crebo: str, tables: Sequence[Released]) -> MboReport:
    """The page of one opleiding: per indicator and breakdown the newest released table's rows (all starters
    first, then each group the opleiding has starters in)."""
    code = institution.code
    blocks, used = [], {}
    for measure in MEASURES:
        for breakdown in BREAKDOWNS:
            table = _latest(tables, measure, breakdown)
            rows = []
            if table is not None:
                used[table.release_id] = table
                fine = per_opleiding(table)
                for label in [TOTAL_LABEL, *table.categories(breakdown)]:
                    keys: dict[str, tuple[str, ...] | None] = {
                        "team": (code, crebo, label), "institution": (code, TOTAL_LABEL, label),
                        "region": (TOTAL_LABEL, TOTAL_LABEL, label)} if fine else {
                        "team": None, "institution": (code, label), "region": (TOTAL_LABEL, label)}
                    points = {level: _point(table if key else None, key or (), measure) for level, key in keys.items()}
                    if label != TOTAL_LABEL and not _has_pupils(table, keys["team"] or keys["institution"] or ()):
                        continue  # no starters of this group in the opleiding (or institution): no row
                    rows.append(Row(label, points))
            blocks.append(Block(measure, breakdown, table, rows))
    return MboReport(institution, crebo, blocks, list(used.values()))


def _has_pupils(table: Released, key: tuple[str, ...]) -> bool:
    text = table.shown(key, "pupils")
    return text not in (None, "", "0")


TEXT: dict[str, dict[str, str]] = {
    "nl": {
        "kicker": "Terugkoppeling aan het mbo-team", "opleiding": "Opleiding (crebo) {}",
        "subtitle": ("Instromers uit het vo in het eerste jaar van deze opleiding, naast uw instelling en de regio "
                     "(alle instellingen)"),
        "team": "Opleiding", "institution": "Instelling", "region": "Regio", "all": "Alle instromers",
        "by_prior_track": "naar vo-niveau in het laatste vo-jaar", "by_advice_level": "naar schooladvies (groep 8)",
        "share": "aandeel", "pupils": "n", "not_released": "Deze tabel is (nog) niet vrijgegeven.",
        "none": "Geen instromers in deze tabel.",
        "hidden_note": ("'te weinig leerlingen om te tonen': de groep is te klein of zou via andere cijfers te "
                        "herleiden zijn; 'aandeel niet te tonen': te weinig instromers hebben de uitkomst (of "
                        "missen die), of het aandeel zou een verborgen cijfer verraden; '<5%' of '>95%': het aandeel "
                        "wordt niet precies getoond."),
        "sources": "Bronnen (goedgekeurde tabellen van de monitor, met statistische beveiliging):",
        "footer": ("Alle cijfers komen uit deze tabellen; geen enkel cijfer gaat over één student. Het regiocijfer "
                   "is het totaal van alle instellingen."),
        "institution_only": "alleen per instelling: te weinig instromers met een bekend advies per opleiding",
        "brin": "BRIN", "nobody": "geen instromers", "share_hidden": "aandeel niet te tonen (n\u00a0{})",
    },
    "en": {
        "kicker": "Feedback to the mbo team", "opleiding": "Programme (crebo) {}",
        "subtitle": ("Students from secondary school in the first year of this programme, beside your institution "
                     "and the region (all institutions)"),
        "team": "Programme", "institution": "Institution", "region": "Region", "all": "All starters",
        "by_prior_track": "by level in the last year of secondary school",
        "by_advice_level": "by primary-school advice (groep 8)",
        "share": "share", "pupils": "n", "not_released": "This table has not been released (yet).",
        "none": "No starters in this table.",
        "hidden_note": ("'too few pupils to show': the group is too small or could be worked out from other "
                        "figures; 'share not shown': too few starters have the outcome (or miss it), or the "
                        "share would give a hidden figure away; '<5%' or '>95%': the share is not shown exactly."),
        "sources": "Sources (approved tables of the monitor, disclosure-controlled):",
        "footer": ("Every figure comes from these tables; no figure is about a single student. The region is the "
                   "total of all institutions."),
        "institution_only": "per institution only: too few starters with a known advice per programme",
        "brin": "BRIN", "nobody": "no starters", "share_hidden": "share not shown (n\u00a0{})",
    },
}
INDICATOR_TEXT: dict[str, dict[str, tuple[str, str]]] = {
    "nl": {"vsv_first": ("Voortijdig schoolverlaten (vsv) in het eerste jaar",
                         "Deel van de instromers dat een jaar later op geen school staat ingeschreven en geen "
                         "startkwalificatie heeft (DUO's vsv)."),
           "switch_first": ("Overstap naar een andere opleiding in het eerste jaar",
                            "Deel van de instromers dat op 1 oktober van het tweede jaar een andere opleiding "
                            "(crebo) volgt.")},
    "en": {"vsv_first": ("Early school leaving (vsv) in the first year",
                         "Share of the starters enrolled in no school a year later and without a basic "
                         "qualification (DUO's vsv)."),
           "switch_first": ("Switching to another programme in the first year",
                            "Share of the starters in another programme (crebo) on 1 October of their second "
                            "year.")},
}
LABELS = {"praktijkonderwijs": "praktijkonderwijs", "vmbo-b": "vmbo basis", "vmbo-k": "vmbo kader",
          "vmbo-gt": "vmbo gl/tl", "havo": "havo", "vwo": "vwo"}
LANGUAGES = tuple(TEXT)


def _cell(fig: Page, x: float, y: float, point: Point, lang: str, bold: bool) -> None:
    """A share and its n, or in words why it is not shown."""
    if point.share.source is None and not point.share.suppressed and point.pupils.source is None:
        fig.text(x, y, "–", fontsize=8, color=MUTED, va="center")  # the table has no such column (per opleiding)
    elif point.pupils.value == 0:  # nobody in the group: no share to show, and nothing hidden
        fig.text(x, y, TEXT[lang]["nobody"], fontsize=6.5, color=MUTED, va="center", style="italic")
    elif point.share.shown:
        fig.text(x + 0.085, y, figure_text(point.share, lang), fontsize=8.5, color=INK, ha="right", va="center",
                 fontweight="bold" if bold else "normal")
        fig.text(x + 0.125, y, figure_text(point.pupils, lang, "count"), fontsize=7.5, color=MUTED, ha="right",
                 va="center")
    else:
        text = figure_text(point.share, lang)
        if point.pupils.shown and point.share.suppressed:  # the starters may be counted, their share not
            text = TEXT[lang]["share_hidden"].format(figure_text(point.pupils, lang, "count"))
        for k, line in enumerate(textwrap.wrap(text, 24)):
            fig.text(x, y + 0.004 - 0.009 * k, line, fontsize=6, color=MUTED, va="center", style="italic")


ROW = 0.026


def _block(fig: Page, block: Block, top: float, lang: str) -> float:
    t = TEXT[lang]
    fig.text(0.06, top, t[f"by_{block.breakdown}"], fontsize=8.5, color=INK, fontweight="bold")
    if block.table is None or not block.rows:
        fig.text(0.06, top - 0.018, t["not_released"] if block.table is None else t["none"], fontsize=7.5,
                 color=MUTED, style="italic")
        return top - 0.04
    if not per_opleiding(block.table):
        fig.text(0.50, top, t["institution_only"], fontsize=7, color=MUTED, style="italic")
    xs = {"team": 0.24, "institution": 0.40, "region": 0.56}
    y = top - 0.02
    for level, x in xs.items():
        fig.add_artist(Rectangle((x, y - 0.005), 0.01, 0.01, transform=fig.transFigure, color=COLOURS[level],
                                 linewidth=0))
        fig.text(x + 0.014, y, t[level], fontsize=7.5, color=MUTED, va="center")
    y -= ROW
    chart_top = y + ROW / 2
    drawn: list[tuple[float, str, float]] = []
    for row in block.rows:
        label = t["all"] if row.label == TOTAL_LABEL else LABELS.get(row.label, row.label)
        fig.text(0.06, y, label, fontsize=8, color=INK, va="center",
                 fontweight="bold" if row.label == TOTAL_LABEL else "normal")
        for level, x in xs.items():
            _cell(fig, x, y, row.points[level], lang, level == "team")
            value = row.points[level].share.value
            if value is not None:  # only a shown share gets a dot: a hidden one is said in words beside it
                drawn.append((y, level, value))
        y -= ROW
    if drawn:  # a dot per shown share, on one scale: where the opleiding stands beside the others
        ax = fig.add_axes((0.72, y + ROW / 2, 0.22, chart_top - y - ROW / 2))
        for row_y, level, value in drawn:
            ax.plot([value], [row_y], "o", color=COLOURS[level], markersize=6 if level == "team" else 4.5,
                    zorder=3 if level == "team" else 2)
        ax.set_xlim(0, 100)
        ax.set_ylim(y + ROW / 2, chart_top)
        ax.set_yticks([])
        ax.set_xticks(TICKS, [f"{v}%" for v in TICKS], fontsize=6.5)
        ax.grid(axis="x", color=LIGHT, linewidth=0.6)
        ax.spines["left"].set_visible(False)
    return y - 0.02


def _sources(fig: Page, report: MboReport, lang: str) -> None:
    t = TEXT[lang]
    y = 0.03 + 0.012 * (len(report.sources) + 3)
    fig.text(0.06, y, t["sources"], fontsize=7, color=INK, fontweight="bold")
    for table in report.sources:
        y -= 0.012
        measure = next(m for m in MEASURES if m in table.measures)
        what = INDICATOR_TEXT[lang][measure][0]
        fig.text(0.06, y, f"{table.release_id}   {what}, {t['by_' + table.dimensions[2]]}", fontsize=7,
                 color=MUTED)
    for k, line in enumerate(textwrap.wrap(f"{t['footer']} {t['hidden_note']}", 125)):
        fig.text(0.06, y - 0.014 - 0.011 * k, line, fontsize=6.5, color=MUTED)


def mbo_page(report: MboReport, lang: str = "nl") -> Page:
    """The opleiding's page: a header, per indicator its breakdowns, the sources."""
    t, s = TEXT[lang], report.institution
    fig = page()
    fig.text(0.06, 0.962, t["kicker"].upper(), fontsize=8, color=ACCENT, fontweight="bold")
    fig.text(0.06, 0.938, t["opleiding"].format(report.crebo), fontsize=17, color=INK, fontweight="bold")
    name = s.name.title() if s.name and s.name.isupper() else (s.name or s.code)
    place = s.place.title() if s.place and s.place.isupper() else (s.place or "")
    fig.text(0.06, 0.918, "  ·  ".join(p for p in (name, f"{t['brin']} {s.code}", place) if p), fontsize=8.5,
             color=MUTED)
    fig.text(0.06, 0.900, t["subtitle"], fontsize=8.5, color=INK)
    y = 0.87
    for measure in MEASURES:
        title, about = INDICATOR_TEXT[lang][measure]
        fig.add_artist(Rectangle((0.06, y + 0.01), 0.88, 0.0015, transform=fig.transFigure, color=LIGHT))
        fig.text(0.06, y - 0.01, title, fontsize=12, color=INK, fontweight="bold")
        fig.text(0.06, y - 0.026, about, fontsize=7.5, color=MUTED)
        y -= 0.05
        for block in (b for b in report.blocks if b.measure == measure):
            y = _block(fig, block, y, lang)
    _sources(fig, report, lang)
    return fig


def mbo_pdf(reports: Sequence[MboReport], lang: str = "nl") -> bytes:
    """The pages of one or more opleidingen as one PDF (the same reports give the same bytes)."""
    title = f"{TEXT[lang]['kicker']}: {reports[0].institution.code}" if reports else TEXT[lang]["kicker"]
    return pdf_bytes([mbo_page(r, lang) for r in reports], title=title)


def mbo_png(report: MboReport, lang: str = "nl", dpi: int = 100) -> bytes:
    """One opleiding's page as a PNG."""
    return png_bytes(mbo_page(report, lang), dpi=dpi)
