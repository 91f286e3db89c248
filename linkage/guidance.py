"""Warnings for a link job that looks wrong, each naming the setting to look at (counts only, never values)."""

from __future__ import annotations

from typing import TypedDict

#: A pass proposing at least this many new pairs of which fewer than this share link costs time and adds little.
BUSY_PASS_PAIRS = 1000
BUSY_PASS_LINK_SHARE = 0.001
#: Records skipped in oversized blocks, as a share of the job's records, worth a warning.
SKIPPED_SHARE = 0.01


class Advice(TypedDict):
    """One warning: the setting to look at and what was seen."""

    setting: str
    message: str


def _pass_setting(name: str) -> str:
    return f'blocking.passes "{name}"'


def link_guidance(report: dict) -> list[Advice]:
    """Warnings from a job's report: passes that reach nothing or little, oversized blocks, EM that stopped."""
    out: list[Advice] = []
    records = max(int(report.get("records", 0)), 1)
    for p in report.get("blocking", {}).get("passes", []):
        name = p["pass"]
        if p["pairs"] == 0:
            out.append({"setting": _pass_setting(name),
                        "message": f"blocking pass {name!r} reached no pairs: its keys are missing in these "
                                   "batches or never agree; drop the pass or key it on features they have"})
        elif p["new_pairs"] >= BUSY_PASS_PAIRS and p.get("new_links", 0) < BUSY_PASS_LINK_SHARE * p["new_pairs"]:
            out.append({"setting": _pass_setting(name),
                        "message": f"blocking pass {name!r} proposed {p['new_pairs']:,} new pairs of which "
                                   f"{p.get('new_links', 0):,} linked: few look true; narrow its keys or give it "
                                   "a smaller max_block_size"})
        if p.get("skipped_records", 0) > SKIPPED_SHARE * records:
            out.append({"setting": f"{_pass_setting(name)} max_block_size, or blocking.max_block_size",
                        "message": f"blocking pass {name!r} skipped {p['skipped_blocks']:,} blocks above the cap "
                                   f"({p['skipped_records']:,} records): their pairs were never compared"})
    training = report.get("model", {}).get("training", {})
    if training and not training.get("em_converged", True):
        out.append({"setting": "em.em_max_iter, em.em_tolerance",
                    "message": f"EM stopped after {training.get('em_iterations')} iterations without converging: "
                               "the weights may be off; raise em_max_iter, or look at the passes (EM learns from "
                               "the pairs they propose)"})
    return out


def ingest_guidance(batches: list[dict], most: float = 0.5) -> list[Advice]:
    """Warnings for fields an ingest dropped in most rows of a batch (`batch_id`, `source`, `accepted`,
    `fields_dropped` {field: {reason: count}} per batch), naming the profile setting behind the rule."""
    out: list[Advice] = []
    for b in batches:
        accepted = int(b["accepted"])
        for field, reasons in sorted(b["fields_dropped"].items()):
            dropped = sum(int(n) for n in reasons.values())
            if accepted and dropped > most * accepted:
                top = max(reasons, key=lambda r: reasons[r])
                out.append({"setting": f"profile of {b['source']}: {_profile_setting(field, top)}",
                            "message": f"batch {b['batch_id']} ({b['source']}): {field} was dropped in {dropped:,} "
                                       f"of {accepted:,} records (most: {top}), so linkage goes without it"})
    return out


def _profile_setting(field: str, reason: str) -> str:
    if field == "birth_date":
        return "date_format" if reason == "unparseable date" else "earliest_birth_date, latest_birth_date"
    if field == "sex":
        return "sex_codes"
    if field.startswith("link:"):
        return f"link_fields.{field.removeprefix('link:')} (its column and kind)"
    if field.startswith("attr:"):
        return f"attribute_codes.{field.removeprefix('attr:')}"
    return f"fields.{field} (its column)"
