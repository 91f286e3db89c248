"""Proved identities: every action is taken by a user who showed their own secret (an API token or their
password); the keystore passphrase unlocks keys and is never an identity. Four eyes on policies and on the
privacy-officer role."""

from __future__ import annotations

import json

from tests.ttp.test_export_cli import EXAMPLES

OLGA_PASSWORD = "the first operator's password"  # tests/conftest.py: what `ttp init` was given


def test_the_operator_with_the_passphrase_cannot_act_as_the_privacy_officer(installed):
    # the passphrase alone (the old way: --as NAME plus the keystore passphrase) names nobody
    alone = installed.run("--as", "pieter", "policy", "list", env={"TTP_TOKEN": ""}, input="")
    assert alone.exit_code == 2 and "no credential for pieter" in alone.stderr
    # the operator's own token does not make them the officer
    theirs = installed.run("--as", "pieter", "policy", "list", env={"TTP_TOKEN": installed.token("olga")})
    assert theirs.exit_code == 2 and "token of olga, not of pieter" in theirs.stderr
    # nor the operator's password
    guessed = installed.run("--as", "pieter", "policy", "list", env={"TTP_PASSWORD": OLGA_PASSWORD})
    assert guessed.exit_code == 2 and "wrong password for pieter" in guessed.stderr
    # nor can the operator set the officer's password once an officer has one, or make a token for them
    assert installed.run("--as", "pieter", "users", "passwd", "pieter",
                         env={"TTP_NEW_PASSWORD": "pieter's own password"}).exit_code == 0
    reset = installed.run("--as", "olga", "users", "passwd", "pieter", env={"TTP_NEW_PASSWORD": "olga's choice!!"})
    assert reset.exit_code == 1 and "set by themself or another privacy officer" in reset.stderr
    token = installed.run("--as", "olga", "users", "token", "--user", "pieter")
    assert token.exit_code == 2
    # the officer's own password works, without the keystore passphrase
    own = installed.run("--as", "pieter", "policy", "list", env={"TTP_PASSWORD": "pieter's own password",
                                                                  "TTP_PASSPHRASE": ""})
    assert own.exit_code == 0, own.stderr
    events = json.loads(installed.run("--as", "pieter", "audit", "show", "--json").stdout)["events"]
    assert ("pieter", "policy.list") in {(e["actor"], e["action"]) for e in events}


def test_a_bad_token_is_refused_in_one_line(installed):
    bad = installed.run("users", "list", env={"TTP_TOKEN": "ttp_abc_def"})
    assert bad.exit_code == 2 and bad.stderr.strip() == (
        "ttp: TTP_TOKEN is not a valid API token (unknown, revoked or malformed)")


def test_a_token_names_its_user_and_revoking_it_ends_it(installed):
    made = installed.run("users", "token", env={"TTP_TOKEN": installed.token("rosa")})
    assert made.exit_code == 0, made.stderr
    token = made.stdout.strip()
    listed = installed.run("request", "list", "--json", env={"TTP_TOKEN": token, "TTP_PASSPHRASE": ""})
    assert listed.exit_code == 0, listed.stderr
    assert installed.run("--as", "olga", "users", "token", "--revoke", "--user", "rosa").exit_code == 0
    assert installed.run("request", "list", env={"TTP_TOKEN": token}).exit_code == 2


def test_a_policy_version_waits_for_a_second_officer(installed):
    assert installed.run("--as", "olga", "users", "add", "petra", "--role", "privacy-officer").exit_code == 0
    # petra's role waits for pieter: until then she can do nothing
    waiting = installed.run("--as", "petra", "policy", "list")
    assert waiting.exit_code == 1 and "petra is a pending" in waiting.stderr
    pending = json.loads(installed.run("--as", "pieter", "users", "pending", "--json").stdout)["pending"]
    assert pending == [{"name": "petra", "role": "privacy-officer", "asked_by": "olga"}]
    assert installed.run("--as", "olga", "users", "approve", "petra").exit_code == 1  # an operator cannot
    assert installed.run("--as", "pieter", "users", "approve", "petra").exit_code == 0

    added = installed.run("--as", "pieter", "policy", "add", str(EXAMPLES / "monitor.toml"))
    assert added.exit_code == 0 and "waits for a second privacy officer" in added.stdout
    request = installed.data_dir.parent / "r.toml"
    request.write_text('policy = "monitor"\npurpose = "p"\npopulation = ["po"]\ndimensions = ["weight"]\n'
                       'measures = ["pupils"]\n', encoding="utf-8")
    early = installed.run("--as", "rosa", "request", "submit", str(request))
    assert early.exit_code == 1 and "no version in force yet" in early.stderr
    own = installed.run("--as", "pieter", "policy", "approve", "monitor", "1")
    assert own.exit_code == 1 and "four eyes" in own.stderr
    listed = json.loads(installed.run("--as", "petra", "policy", "pending", "--json").stdout)["pending"]
    assert [(p["name"], p["version"]) for p in listed] == [("monitor", 1)]
    assert installed.run("--as", "petra", "policy", "approve", "monitor", "1").exit_code == 0
    again = installed.run("--as", "petra", "policy", "approve", "monitor", "1")
    assert again.exit_code == 1 and "active already" in again.stderr
    events = json.loads(installed.run("--as", "pieter", "audit", "show", "--json").stdout)["events"]
    assert ("petra", "policy.approve", "ok") in {(e["actor"], e["action"], e["outcome"]) for e in events}
    assert ("olga", "users.approve", "refused") in {(e["actor"], e["action"], e["outcome"]) for e in events}


def test_bad_input_to_the_four_eyes_commands_is_one_line(installed):
    unknown = installed.run("--as", "pieter", "policy", "approve", "nosuch", "1")
    assert unknown.exit_code == 1 and unknown.stderr.startswith("ttp: unknown policy 'nosuch' version 1")
    not_a_number = installed.run("--as", "pieter", "policy", "approve", "monitor", "one")
    assert not_a_number.exit_code == 2 and "Traceback" not in not_a_number.output
    nobody = installed.run("--as", "pieter", "users", "approve", "nobody")
    assert nobody.exit_code == 1 and "no role waits for approval for 'nobody'" in nobody.stderr
    assert installed.run("--as", "rosa", "policy", "pending").exit_code == 1  # officers only
    bad_role = installed.run("--as", "olga", "users", "add", "x", "--role", "boss")
    assert bad_role.exit_code == 2
