"""The field's indicators, with their official definitions, computed per person from the persons frame.

Each indicator names its inputs (persons columns, usually at a moment: `policies.moments`) in the policy's
`[derived.NAME]` table; docs/policies.md cites the source of each definition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

# The levels of Dutch secondary education, low to high (praktijkonderwijs below vmbo basis).
LEVELS = ("praktijkonderwijs", "vmbo-b", "vmbo-k", "vmbo-gt", "havo", "vwo")
_RANK = {level: i for i, level in enumerate(LEVELS)}
_VMBO_PARTS = {"b": "vmbo-b", "bb": "vmbo-b", "k": "vmbo-k", "kb": "vmbo-k", "g": "vmbo-gt", "t": "vmbo-gt",
               "gt": "vmbo-gt", "gl": "vmbo-gt", "tl": "vmbo-gt", "gl/tl": "vmbo-gt", "pro": "praktijkonderwijs"}
POSITIONS = ("below", "at", "above")


def lowest_level(value: object) -> int | None:
    """The rank of the lowest level a (possibly double) advice or class names: `vmbo-gt/havo` is vmbo-gt,
    `havo/vwo` havo, `vmbo-b/k` vmbo-b; None when it names no level."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    ranks = []
    for part in str(value).strip().lower().split("/"):
        part = part.strip()
        level = part if part in _RANK else _VMBO_PARTS.get(part.removeprefix("vmbo-").removeprefix("vmbo "))
        if level is not None:
            ranks.append(_RANK[level])
    return min(ranks) if ranks else None


def advice_position(advice: pd.Series, level: pd.Series) -> pd.Series:
    """below / at / above: the level a pupil is at (in leerjaar 3, as the policy's input says) against
    their primary-school advice. A double advice counts by its lowest level (NCO, Inspectie van het
    Onderwijs: "onderwijspositie ten opzichte van het advies"); missing when either is unknown."""
    a = advice.map(lowest_level)
    v = level.map(lowest_level)
    out = np.full(len(advice), None, dtype=object)
    known = a.notna().to_numpy() & v.notna().to_numpy()
    av, vv = a.to_numpy()[known].astype(int), v.to_numpy()[known].astype(int)
    out[known] = np.where(vv < av, "below", np.where(vv > av, "above", "at"))
    return pd.Series(out, index=advice.index, dtype=object)


def lowest_level_name(value: pd.Series) -> pd.Series:
    """The lowest level a (possibly double) advice names (`vmbo-gt/havo` is vmbo-gt): fewer, fuller groups
    than the advice as given; missing when it names no level."""
    ranks = value.map(lowest_level)
    return pd.Series([None if pd.isna(r) else LEVELS[int(r)] for r in ranks], index=value.index, dtype=object)


def level_change(first: pd.Series, second: pd.Series) -> pd.Series:
    """down / same / up: the level at a later moment against an earlier one (moving up or down in vo, e.g.
    leerjaar 1 to 3; a combined class counts by its lowest level, as a double advice does)."""
    a, b = first.map(lowest_level), second.map(lowest_level)
    out = np.full(len(first), None, dtype=object)
    known = a.notna().to_numpy() & b.notna().to_numpy()
    av, bv = a.to_numpy()[known].astype(int), b.to_numpy()[known].astype(int)
    out[known] = np.where(bv < av, "down", np.where(bv > av, "up", "same"))
    return pd.Series(out, index=first.index, dtype=object)


def change(first: pd.Series, second: pd.Series) -> pd.Series:
    """second − first, numerically (growth between two moments); missing when either is."""
    a = pd.to_numeric(first, errors="coerce")
    b = pd.to_numeric(second, errors="coerce")
    return (b - a).astype(float)


STARTKWALIFICATIE_MBO = 2  # an mbo diploma at level 2 or higher (or havo/vwo) is a startkwalificatie
VSV_AGE = 23


