"""Deliveries over the years: next year's export under the same file name links; a corrected delivery of
the same year is refused until the operator says it supersedes the earlier batch; person ids stay."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ttp.demo.generate import generate_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    generate_cohort(out, persons=300, seed=11)
    return out


def delivery(cohort: Path, folder: Path, year: str | None = None, fix_row: bool = False) -> tuple[Path, Path]:
    """vo.csv again, under the same file name: a year later (leerjaar + 1), or the same year corrected."""
    folder.mkdir()
    lines = (cohort / "vo.csv").read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(";")
    grade = header.index("Leerjaar")
    out = [lines[0]]
    for i, line in enumerate(lines[1:]):
        cells = line.split(";")
        if year and len(cells) == len(header) and cells[grade].isdigit():
            cells[grade] = str(int(cells[grade]) + 1)
        if fix_row and i == 0:
            cells[header.index("Roepnaam")] += "x"  # a corrected row: the content differs
        out.append(";".join(cells))
    (folder / "vo.csv").write_text("\ufeff" + "\n".join(out) + "\n", encoding="utf-8")
    profile = (cohort / "vo.toml").read_text(encoding="utf-8")
    if year:
        profile = profile.replace('school_year = "2021-2022"', f'school_year = "{year}"')
    (folder / "vo.toml").write_text(profile, encoding="utf-8")
    return folder / "vo.csv", folder / "vo.toml"


def ingest(env, csv: Path, profile: Path, source: str = "vo") -> dict:
    result = env.run("--as", "olga", "ingest", str(csv), "--source", source, "--profile", str(profile), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def link(env) -> dict:
    result = env.run("--as", "olga", "link", "run", "po", "vo", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def person_of(env, job_id: str) -> dict[str, str]:
    frame = pq.read_table(env.data_dir / "jobs" / job_id / "person_map.parquet").to_pandas()
    return dict(zip(frame["record_id"], frame["person_id"], strict=True))


def test_next_years_export_under_the_same_name_links_and_keeps_person_ids(installed, cohort, tmp_path):
    env = installed
    po = env.run("--as", "olga", "ingest", str(cohort / "po"), "--source", "po", "--format", "edexml")
    assert po.exit_code == 0, po.output
    first = ingest(env, cohort / "vo.csv", cohort / "vo.toml")
    job1 = link(env)
    second = ingest(env, *delivery(cohort, tmp_path / "2022", year="2022-2023"))
    assert second["accepted"] == first["accepted"]
    job2 = link(env)
    assert job2["records"] == job1["records"] + second["accepted"]
    before, after = person_of(env, job1["job_id"]), person_of(env, job2["job_id"])
    kept = sum(after[r] == p for r, p in before.items())
    assert kept >= 0.99 * len(before), (kept, len(before))  # the new year joins the persons already known
    assert job2["persons"] <= job1["persons"] * 1.01


def test_a_corrected_delivery_waits_for_supersede_and_the_old_batch_leaves_the_links(installed, cohort, tmp_path):
    env = installed
    assert env.run("--as", "olga", "ingest", str(cohort / "po"), "--source", "po", "--format", "edexml").exit_code == 0
    old = ingest(env, cohort / "vo.csv", cohort / "vo.toml")["batch_id"]
    new = ingest(env, *delivery(cohort, tmp_path / "fixed", fix_row=True))["batch_id"]
    refused = env.run("--as", "olga", "link", "run", "po", "vo")
    assert refused.exit_code == 1
    assert refused.stderr.strip() == refused.stderr.strip().splitlines()[0]  # one line
    assert f"ttp batches supersede {old} {new}" in refused.stderr
    for args, words in ((("nope", new), "unknown batch 'nope'"), ((old, old), "itself")):
        bad = env.run("--as", "olga", "batches", "supersede", *args)
        assert bad.exit_code == 1 and words in bad.stderr and "Traceback" not in bad.output
    rosa = env.run("--as", "rosa", "batches", "supersede", old, new)
    assert rosa.exit_code == 1 and "operator" in rosa.stderr
    done = env.run("--as", "olga", "batches", "supersede", old, new, "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"batch_id": old, "superseded_by": new, "source": "vo",
                                       "school_year": "2021-2022"}
    again = env.run("--as", "olga", "batches", "supersede", old, new)
    assert again.exit_code == 1 and "superseded already" in again.stderr
    job = link(env)
    batches = json.loads(env.run("--as", "olga", "batches", "list", "--json").stdout)["batches"]
    listed = {b["batch_id"]: b for b in batches}
    assert listed[old]["superseded_by"] == new and listed[new]["superseded_by"] is None
    in_force = sum(b["accepted"] for b in batches if b["source"] in ("po", "vo") and not b["superseded_by"])
    assert job["records"] == in_force  # the superseded batch is not in the job
    events = json.loads(env.run("--as", "olga", "audit", "show", "--action", "batches.supersede", "--json").stdout)
    assert [(e["outcome"], e["details"].get("superseded_by")) for e in events["events"]
            if e["outcome"] == "ok"] == [("ok", new)]


def test_a_new_school_year_of_the_region_keeps_person_ids_and_links_well(installed, tmp_path):
    """The demo region year by year: link seven years, add the eighth, link again."""
    from ttp.demo.region import YEARS, generate_region

    env = installed
    region = generate_region(tmp_path / "region", cohort=20, seed=3)

    def deliver(wanted):
        for year, source, rel in region.deliveries:
            if not wanted(year, source) or "correction" in rel:
                continue
            args = (["--format", "edexml"] if source == "po"
                    else ["--profile", str(region.out_dir / f"{source}.toml")])
            done = env.run("--as", "olga", "ingest", str(region.out_dir / rel), "--source", source, *args)
            assert done.exit_code == 0, done.output

    deliver(lambda year, source: year != YEARS[-1])
    sources = ("vve", "po", "vo", "mbo")
    linked = env.run("--as", "olga", "link", "run", *sources, "--json")
    assert linked.exit_code == 0, linked.output
    first = json.loads(linked.stdout)
    deliver(lambda year, source: year == YEARS[-1])
    second = json.loads(env.run("--as", "olga", "link", "run", *sources, "--json").stdout)
    before, after = person_of(env, first["job_id"]), person_of(env, second["job_id"])
    kept = sum(after[r] == p for r, p in before.items())
    assert kept >= 0.99 * len(before), (kept, len(before))
    scores = json.loads(env.run("--as", "olga", "link", "evaluate", second["job_id"], "--labels",
                                str(region.out_dir / "truth.csv"), "--json").stdout)
    assert scores["f1"] >= 0.99, scores["f1"]
    within = {pair: v for pair, v in scores["by_source_pair"].items() if pair in ("po|po", "vo|vo", "mbo|mbo")}
    assert within and all(v["f1"] >= 0.98 for v in within.values()), within  # several records a pupil
