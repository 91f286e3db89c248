"""Release histories: every release protected together with all earlier ones, attacked by an LP over the
release files together (tests/policies/attacker.py, not the code under test)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from policies import joint
from policies.cover import Entry
from policies.disclosure import protect
from policies.release import render
from policies.table import compute_table
from tests.policies.attacker import Attacker, Released, predicate, read_release
from tests.policies.helpers import persons, policy, request

ATTRIBUTE = {"school": "po.brin", "year": "po.school_year", "level": "vo.niveau", "band": "band",
             "gemeente": "po.gemeente"}
HAVO_VWO = {"havo", "vwo"}


def templates(schools: list[str]) -> list[dict]:
    first, rest = schools[0], schools[1:]
    return [
        {"dims": ["school"]},
        {"dims": ["school", "level"], "population": ["po", "vo"]},
        {"dims": ["school", "year"], "measures": ["pupils", "havo_vwo"], "population": ["po", "vo"]},
        {"dims": ["level", "year"], "measures": ["pupils", "havo_vwo"], "population": ["po", "vo"]},
        {"dims": ["gemeente", "band"]},
        {"dims": ["school", "band"], "measures": ["pupils", "havo_vwo"], "population": ["po", "vo"]},
        {"dims": ["year"], "filters": {"school": rest or [first]}},
        {"dims": ["level"], "filters": {"school": [first]}, "population": ["po", "vo"]},
        {"dims": ["year"], "measures": ["pupils", "havo_vwo"], "population": ["po", "vo"],
         "groups": {"one": {"school": [first]}, "gemeente": {"gemeente": ["A"]}, "all": {}}},
        {"dims": ["band", "year"], "measures": ["pupils", "havo_vwo"], "population": ["po", "vo"],
         "filters": {"level": ["havo", "vwo"]}},
        {"dims": ["school", "year", "level"], "population": ["po", "vo"]},
    ]


def make_request(t: dict):
    return request(t["dims"], t.get("measures", ["pupils"]), population=t.get("population", ["po"]),
                   filters=t.get("filters", {}), groups=t.get("groups", {}))


def release_history(frame, pol, chosen: list[dict]):
    """Release the requests one after another, each protected with all earlier ones; refused ones skipped."""
    history: list[Entry] = []
    released: list[Released] = []
    outcomes = []
    for i, t in enumerate(chosen):
        req = make_request(t)
        table = compute_table(frame, req, pol)
        protected = protect(table, pol, history, frame="J")
        outcomes.append(protected)
        if protected.refusal:
            continue
        files = render(protected, {"release_id": f"R{i}"})
        history.append(Entry(f"R{i}", table, pol, protected.published, protected.suppressed, protected.primary,
                             protected.share_primary, "J"))
        released.append(Released(req, pol, files["table.csv"].decode()))
    return history, released, outcomes


def attacker_for(frame) -> Attacker:
    schools = sorted(frame["po.brin"].unique())
    register = dict(zip(frame["po.brin"], frame["po.gemeente"], strict=True))
    domains = {"in_po": ["1"], "in_vo": ["0", "1"], "po.brin": schools, "po.gemeente": ["A", "B"],
               "po.school_year": ["2021-2022", "2022-2023"], "vo.niveau": ["vmbo", "havo", "vwo"],
               "band": ["500-524", "525-550"]}
    return Attacker(domains, allowed=lambda c: register[c["po.brin"]] == c["po.gemeente"])


def attack_history(frame, history: list[Entry], released: list[Released], level: float, threshold: int):
    """Every suppressed count keeps `level` of width (empty groups excepted: the test policy publishes zeros);
    each small side of a hidden share keeps that width or may be 0."""
    attacker = attacker_for(frame)
    members = []
    for rel in released:
        cells = read_release(rel)
        for cell in cells:
            who = attacker.mask(predicate(rel, cell, ATTRIBUTE))
            meets = who * attacker.mask(lambda c: c["vo.niveau"] in HAVO_VWO)
            shown = cell["shown"]
            count = shown.get("pupils")
            if count not in (None, "x", ""):
                attacker.add(who, float(count), float(count))
            share = shown.get("havo_vwo")
            if share not in (None, "x", ""):
                if share.startswith("<"):
                    attacker.add(meets - float(share[1:]) / 100 * who, -np.inf, 0.0)
                elif share.startswith(">"):
                    attacker.add(meets - float(share[1:]) / 100 * who, 0.0, np.inf)
                else:
                    p = float(share)
                    attacker.add(meets - (p - 0.05) / 100 * who, 0.0, np.inf)
                    attacker.add(meets - (p + 0.05) / 100 * who, -np.inf, 0.0)
            elif share == "":
                attacker.add(who, 0.0, 0.0)
            members.append((rel, cell, who, meets))
    narrow = []
    for (rel, cell, who, meets), entry in zip(members, [e for e in history for _ in range(e.table.n_cells)],
                                              strict=True):
        flat = len([1 for m in members[:members.index((rel, cell, who, meets))] if m[0] is rel])
        true = int(entry.table.counts.ravel()[flat])
        shown = cell["shown"]
        if shown.get("pupils") == "x" and true > 0:
            lo, hi = attacker.interval(who)
            if hi - lo < level - 1e-6:
                narrow.append((rel.request.dimensions, cell["key"], "count", lo, hi, true))
        if shown.get("havo_vwo") == "x" and true > 0:
            hits = int(entry.table.numerators["havo_vwo"].ravel()[flat])
            decided = (meets == who).all() or not meets.any()
            if not decided:
                for what, row, value in (("share", meets, hits), ("complement", who - meets, true - hits)):
                    if value == 0 or value >= threshold:
                        continue  # only a small side is sensitive; an empty one is left to the zeros rule
                    lo, hi = attacker.interval(row)
                    if hi - lo < level - 1e-6 and lo > 0.5:  # it may be 0: nobody is known to meet it
                        narrow.append((rel.request.dimensions, cell["key"], what, lo, hi, value))
    return narrow


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(n=st.integers(60, 400), schools=st.integers(2, 6), seed=st.integers(0, 10_000), skew=st.floats(0.5, 3.0),
       picks=st.lists(st.integers(0, 10), min_size=2, max_size=4, unique=True),
       differencing=st.sampled_from(["suppress", "refuse"]))
# a count shown again because an earlier release pins it kept its share, which too few persons missed, hidden
@example(n=60, schools=4, seed=1, skew=1.0, picks=[8, 0, 2], differencing="suppress")
def test_no_suppressed_figure_of_any_release_is_narrowed_by_the_releases_together(n, schools, seed, skew, picks,
                                                                                 differencing):
    frame = persons(n, schools, seed, skew)
    frame["band"] = np.where(frame["po.toets_score"].astype(int) < 525, "500-524", "525-550")
    pol = policy(differencing=differencing)
    chosen = [templates(sorted(frame["po.brin"].unique()))[i] for i in picks]
    history, released, _ = release_history(frame, pol, chosen)
    narrow = attack_history(frame, history, released, pol.disclosure.protection_level,
                            pol.disclosure.min_cell_count)
    assert not narrow, f"narrowed by the releases together: {narrow[:5]}"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(n=st.integers(60, 300), schools=st.integers(2, 5), seed=st.integers(0, 10_000), skew=st.floats(0.5, 3.0),
       picks=st.lists(st.integers(0, 10), min_size=2, max_size=3, unique=True),
       part=st.sampled_from([2, 8, 32, 128]), whole=st.booleans())
@example(n=300, schools=4, seed=5, skew=2.5, picks=[10, 1, 2], part=8, whole=False)  # the two-table attack
def test_widths_proved_in_neighbourhoods_hold_for_the_attacker(n, schools, seed, skew, picks, part, whole):
    """At monitor scale the audit works in neighbourhoods (every other class fixed at its true count), then
    on whole components or wider neighbourhoods (what no new figure binds there on its whole component up to
    EXACT_FALLBACK: see the tests below). Forced on small tables with parts of any size, no suppressed
    figure is narrower for the attacker."""
    frame = persons(n, schools, seed, skew)
    frame["band"] = np.where(frame["po.toets_score"].astype(int) < 525, "500-524", "525-550")
    pol = policy()
    chosen = [templates(sorted(frame["po.brin"].unique()))[i] for i in picks]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(joint, "EXACT_VARIABLES", 0)
        patch.setattr(joint, "LOCAL_PART", part)
        patch.setattr(joint, "WIDE_PART", 4 * part)
        patch.setattr(joint, "EXACT_COMPONENT", 10**9 if whole else 0)
        history, released, _ = release_history(frame, pol, chosen)
    narrow = attack_history(frame, history, released, pol.disclosure.protection_level,
                            pol.disclosure.min_cell_count)
    assert not narrow, f"narrowed by the releases together: {narrow[:5]}"


FOUND = {"n": 281, "schools": 3, "seed": 1, "skew": 1.25, "picks": [1, 10], "part": 2, "whole": False}


def test_an_earlier_figure_the_new_table_pins_beyond_the_wide_neighbourhood_is_caught():
    """Found by hypothesis: in a wide neighbourhood no figure of the later table binds an earlier release's
    hidden count (12 vmbo pupils of a school), yet the later table pins it through classes outside; solved
    on its whole component, it is caught."""
    test_widths_proved_in_neighbourhoods_hold_for_the_attacker.hypothesis.inner_test(**FOUND)


@pytest.mark.xfail(strict=True, reason="known gap (docs/policies.md): beyond EXACT_FALLBACK a failure no figure of "
                   "the new table binds in its wide neighbourhood is taken as an earlier figure left as it was")
def test_beyond_the_fallback_an_earlier_figure_the_new_table_pins_is_missed():
    """The same history with no component solved whole: the approximation left at national scale misses it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(joint, "EXACT_FALLBACK", 0)
        test_widths_proved_in_neighbourhoods_hold_for_the_attacker.hypothesis.inner_test(**FOUND)


