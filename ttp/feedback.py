"""`ttp feedback`: a school's report, or every school of a board, from the feedback round's releases."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from policies.external import parse_external
from policies.feedback import Released, Report, SchoolInfo, build_report, external_released, read_released
from policies.feedback_mbo import LANGUAGES as MBO_LANGUAGES
from policies.feedback_mbo import MboReport, build_mbo_report, institutions, is_mbo_table, mbo_pdf, mbo_png, opleidingen
from policies.feedback_pages import LANGUAGES, report_pdf, report_png

from . import db
from .app import Acting
from .cbs import external_tables
from .errors import NotFound, TTPError
from .exporting import get_school, releases_in_order, schools_of_board
from .users import schools_of

LEVEL_DIMENSIONS = ("school", "board", "municipality")


def round_tables(act: Acting, round_id: str | None = None) -> list[Released]:
    """The released tables a feedback report can use (per school, board or municipality and cohort), oldest
    first, read from the release store and checked against the sums recorded when they were released; then
    the tables imported from a recipient (CBS) that are per school and cohort (docs/nco.md). With
    `round_id` (a round request), only that round's tables: an earlier round's report as it was."""
    out = _stored_tables(act, round_id, _is_school_table)
    for release_id, title, data in external_tables(act) if round_id is None else ():  # back from CBS
        table = external_released(release_id, title, parse_external(data))
        if table is not None:
            out.append(table)
    return out


def _is_school_table(request: dict) -> bool:
    dims = tuple(request.get("dimensions", []))
    return len(dims) == 2 and dims[0] in LEVEL_DIMENSIONS and dims[1] == "school_year" and not request.get("groups")


def _is_mbo_table(request: dict) -> bool:
    dims = tuple(request.get("dimensions", []))
    return len(dims) in (2, 3) and dims[0] == "mbo_school" and not request.get("groups")


def _stored_tables(act: Acting, round_id: str | None, accept: Callable[[dict], bool]) -> list[Released]:
    """The released tables whose request `accept`s, oldest first, checked against their recorded sums."""
    out = []
    for release in releases_in_order(act.session):
        if round_id is not None and release.request_id != round_id:
            continue
        folder = act.app.settings.release_dir(release.id)
        try:
            meta_bytes = (folder / "metadata.json").read_bytes()
            request = json.loads(meta_bytes)["request"]
        except (OSError, ValueError, KeyError):
            continue  # a release of the first format, or its files gone: verify says so, a report skips it
        if not accept(request):
            continue
        table_bytes = (folder / "table.csv").read_bytes()
        for name, data in (("metadata.json", meta_bytes), ("table.csv", table_bytes)):
            if release.files.get(name) != hashlib.sha256(data).hexdigest():
                raise TTPError(f"release {release.id}: its {name} is not what was released "
                               "(`ttp release verify` says more)")
        out.append(read_released(release.id, release.request_id, json.loads(meta_bytes),
                                 table_bytes.decode("utf-8")))
    return out


def mbo_tables(act: Acting) -> list[Released]:
    """The released tables of the mbo round (institution × opleiding × vo track or advice), oldest first."""
    return [t for t in _stored_tables(act, None, _is_mbo_table) if is_mbo_table(t)]


def mbo_reports(act: Acting, code: str, crebo: str | None = None) -> list[MboReport]:
    """The pages of an mbo institution's opleidingen (or of the one `crebo`) from the mbo round's releases;
    refused in one line when the institution, the opleiding or the round is not there."""
    institution = get_school(act.session, code)
    if institution is None:
        raise NotFound(f"unknown mbo institution {code!r}: not in the school register (`ttp schools import`)")
    tables = mbo_tables(act)
    if not tables:
        raise TTPError("no mbo feedback round has been released: release the request "
                       "policies/examples/requests/feedback_round_mbo.toml first (docs/feedback.md)")
    if institution.brin not in institutions(tables):
        raise TTPError(f"mbo institution {institution.brin} is not in the mbo round's tables (no starters of it)")
    codes = opleidingen(tables, institution.brin)
    if crebo is not None and crebo.strip() not in codes:
        raise TTPError(f"opleiding (crebo) {crebo!r} has no starters at {institution.brin} in the mbo round's "
                       f"tables; it has: {', '.join(codes)}")
    chosen = [crebo.strip()] if crebo is not None else codes
    return [build_mbo_report(_info(institution), c, tables) for c in chosen]


def feedback_mbo(act: Acting, code: str, crebo: str | None, out: Path, lang: str) -> list[MboReport]:
    """An mbo team's pages to `out` (PDF, or PNG of the first opleiding); the audit event names the
    institution, the opleidingen and the releases."""
    reports = mbo_reports(act, code, crebo)
    if lang not in MBO_LANGUAGES:
        raise TTPError(f"unknown language {lang!r}: one of {', '.join(MBO_LANGUAGES)}")
    _write(out, mbo_png(reports[0], lang) if out.suffix.lower() == ".png" else mbo_pdf(reports, lang))
    act.details.update({"mbo_institution": reports[0].institution.code, "crebo": [r.crebo for r in reports],
                        "releases": sorted({t.release_id for r in reports for t in r.sources}), "lang": lang})
    return reports


def _info(school: db.School) -> SchoolInfo:
    return SchoolInfo(school.brin, school.name, school.place, school.board, school.municipality,
                      school.municipality_name, school.province)


def feedback_rounds(act: Acting) -> list[dict]:
    """The released rounds (round requests, docs/feedback.md), newest first: request id and release date."""
    seen: dict[str, dict] = {}
    for release in releases_in_order(act.session):
        if release.released_table.get("round_table") and release.request_id not in seen:
            seen[release.request_id] = {"request_id": release.request_id,
                                        "date": release.created_at.date().isoformat()}
    return list(reversed(seen.values()))


def school_report(act: Acting, code: str, tables: list[Released] | None = None) -> Report:
    """The report of one school of the register; refused when the round's tables do not show it."""
    school = get_school(act.session, code)
    if school is None:
        raise NotFound(f"unknown school {code!r}: not in the school register (`ttp schools import`)")
    tables = round_tables(act) if tables is None else tables
    report = build_report(_info(school), tables)
    if not report.sections:
        raise TTPError("no feedback round has been released: release the request "
                       "policies/examples/requests/feedback_round.toml first (docs/feedback.md)")
    if not any(school.brin in t.categories("school") for t in tables if t.dimensions[0] == "school"):
        raise TTPError(f"school {school.brin} is not in the feedback round's tables (no pupils of it there)")
    return report