def early_leavers(records: pd.DataFrame, year: str) -> pd.Series:
    """DUO's vsv (voortijdig schoolverlaten) for one school year, per person enrolled on 1 October of it:
    `ja` when they are enrolled in no vo or mbo school on 1 October of the next year, hold no
    startkwalificatie (an mbo diploma at level 2 or higher by then; havo and vwo diplomas count too where a
    source delivers them as `diploma` = havo/vwo) and are under 23 on 1 October of the year; `nee` otherwise;
    absent when not enrolled. Kept apart from "left without a diploma": a student who leaves mbo without
    one but re-enrols the next year is no vsv.

    `records`: vo and mbo records with `person_id`, `school_year`, `source`, and where known `niveau`,
    `diploma` (ja/nee for mbo) and `birth_year`. When the next year was not delivered nobody can be told
    yet: the Series is empty."""
    empty = pd.Series([], dtype=object, index=pd.Index([], name="person_id"))
    start = int(year[:4])
    following = f"{start + 1}-{start + 2}"
    years = records["school_year"].astype(str)
    if not (years == following).any() or not (years == year).any():
        return empty
    starts = pd.to_numeric(years.str[:4], errors="coerce")
    by_then = (starts <= start).to_numpy()
    qualified = np.zeros(len(records), dtype=bool)
    if "diploma" in records.columns:
        diploma = records["diploma"].astype(str).str.lower()
        level = pd.to_numeric(records["niveau"], errors="coerce") if "niveau" in records.columns else \
            pd.Series(np.nan, index=records.index)
        qualified = (((records["source"] == "mbo") & diploma.eq("ja") & (level >= STARTKWALIFICATIE_MBO))
                     | diploma.isin(["havo", "vwo"])).to_numpy() & by_then
    frame = pd.DataFrame({"person_id": records["person_id"].to_numpy(), "now": (years == year).to_numpy(),
                          "next": (years == following).to_numpy(), "qualified": qualified,
                          "born": pd.to_numeric(records["birth_year"], errors="coerce").to_numpy()
                          if "birth_year" in records.columns else np.nan})
    person = frame.groupby("person_id").agg(now=("now", "any"), next=("next", "any"),
                                             qualified=("qualified", "any"), born=("born", "min"))
    person = person[person["now"]]
    young = person["born"].isna() | (start - person["born"] < VSV_AGE)
    leaver = ~person["next"] & ~person["qualified"] & young
    return leaver.map({True: "ja", False: "nee"}).astype(object)


def first_mbo_year(records: pd.DataFrame) -> pd.Series:
    """Per mbo starter, the school year of their first mbo record when it is in leerjaar 1 (a student first
    seen in a later leerjaar started before the deliveries and is no starter of them); indexed by person_id.
    `records`: vo and mbo records with `person_id`, `school_year`, `source` and `grade`."""
    mbo = records[records["source"] == "mbo"]
    if mbo.empty or "grade" not in mbo.columns:
        return pd.Series([], dtype=object, index=pd.Index([], name="person_id"))
    first = mbo.sort_values("school_year", kind="stable").drop_duplicates("person_id", keep="first")
    grade = first["grade"].astype(object).map(lambda v: None if pd.isna(v) else str(v).strip().removesuffix(".0"))
    first = first[grade.eq("1").to_numpy()]
    return pd.Series(first["school_year"].astype(str).to_numpy(), index=pd.Index(first["person_id"], name="person_id"))


def first_year_early_leavers(records: pd.DataFrame) -> pd.Series:
    """DUO's vsv (`early_leavers`) in the school year of each mbo starter's first mbo year (`first_mbo_year`):
    `ja` when they are in no vo or mbo school a year later and hold no startkwalificatie; absent when the next
    year was not delivered (yet) or the person is no starter of the deliveries."""
    starts = first_mbo_year(records)
    parts = []
    for year in sorted(set(starts)):
        leavers = early_leavers(records, year)
        parts.append(leavers[leavers.index.isin(starts.index[starts == year])])
    return pd.concat(parts) if parts else pd.Series([], dtype=object, index=pd.Index([], name="person_id"))


