"""Every shipped example request is submitted, approved and released on the demo (without the demo's
release history, and each on its own copy of the installation: how examples fare together is the history
tests' subject), with a table that says something: at least one figure shown that is not zero."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import Env

REQUESTS = Path(__file__).resolve().parents[2] / "policies" / "examples" / "requests"
EXAMPLES = sorted(p.name for p in REQUESTS.glob("*.toml"))
COHORT = 40  # pupils per year group (3 po schools): small, so suppression is at work
# Examples whose groups this small demo cannot fill: released, every figure checked, but all may be hidden or 0.
# The mbo round by advice counts only starters whose primary school delivered an advice: on the demo only its
# last two cohorts reach mbo, a handful per institution (docs/feedback.md).
TOO_FEW = {"feedback_round_mbo_advice.toml"}


@pytest.fixture(scope="module")
def demo_copyable(tmp_path_factory):
    """A demo installation on SQLite (a file, so each example can have a copy of it)."""
    base = tmp_path_factory.mktemp("examples")
    env = Env(data_dir=base / "data", database_url=f"sqlite:///{base / 'data' / 'ttp.db'}")
    env.data_dir.mkdir()
    result = env.run("--data-dir", str(env.data_dir), "demo", "--cohort", str(COHORT), "--no-history", "--no-feedback",
                     "--json")
    assert result.exit_code == 0, result.output
    return env


def test_the_examples_are_there():
    assert len(EXAMPLES) >= 12
    assert {"advice_position_school_trend.toml", "test_growth_by_vve.toml", "vsv_by_mbo_level.toml",
            "advice_position_pooled.toml"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_request_releases_a_table_with_content(demo_copyable, tmp_path, name):
    data = tmp_path / "data"
    shutil.copytree(demo_copyable.data_dir, data)
    env = Env(data_dir=data, database_url=f"sqlite:///{data / 'ttp.db'}")
    submitted = env.run("--as", "researcher1", "request", "submit", str(REQUESTS / name), "--json")
    assert submitted.exit_code == 0, submitted.output
    request = json.loads(submitted.stdout)
    assert request["status"] == "checked", request
    approved = env.run("--as", "officer1", "request", "approve", request["request_id"], "--reason", "example")
    assert approved.exit_code == 0, approved.output
    released = env.run("--as", "operator1", "release", request["request_id"], "--out", str(tmp_path / "r"), "--json")
    assert released.exit_code == 0, released.output
    doc = json.loads(released.stdout)
    # a round writes a folder per table (each a release of its own), a plain request its table
    folders = [tmp_path / "r" / t["table"] for t in doc["tables"]] if doc.get("kind") == "round" else [tmp_path / "r"]
    for folder in folders:
        text = (folder / "table.csv").read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(text.split("\n\n")[0])))  # the table, without the note under it
        measures = len(json.loads((folder / "metadata.json").read_text(encoding="utf-8"))["request"]["measures"])
        figures = [cell for row in rows[1:] for cell in row[-measures:]]
        shown = [_number(cell) for cell in figures if _number(cell) is not None]
        assert figures, f"{name} {folder.name}: an empty table"
        if name in TOO_FEW:
            assert all(cell in ("x", "") or cell[:1] in "<>" or _number(cell) is not None for cell in figures)
            continue
        assert shown, f"{name} {folder.name}: every figure is suppressed"
        assert any(shown), f"{name} {folder.name}: every figure shown is zero"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