def write_report(report: Report, out: Path, lang: str) -> None:
    """The report as PDF, or as a PNG of its first page when `out` ends in .png; written whole or not at all."""
    if lang not in LANGUAGES:
        raise TTPError(f"unknown language {lang!r}: one of {', '.join(LANGUAGES)}")
    _write(out, report_png(report, lang) if out.suffix.lower() == ".png" else report_pdf(report, lang))


def _write(out: Path, data: bytes) -> None:
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TTPError(f"cannot write {out}: {exc.strerror}") from None


def released_round(act: Acting, round_id: str | None) -> list[Released] | None:
    """The tables of one released round (an earlier report as it was), None for the newest releases;
    refused in one line when `round_id` is not a released round."""
    if round_id is None:
        return None
    if round_id not in {r["request_id"] for r in feedback_rounds(act)}:
        raise NotFound(f"unknown feedback round {round_id!r}: `ttp request list` shows the round requests "
                       "(a released one is `released`)")
    act.details["round"] = round_id
    return round_tables(act, round_id)


def feedback_one(act: Acting, code: str, out: Path, lang: str, round_id: str | None = None) -> Report:
    """One school's report to `out` (of one released round when given); the audit event names the school
    and the releases it used."""
    report = school_report(act, code, released_round(act, round_id))
    write_report(report, out, lang)
    act.details.update({"school": report.school.code, "releases": [t.release_id for t in report.sources],
                        "lang": lang})
    return report


def feedback_board(act: Acting, board: str, out_dir: Path, lang: str,
                   progress: Callable[[str, int, int], None] | None = None,
                   round_id: str | None = None) -> list[Path]:
    """Every school of a board that the round's tables show, one file per school (`<code>.pdf`) in `out_dir`."""
    chosen = released_round(act, round_id)
    tables = round_tables(act) if chosen is None else chosen
    shown = {c for t in tables if t.dimensions[0] == "school" for c in t.categories("school")}
    schools = [s for s in schools_of_board(act.session, board) if s.brin in shown]
    if not schools:
        raise TTPError(f"board {board!r}: none of its schools is in the feedback round's tables"
                       " (or the board is not in the school register)")
    if out_dir.exists() and not out_dir.is_dir():
        raise TTPError(f"{out_dir} is a file: --all writes one report per school into a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for number, school in enumerate(schools, start=1):
        if progress:
            progress(f"feedback {school.brin}", number - 1, len(schools))
        path = out_dir / f"{school.brin}.pdf"
        write_report(build_report(_info(school), tables), path, lang)
        written.append(path)
    if progress:
        progress("feedback", len(schools), len(schools))
    act.details.update({"board": board, "schools": [s.brin for s in schools],
                        "releases": sorted({t.release_id for t in tables}), "lang": lang})
    act.counts["reports"] = len(written)
    return written


def _shown(tables: list[Released]) -> set[str]:
    return {c for t in tables if t.dimensions[0] == "school" for c in t.categories("school")}


def own_schools(act: Acting) -> list[dict]:
    """A school user's schools: code, name and place from the register, whether the current tables show
    them (`ready`), and the released rounds that show them, newest (the current one) first."""
    current = _shown(round_tables(act))
    rounds = [(r, _shown(round_tables(act, r["request_id"]))) for r in feedback_rounds(act)]
    out = []
    for code in schools_of(act.user):
        school = get_school(act.session, code)
        out.append({"code": code, "name": (school.name or "").title() if school else "",
                    "place": (school.place or "").title() if school else "", "ready": code in current,
                    "rounds": [r for r, shown in rounds if code in shown]})
    return out


def own_report(act: Acting, code: str, lang: str, round_id: str | None = None) -> bytes:
    """The PDF report of one of a school user's own schools, from the newest releases or from one released
    round (an earlier one: as it was then); any other school, or a round that is not one, is unknown."""
    code = code.strip().upper()
    if code not in schools_of(act.user):
        raise NotFound(f"unknown school {code!r}")
    if round_id is not None and round_id not in {r["request_id"] for r in feedback_rounds(act)}:
        raise NotFound(f"unknown feedback round {round_id!r}")
    report = school_report(act, code, released_round(act, round_id))
    act.details.update({"school": code, "releases": [t.release_id for t in report.sources], "lang": lang,
                        **({"round": round_id} if round_id else {})})
    return report_pdf(report, lang)
