"""Releases go on after retention deleted the link jobs earlier releases were made from: those leave the joint
history, every release still verifies (against its sums where its history can no longer be rebuilt)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "policies" / "examples"


@pytest.fixture(scope="module")
def demo(demo_env):
    env, summary = demo_env
    tokens = {line.split()[0]: line.split()[2] for line in
              (env.data_dir / "demo-tokens").read_text().splitlines() if line.strip()}
    return env, summary, tokens


def run(env, tokens, user: str, *args: str):
    return env.run(*args, env={"TTP_TOKEN": tokens[user]})


def test_a_release_after_retention_deleted_the_jobs_of_earlier_releases(demo, tmp_path):
    env, summary, tokens = demo
    policy = tmp_path / "monitor.toml"
    policy.write_text((EXAMPLES / "monitor.toml").read_text(encoding="utf-8")
                      + '\n[retention.sources]\nvve = "1y"\n', encoding="utf-8")
    assert run(env, tokens, "officer1", "policy", "add", str(policy)).exit_code == 0
    approved = run(env, tokens, "officer2", "policy", "approve", "monitor", "2")
    assert approved.exit_code == 0, approved.output
    later = (dt.date.today() + dt.timedelta(days=800)).isoformat()
    applied = run(env, tokens, "operator1", "retention", "apply", "--as-of", later, "--json")
    assert applied.exit_code == 0, applied.output
    deleted = json.loads(applied.stdout)
    assert deleted["jobs"], "the demo's jobs were made from vve batches: retention deletes them"
    listed = json.loads(run(env, tokens, "officer1", "release", "list", "--json").stdout)["releases"]
    assert listed, "the demo made releases from those jobs"

    linked = run(env, tokens, "operator1", "link", "run", "po", "vo", "mbo", "--json")
    assert linked.exit_code == 0, linked.output
    request = EXAMPLES / "requests" / "school_advice_havo_vwo.toml"
    submitted = run(env, tokens, "researcher1", "request", "submit", str(request), "--json")
    assert submitted.exit_code == 0, submitted.output
    request_id = json.loads(submitted.stdout)["request_id"]
    assert run(env, tokens, "officer1", "request", "approve", request_id, "--reason", "after retention").exit_code == 0
    released = run(env, tokens, "operator1", "release", "make", request_id, "--out", str(tmp_path / "out"))
    assert released.exit_code == 0, released.output

    verified = run(env, tokens, "officer1", "release", "verify", "--all", "--json")
    assert verified.exit_code == 0, verified.output
    results = json.loads(verified.stdout)["releases"]
    assert all(r["reproduced"] for r in results), results
    old = [r for r in results if r["release_id"] in {x["release_id"] for x in listed}]
    assert old and all("retention" in r["how"] and "not recomputed" in r["how"] for r in old)
    assert "recomputed" in results[-1]["how"], "the new release is recomputed with what is left of the history"