def first_year_switch(records: pd.DataFrame) -> pd.Series:
    """Switching opleiding in the first mbo year: `ja` when an mbo starter is, on 1 October of the next school
    year, in mbo in another opleiding (crebo) than the first one; `nee` when in the same one, or in no mbo
    opleiding (left: that is vsv or a move to vo, not a switch); absent when the next year's mbo delivery is
    not there (yet) or the person is no starter. `records` as for `first_mbo_year`, with `crebo`."""
    starts = first_mbo_year(records)
    mbo = records[records["source"] == "mbo"]
    if starts.empty or "crebo" not in mbo.columns:
        return pd.Series([], dtype=object, index=pd.Index([], name="person_id"))
    rows = pd.DataFrame({"person_id": mbo["person_id"].to_numpy(), "year": mbo["school_year"].astype(str).to_numpy(),
                         "crebo": mbo["crebo"].to_numpy()})
    rows = rows.merge(starts.rename("start").reset_index(), on="person_id")
    now = rows[rows["year"] == rows["start"]].drop_duplicates("person_id").set_index("person_id")["crebo"]
    after = rows[rows["year"] == rows["start"].map(_next_year)]
    later = after.drop_duplicates("person_id", keep="last").set_index("person_id")["crebo"]
    known = starts.index[starts.map(_next_year).isin(set(mbo["school_year"].astype(str)))]
    then, first = later.reindex(known), now.reindex(known)
    switched = then.notna() & first.notna() & (then.astype(object) != first.astype(object))
    return switched.map({True: "ja", False: "nee"}).astype(object)


def career_column(records: pd.DataFrame, attribute: str, kind: str, value: str | None) -> pd.Series:
    """A career column (`policies.moments`): `career.vsv@year=Y` (`early_leavers`), `career.vsv@first` and
    `career.switch@first` (the first mbo year: `first_year_early_leavers`, `first_year_switch`)."""
    if attribute == "vsv" and kind == "year":
        return early_leavers(records, str(value))
    return first_year_early_leavers(records) if attribute == "vsv" else first_year_switch(records)


def _next_year(year: str) -> str:
    start = int(year[:4])
    return f"{start + 1}-{start + 2}"


def expected_share(background: pd.Series, hit: np.ndarray, known: np.ndarray) -> pd.Series:
    """Indirect standardisation: per person, the percentage meeting an outcome among everyone with a known
    outcome who shares the person's background (e.g. pupil weight), so the mean over a school's pupils is
    the share the school would have if its pupils did as well as all pupils of their background; missing
    where the background is unknown or nobody with it has a known outcome.

    `hit`: the outcome met (bool per person); `known`: the outcome known (hit implies known)."""
    key = background.astype(object).map(lambda v: None if pd.isna(v) or str(v).strip() == "" else str(v))
    frame = pd.DataFrame({"key": key.to_numpy(), "hit": np.asarray(hit, bool), "known": np.asarray(known, bool)})
    counted = frame[frame["known"] & frame["key"].notna()]
    rates = counted.groupby("key")["hit"].mean() * 100.0
    return pd.Series(key.map(rates).astype(float).to_numpy(), index=background.index)


@dataclass(frozen=True)
class Indicator:
    """A named indicator: its inputs (by role), its categories (None: numeric), its computation; an
    indicator over an outcome (`condition`) gets the outcome met and known per person after its inputs."""

    inputs: tuple[str, ...]
    categories: tuple[str, ...] | None
    compute: Callable[..., pd.Series]
    condition: bool = False


INDICATORS: dict[str, Indicator] = {
    "advice_position": Indicator(("advice", "level"), POSITIONS, advice_position),
    "change": Indicator(("first", "second"), None, change),
    "expected_share": Indicator(("background",), None, expected_share, condition=True),
    "level_change": Indicator(("first", "second"), ("down", "same", "up"), level_change),
    "lowest_level": Indicator(("value",), LEVELS, lowest_level_name),
}