def test_the_attacker_finds_what_releases_protected_one_at_a_time_give_away():
    """Without the history, the two-table attack of the issue works: the test can fail."""
    frame = persons(300, 4, seed=5, skew=2.5)
    frame["band"] = np.where(frame["po.toets_score"].astype(int) < 525, "500-524", "525-550")
    pol = policy()
    history, released = [], []
    leaked = False
    for i, t in enumerate([templates(sorted(frame["po.brin"].unique()))[j] for j in (10, 1, 2, 3)]):
        req = make_request(t)
        table = compute_table(frame, req, pol)
        protected = protect(table, pol)  # alone, as before this issue
        history.append(Entry(f"R{i}", table, pol, protected.published, protected.suppressed, protected.primary,
                             protected.share_primary, "J"))
        released.append(Released(req, pol, render(protected, {})["table.csv"].decode()))
        if attack_history(frame, history, released, 10, 10):
            leaked = True
            break
    assert leaked


@pytest.mark.parametrize("differencing", ["suppress", "refuse"])
def test_one_pupil_left_out_by_a_filter_is_not_given_away(differencing):
    """The issue's example: vo level of one school, then vo level x sex of that school for every advice but
    one that a single pupil has."""
    frame = persons(400, 3, seed=1)
    school = sorted(frame["po.brin"].unique())[0]
    frame["advies"] = "havo"
    pupil = frame.index[(frame["po.brin"] == school) & (frame["vo.niveau"] == "vmbo") & frame["in_vo"]][0]
    frame.loc[pupil, "advies"] = "pro"
    text = f"""
{policy_text()}
[dimensions.advice]
column = "advies"
"""
    from policies.policy import load_policy
    pol = load_policy(text, "test")
    pol = pol.model_copy(update={"disclosure": pol.disclosure.model_copy(update={"differencing": differencing})})
    first = request(["level"], population=["po", "vo"], filters={"school": [school]})
    second = request(["level", "year"], population=["po", "vo"], filters={"school": [school], "advice": ["havo"]})
    t1 = compute_table(frame, first, pol)
    p1 = protect(t1, pol)
    history = [Entry("R1", t1, pol, p1.published, p1.suppressed, p1.primary, p1.share_primary, "J")]
    t2 = compute_table(frame, second, pol)
    p2 = protect(t2, pol, history, frame="J")
    if differencing == "refuse":
        assert p2.refusal and "R1" in p2.refusal and "R1" in p2.constrained_by
        return
    assert p2.refusal is None
    vmbo = t1.categories[0].index("vmbo")
    shown_first = p1.published["pupils"][(0, vmbo)]
    shown_second = p2.published["pupils"][(0, vmbo, len(t2.categories[1]))]
    assert not (isinstance(shown_first, int) and isinstance(shown_second, int)
                and shown_first - shown_second == 1)


def policy_text() -> str:
    from tests.policies.helpers import POLICY
    return POLICY
