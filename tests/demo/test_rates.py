"""The cohort's error rates and payload correlations, measured on the files against the true population."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict

import pytest

from tests.demo.exports import read_csv, read_po, read_truth
from ttp.demo import generate_cohort
from ttp.demo.names import strip_diacritics
from ttp.demo.population import build_population

PERSONS, SEED = 5000, 3


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Files, truth and the true population (rebuilt from the same seed) for one cohort."""
    out = tmp_path_factory.mktemp("rates")
    summary = generate_cohort(out, persons=PERSONS, seed=SEED)
    people = {p.entity_id: p for p in build_population(PERSONS, SEED).persons}
    truth = read_truth(out)
    entity = {(t["source"], t["school"], t["record_key"]): t["entity_id"] for t in truth if t["record_key"]}
    return out, summary, people, truth, entity


def _records(world, source):
    """(true person, written row) for every keyed record of a source, with profile field names resolved."""
    out, _, people, _, entity = world
    if source == "po":
        rows = read_po(out)
        fields = {"record_key": "key", "family_name": "achternaam", "name_prefix": "voorvoegsel",
                  "given_names": "voornamen", "preferred_name": "roepnaam", "birth_date": "geboortedatum",
                  "sex": "geslacht", "postcode": "postcodenl", "bsn": "bsn"}
        pairs = [(people[entity["po", r["school"], r["key"]]], r) for r in rows]
        return pairs, fields, "%Y-%m-%d", {"1": "M", "2": "F"}
    prof, rows = read_csv(out, source)
    fields = prof["fields"]
    pairs = [(people[entity[source, "", r[fields["record_key"]]]], r) for r in rows if r[fields["record_key"]]]
    return pairs, fields, prof["date_format"], prof.get("sex_codes", {})


def _share(hits, total):
    assert total > 0
    return hits / total


def test_who_is_in_which_source(world):
    _, summary, people, truth, _ = world
    cohort = list(people.values())
    per_source = defaultdict(set)
    for t in truth:
        per_source[t["source"]].add(t["entity_id"])
    assert 0.66 <= _share(len(per_source["vve"]), len(cohort)) <= 0.74
    assert len(per_source["po"]) == len(cohort)
    assert 0.87 <= _share(len(per_source["vo"]), len(cohort)) <= 0.93
    assert 0.35 <= _share(len(per_source["mbo"]), len(cohort)) <= 0.45
    assert set(per_source) == {"vve", "po", "vo", "mbo"}  # NCO is not a source: its data stay at CBS
    po_records = Counter(t["entity_id"] for t in truth if t["source"] == "po")
    assert 0.035 <= _share(sum(n == 2 for n in po_records.values()), len(cohort)) <= 0.065
    assert 0.015 <= _share(summary.twins, len(people)) <= 0.026


def test_twins_share_birth_date_surname_and_address_but_not_names_or_bsn(world):
    _, _, people, truth, _ = world
    twins = {t["entity_id"]: t["twin_of"] for t in truth if t["twin_of"]}
    assert twins and all(twins.get(b) == a for a, b in twins.items())
    for a, b in twins.items():
        pa, pb = people[a], people[b]
        assert (pa.birth_date, pa.family, pa.addresses["po"]) == (pb.birth_date, pb.family, pb.addresses["po"])
        assert pa.given.roepnaam != pb.given.roepnaam
        assert pa.bsn is None or pa.bsn != pb.bsn


def test_name_errors_at_about_the_asked_rates(world):
    pairs, fields, _, _ = _records(world, "vo")
    pairs += _records(world, "po")[0]
    pairs += _records(world, "mbo")[0]
    long_names = [(p, r) for p, r in pairs if " ".join(p.given.names) != p.given.roepnaam]
    as_roepnaam = sum(strip_diacritics(r.get("voornamen") or r.get("Officiële voornamen") or r["Voornamen"])
                      == strip_diacritics(p.given.roepnaam) for p, r in long_names)
    assert 0.25 <= _share(as_roepnaam, len(long_names)) <= 0.35
    accented = [(p, r) for p, r in pairs if not p.given.roepnaam.isascii()]
    stripped = sum((r.get("roepnaam") or r["Roepnaam"]).isascii() for _, r in accented)
    assert 0.10 <= _share(stripped, len(accented)) <= 0.20
    vo, fields, _, _ = _records(world, "vo")
    with_prefix = [(p, r) for p, r in vo if p.family.prefix]
    moved_prefix = sum(not r[fields["name_prefix"]] for _, r in with_prefix)
    assert 0.14 <= _share(moved_prefix, len(with_prefix)) <= 0.26
    doubles = [(p, r) for p, r in pairs if p.family.short]
    shortened = sum(p.family.short in (r.get("achternaam") or r["Achternaam"]) and "-" not in
                    (r.get("achternaam") or r["Achternaam"]) for p, r in doubles)
    assert 0.15 <= _share(shortened, len(doubles)) <= 0.45
    plain = [(p, r) for p, r in vo if not p.family.prefix and not p.family.short]
    typos = sum(strip_diacritics(r[fields["family_name"]]) != strip_diacritics(p.family.surname) for p, r in plain)
    assert 0.025 <= _share(typos, len(plain)) <= 0.06


