"""Releases go on after retention deleted the link jobs earlier releases were made from (those leave the joint
history, and verify by their sums), and after it removed the files of earlier releases and of the delivery
to CBS."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "policies" / "examples"
LATER = (dt.date.today() + dt.timedelta(days=800)).isoformat()


@pytest.fixture(scope="module")
def demo(demo_env):
    env, summary = demo_env
    tokens = {line.split()[0]: line.split()[2] for line in
              (env.data_dir / "demo-tokens").read_text().splitlines() if line.strip()}
    return env, summary, tokens


def run(env, tokens, user: str, *args: str):
    return env.run(*args, env={"TTP_TOKEN": tokens[user]})


def retention_in_force(env, tokens, tmp_path: Path, version: int, text: str) -> dict:
    """The monitor policy with a [retention] section, in force (two officers), applied on LATER."""
    (tmp_path / str(version)).mkdir()
    policy = tmp_path / str(version) / "monitor.toml"
    policy.write_text((EXAMPLES / "monitor.toml").read_text(encoding="utf-8") + text, encoding="utf-8")
    assert run(env, tokens, "officer1", "policy", "add", str(policy)).exit_code == 0
    approved = run(env, tokens, "officer2", "policy", "approve", "monitor", str(version))
    assert approved.exit_code == 0, approved.output
    applied = run(env, tokens, "operator1", "retention", "apply", "--as-of", LATER, "--json")
    assert applied.exit_code == 0, applied.output
    return json.loads(applied.stdout)


def release_again(env, tokens, out: Path) -> None:
    request = EXAMPLES / "requests" / "school_advice_havo_vwo.toml"
    submitted = run(env, tokens, "researcher1", "request", "submit", str(request), "--json")
    assert submitted.exit_code == 0, submitted.output
    request_id = json.loads(submitted.stdout)["request_id"]
    assert run(env, tokens, "officer1", "request", "approve", request_id, "--reason", "after retention").exit_code == 0
    released = run(env, tokens, "operator1", "release", "make", request_id, "--out", str(out))
    assert released.exit_code == 0, released.output


def verify_all(env, tokens) -> list[dict]:
    verified = run(env, tokens, "officer1", "release", "verify", "--all", "--json")
    assert verified.exit_code == 0, verified.output
    return json.loads(verified.stdout)["releases"]


def test_releases_go_on_after_retention_deleted_jobs_and_then_release_files(demo, tmp_path):
    env, summary, tokens = demo
    before = json.loads(run(env, tokens, "officer1", "release", "list", "--json").stdout)
    listed = {r["release_id"] for r in before["releases"]}
    assert listed, "the demo made releases"

    deleted = retention_in_force(env, tokens, tmp_path, 2, '\n[retention.sources]\nvve = "1y"\n')
    assert deleted["jobs"], "the demo's jobs were made from vve batches: retention deletes them"
    assert deleted["releases"] == [] and deleted["recipient_releases"] == []
    linked = run(env, tokens, "operator1", "link", "run", "po", "vo", "mbo", "--json")
    assert linked.exit_code == 0, linked.output
    release_again(env, tokens, tmp_path / "one")
    results = verify_all(env, tokens)
    assert all(r["reproduced"] for r in results), results
    old = [r for r in results if r["release_id"] in listed]
    assert old and all("retention" in r["how"] and "not recomputed" in r["how"] for r in old)
    assert "recomputed with" in results[-1]["how"], "the new release is recomputed with what is left of the history"

    removed = retention_in_force(env, tokens, tmp_path, 3, '\n[retention]\nreleases = "2y"\n')
    gone_ids = {r["release_id"] for r in removed["releases"]}
    assert listed < gone_ids and len(gone_ids) == len(listed) + 1, "all made today, so past 2 years on LATER"
    delivery = next(r for r in before["recipient_releases"] if r["kind"] == "delivery")
    assert [r["release_id"] for r in removed["recipient_releases"]] == [delivery["release_id"]], \
        "the microdata delivery to CBS follows its request's policy"
    assert not any((env.data_dir / "releases" / r).exists() for r in [*listed, delivery["release_id"]])
    routed = json.loads(run(env, tokens, "officer1", "release", "list", "--json").stdout)["recipient_releases"]
    assert next(r for r in routed if r["release_id"] == delivery["release_id"])["files_removed"]
    release_again(env, tokens, tmp_path / "two")
    results = verify_all(env, tokens)
    gone = [r for r in results if r["release_id"] in gone_ids]
    assert gone and all(r["reproduced"] is None and "removed by retention" in r["how"] for r in gone)
    assert results[-1]["reproduced"] is True
