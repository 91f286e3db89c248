"""The demo's release history through the CLI: attacked together, verified for ever, kept apart from researchers."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.policies.attacker import Attacker

OPS, OFFICER, RESEARCHER = "operator1", "officer1", "researcher1"
EXAMPLES = Path(__file__).resolve().parents[2] / "policies" / "examples"
# the demo's school tables: everything they group by, and the value each attribute takes when missing
ATTRIBUTES = {"school": "po.brin@grade=8", "advice": "po.advies@grade=8", "vo_level": "vo.niveau@grade=3",
              "sex": "po.sex", "weight": "po.gewicht"}
SHARE = "% havo/vwo in leerjaar 3"
NONE = "(none)"


def persons_of(env, job_id: str):
    """The persons frame of a job (the test's own look at the truth, to know which groups are empty)."""
    from sqlalchemy import select

    from ttp import db
    from ttp.app import App
    from ttp.persons import build_persons
    from ttp.settings import resolve

    os.environ["TTP_PASSPHRASE"] = env.passphrase
    app = App(settings=resolve(env.data_dir, env.database_url))
    with app.session() as session:
        job = session.scalars(select(db.Job).where(db.Job.id == job_id)).one()
        return build_persons(app, session, job, list(ATTRIBUTES.values()))


def school_releases(summary: dict) -> list[dict]:
    """The demo's school tables over the attributes above (the others group by cohort and indicator)."""
    out = []
    for h in summary["history"]:
        assert h["release_id"], h
        folder = Path(h["release_dir"])
        if not set(json.loads((folder / "metadata.json").read_text(encoding="utf-8"))["request"]["dimensions"]) \
                <= set(ATTRIBUTES):
            continue
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        rows = list(csv.reader(io.StringIO((folder / "table.csv").read_text(encoding="utf-8"))))
        out.append({"meta": meta, "rows": rows})
    return out


def labels_of(frame, column: str) -> np.ndarray:
    from policies.conditions import as_text

    return as_text(frame[column]).fillna(NONE).to_numpy(dtype=object)


def test_the_demo_history_withstands_an_lp_attack_over_all_its_files_together(demo_env):
    env, summary = demo_env
    releases = school_releases(summary)
    assert len(releases) == 2 and all(r["meta"]["suppressed_cells"] > 0 for r in releases)
    frame = persons_of(env, summary["job_id"])
    people = frame[frame["in_po"].fillna(False).astype(bool) & frame["in_vo"].fillna(False).astype(bool)]
    values = {a: labels_of(people, c) for a, c in ATTRIBUTES.items()}
    domains = {a: sorted(set(v)) for a, v in values.items()}
    attacker = Attacker(domains)
    truth = {}
    for combo, n in zip(*np.unique(np.stack([values[a] for a in ATTRIBUTES], axis=1).astype(str), axis=0,
                                   return_counts=True), strict=True):
        truth[tuple(combo)] = int(n)
    true_x = np.array([truth.get(tuple(c[a] for a in ATTRIBUTES), 0) for c in attacker.combos], dtype=float)
    cells = []
    for release in releases:
        dims = release["meta"]["request"]["dimensions"]
        header, body = release["rows"][0], [r for r in release["rows"][1:1 + release["meta"]["cells"]]]
        for row in body:
            key = dict(zip(dims, row[:len(dims)], strict=True))
            shown = dict(zip(header[len(dims):], row[len(dims):], strict=True))
            who = attacker.mask(lambda c, key=key: all(v == "Total" and c[d] != NONE or c[d] == v
                                                       for d, v in key.items()))
            meets = who * attacker.mask(lambda c: c["vo_level"] in ("havo", "vwo"))
            count, share = shown.get("Pupils"), shown.get(SHARE)
            if count not in (None, "x"):
                attacker.add(who, float(count), float(count))
            if share not in (None, "x", ""):
                if share[0] in "<>":
                    bound = float(share[1:]) / 100
                    attacker.add(meets - bound * who, *((-np.inf, 0.0) if share[0] == "<" else (0.0, np.inf)))
                else:
                    p = float(share)
                    attacker.add(meets - (p - 0.05) / 100 * who, 0.0, np.inf)
                    attacker.add(meets - (p + 0.05) / 100 * who, -np.inf, 0.0)
            cells.append((dims, key, count, share, who, meets))
    narrow = []
    for dims, key, count, share, who, meets in cells:
        true = float(who @ true_x)
        if count == "x" and true > 0:
            lo, hi = attacker.interval(who)
            assert lo - 1e-6 <= true <= hi + 1e-6
            if hi - lo < 10 - 1e-6:
                narrow.append((dims, key, "count", lo, hi))
        if share == "x" and "vo_level" not in dims:
            for what, row in (("meeting", meets), ("missing", who - meets)):
                size = float(row @ true_x)
                if 0 < size < 10:
                    lo, hi = attacker.interval(row)
                    if hi - lo < 10 - 1e-6 and lo > 0.5:
                        narrow.append((dims, key, what, lo, hi))
    assert not narrow, f"{len(narrow)} hidden figures narrowed by the files together, e.g. {narrow[:3]}"


def test_every_release_verifies_after_a_policy_change_and_a_key_rotation(demo_env, tmp_path):
    env, summary = demo_env
    text = (EXAMPLES / "monitor.toml").read_text(encoding="utf-8")
    changed = tmp_path / "monitor.toml"
    changed.write_text(text.replace("max_cells = 10000", "max_cells = 9000"), encoding="utf-8")
    assert env.run("--as", OFFICER, "policy", "add", str(changed)).exit_code == 0
    assert env.run("--as", "officer2", "policy", "approve", "monitor", "2").exit_code == 0
    assert env.run("--as", OPS, "keys", "rotate", "--purpose", "payload").exit_code == 0
    assert env.run("--as", OPS, "keys", "rotate", "--purpose", "audit-signing").exit_code == 0
    request = tmp_path / "by_school.toml"
    request.write_text('policy = "monitor"\npurpose = "pupils per school"\npopulation = ["po"]\n'
                       'dimensions = ["school"]\nmeasures = ["pupils"]\n', encoding="utf-8")
    submitted = json.loads(env.run("--as", RESEARCHER, "request", "submit", str(request), "--json").stdout)
    assert submitted["status"] == "checked", submitted
    rid = submitted["request_id"]
    assert env.run("--as", OFFICER, "request", "approve", rid, "--reason", "ok").exit_code == 0
    made = env.run("--as", OPS, "release", rid, "--out", str(tmp_path / "out"), "--json")
    assert made.exit_code == 0, made.output
    listed = json.loads(env.run("--as", OFFICER, "release", "list", "--json").stdout)["releases"]
    assert len(listed) >= 6 and [r["seq"] for r in listed] == sorted(r["seq"] for r in listed)
    verified = env.run("--as", OFFICER, "release", "verify", "--all", "--json")
    assert verified.exit_code == 0, verified.output
    results = json.loads(verified.stdout)["releases"]
    assert len(results) == len(listed) and all(r["reproduced"] for r in results)
    assert results[-1]["how"].startswith(f"recomputed with the {len(listed) - 1} release(s) before it")
    lines = env.run("--as", OFFICER, "release", "verify", "--all").stdout.strip().splitlines()
    assert len(lines) == len(listed) and all("reproduces byte for byte" in line for line in lines)


def test_the_first_release_still_verifies_after_later_ones(demo_env):
    env, summary = demo_env
    first = env.run("--as", OFFICER, "release", "verify", summary["release_id"])
    assert first.exit_code == 0 and "reproduces byte for byte" in first.stdout, first.output


def test_a_researcher_never_learns_why_a_cell_is_hidden_or_which_other_releases_exist(demo_env):
    env, summary = demo_env
    for h in summary["history"]:
        folder = Path(h["release_dir"])
        everything = b"".join(p.read_bytes() for p in folder.iterdir())
        for reason in (b"primary:", b"secondary:", b"fewer than", b"protects", b"hidden as in"):
            assert reason not in everything, reason
        others = [o["release_id"] for o in summary["history"] if o["release_id"] != h["release_id"]]
        assert not any(o.encode() in everything for o in others + [summary["release_id"]])
    rel = summary["history"][0]["release_id"]
    as_researcher = env.run("--as", RESEARCHER, "release", "show", rel, "--json")
    assert as_researcher.exit_code == 0 and "suppressions" not in json.loads(as_researcher.stdout)
    as_officer = json.loads(env.run("--as", OFFICER, "release", "show", rel, "--json").stdout)
    assert as_officer["suppressions"] and all(s["reason"].startswith(("primary", "secondary"))
                                              for s in as_officer["suppressions"])


def test_release_verify_needs_one_release_or_all(demo_env):
    env, _ = demo_env
    neither = env.run("--as", OFFICER, "release", "verify")
    assert neither.exit_code == 2 and "--all" in neither.stderr
    unknown = env.run("--as", OFFICER, "release", "verify", "rel_000000000000")
    assert unknown.exit_code == 1 and len(unknown.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("who", [OPS])
def test_two_releases_cannot_take_the_same_place_in_the_history(demo_env, who):
    env, _ = demo_env
    from sqlalchemy import create_engine, select, update
    from sqlalchemy.exc import IntegrityError

    from ttp import db

    engine = create_engine(env.database_url)
    with engine.begin() as conn:
        seqs = [r.seq for r in conn.execute(select(db.Release.seq))]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(update(db.Release).where(db.Release.seq == max(seqs)).values(seq=min(seqs)))
    engine.dispose()


def test_a_release_made_before_joint_protection_still_counts_and_verifies(demo_env, tmp_path):
    """An installation upgraded from the first ttp: its releases' records have no published values; they
    are read back from their table.csv for later checks and verified against their recorded sums."""
    env, summary = demo_env
    from sqlalchemy import create_engine, update

    from ttp import db

    engine = create_engine(env.database_url)
    with engine.begin() as conn:  # the first format: definition and true counts only
        conn.execute(update(db.Release).where(db.Release.id == summary["release_id"])
                     .values(released_table={"release_id": summary["release_id"], "policy": "monitor",
                                             "population": ["vve", "po", "vo"], "dimensions": ["vve"],
                                             "cells": []}))
    engine.dispose()
    verified = env.run("--as", OFFICER, "release", "verify", "--all")
    assert verified.exit_code == 0, verified.output
    first = next(line for line in verified.stdout.splitlines() if summary["release_id"] in line)
    assert "recorded sums" in first and "reproduces" in first
    request = tmp_path / "vve.toml"
    request.write_text('policy = "monitor"\npurpose = "VVE by year again"\npopulation = ["vve", "po", "vo"]\n'
                       'dimensions = ["vve", "school_year"]\nmeasures = ["pupils"]\n', encoding="utf-8")
    submitted = env.run("--as", RESEARCHER, "request", "submit", str(request), "--json")
    assert submitted.exit_code == 0 and json.loads(submitted.stdout)["status"] == "checked", submitted.output