def test_date_sex_postcode_and_identifier_errors(world):
    swapped = off = total = wrong_sex = 0
    for source in ("vve", "po", "vo", "mbo"):
        pairs, fields, date_format, sex_codes = _records(world, source)
        for p, r in pairs:
            try:
                written = dt.datetime.strptime(r[fields["birth_date"]], date_format).date()
            except ValueError:
                continue
            total += 1
            born = p.birth_date
            swapped += born.day <= 12 and written == dt.date(born.year, born.day, born.month) != born
            off += written != p.birth_date
            wrong_sex += sex_codes.get(r.get(fields["sex"], ""), "") != p.sex
    assert 0.005 <= swapped / total <= 0.016
    assert 0.018 <= off / total <= 0.033
    assert 0.005 <= wrong_sex / total <= 0.016
    po = {p.entity_id: r for p, r in _records(world, "po")[0] if r.get("uitstroomdatum") is None}
    vo, fields, _, _ = _records(world, "vo")
    both = [(po[p.entity_id]["postcodenl"], r[fields["postcode"]]) for p, r in vo if p.entity_id in po]
    moved = sum(a != b for a, b in both)
    assert 0.16 <= _share(moved, len(both)) <= 0.25
    vve, fields, _, _ = _records(world, "vve")
    has_bsn = [r for p, r in vve if p.bsn]
    assert 0.25 <= _share(sum(not r[fields["bsn"]] for r in has_bsn), len(has_bsn)) <= 0.35
    assert 0.01 <= _share(sum(bool(r["Onderwijsnummer"]) for _, r in vo), len(vo)) <= 0.035


def test_payload_is_correlated_the_way_real_data_is(world):
    out = world[0]
    entity = world[4]
    pupils = read_po(out)
    weight = {entity["po", p["school"], p["key"]]: p["gewicht_nieuw"] for p in pupils}
    prof, vve = read_csv(out, "vve")
    indicated = defaultdict(list)
    for r in vve:
        if r["KindID"]:
            indicated[weight[entity["vve", "", r["KindID"]]] != "0"].append(r["VVE-indicatie"] == "Ja")
    assert statistics.mean(indicated[True]) > 2 * statistics.mean(indicated[False])
    prof, toets = read_csv(out, "po_toets")
    advice_of = {}
    scores = defaultdict(list)
    for r in toets:
        advice = prof["attribute_codes"]["advies"][r["Schooladvies"]]
        advice_of[entity["po", r["Vestiging"], r["Leerlingnummer"]]] = advice
        if r["Score eindtoets"]:
            assert 501 <= int(r["Score eindtoets"]) <= 550
            scores[advice].append(int(r["Score eindtoets"]))
    means = [statistics.mean(scores[a]) for a in ("vmbo-b", "vmbo-k", "vmbo-gt", "havo", "vwo")]
    assert means == sorted(means)
    prof, vo = read_csv(out, "vo")
    level = {entity["vo", "", r["Stamnr"]]: prof["attribute_codes"]["niveau"][r["Niveau"]] for r in vo if r["Stamnr"]}
    agree = [advice_of[e] == lvl or lvl in advice_of[e].split("/") for e, lvl in level.items() if e in advice_of]
    assert statistics.mean(agree) > 0.7
    prof, mbo = read_csv(out, "mbo")
    dropout = defaultdict(list)
    for r in mbo:
        dropout[r["Niveau"]].append(r["Uitgeschreven zonder diploma"] == "Ja")
    assert statistics.mean(dropout["Niveau 1"] + dropout["Niveau 2"]) > statistics.mean(dropout["Niveau 4"])
