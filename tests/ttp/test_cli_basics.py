"""CLI basics: init, users, roles, keys, passphrase errors, schema revision, audit of refusals."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, text


def test_init_creates_everything_and_refuses_to_overwrite(env):
    result = env.run("init", "--operator", "olga")
    assert result.exit_code == 0, result.output
    assert (env.data_dir / "keystore.ttpkeys").exists()
    assert (env.data_dir / "audit" / "checkpoints.log").exists()
    again = env.run("init", "--operator", "olga")
    assert again.exit_code == 1
    assert "refusing to overwrite" in again.stderr


def test_init_takes_operator_from_ttp_user(env):
    assert env.run("init", env={"TTP_USER": "ursula"}).exit_code == 0
    password = "the first operator's password"  # tests/conftest.py gives `ttp init` this one
    listed = env.run("users", "list", "--json", env={"TTP_USER": "ursula", "TTP_PASSWORD": password})
    assert json.loads(listed.stdout)["users"] == [
        {"name": "ursula", "role": "operator", "created_at": json.loads(listed.stdout)["users"][0]["created_at"]}]


def test_init_without_passphrase_and_without_terminal_is_a_usage_error(env):
    result = env.run("init", "--operator", "olga", env={"TTP_PASSPHRASE": ""}, input="")
    assert result.exit_code == 2
    assert not (env.data_dir / "keystore.ttpkeys").exists()


def test_users_add_and_list(installed):
    listed = json.loads(installed.run("--as", "olga", "users", "list", "--json").stdout)
    assert {(u["name"], u["role"]) for u in listed["users"]} == {
        ("olga", "operator"), ("pieter", "privacy-officer"), ("rosa", "researcher")}


def test_wrong_role_is_refused_and_the_refusal_audited(installed):
    refused = installed.run("--as", "rosa", "users", "add", "mallory", "--role", "operator")
    assert refused.exit_code == 1
    assert "rosa is a researcher" in refused.stderr
    shown = json.loads(installed.run("--as", "pieter", "audit", "show", "--action", "users.add", "--json").stdout)
    outcomes = [(e["actor"], e["outcome"]) for e in shown["events"]]
    assert ("rosa", "refused") in outcomes


def test_unknown_user_is_refused(installed):
    result = installed.run("--as", "nobody", "users", "list", env={"TTP_PASSWORD": "a guess of a password"})
    assert result.exit_code == 2
    assert "wrong password for nobody, or no such user" in result.stderr


def test_no_acting_user_is_a_usage_error(installed):
    result = installed.run("users", "list")
    assert result.exit_code == 2
    assert "who is acting? set TTP_TOKEN" in result.stderr


def test_wrong_passphrase_is_one_line_and_exit_2(installed):
    result = installed.run("--as", "olga", "users", "list", env={"TTP_PASSPHRASE": "wrong"})
    assert result.exit_code == 2
    assert result.stderr.strip() == "ttp: wrong passphrase or damaged keystore"


def test_damaged_keystore_is_one_line_and_exit_2(installed):
    path = installed.data_dir / "keystore.ttpkeys"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    result = installed.run("--as", "olga", "users", "list")
    assert result.exit_code == 2
    assert result.stderr.strip() == "ttp: wrong passphrase or damaged keystore"


def test_old_schema_revision_asks_for_db_upgrade(installed):
    engine = create_engine(installed.database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    result = installed.run("--as", "olga", "users", "list")
    assert result.exit_code == 1
    assert "ttp db upgrade" in result.stderr


def test_commands_before_init_say_so(env):
    result = env.run("--as", "olga", "users", "list")
    assert result.exit_code == 1
    assert "ttp init" in result.stderr


def test_keys_list_rotate_retire(installed):
    listed = json.loads(installed.run("--as", "olga", "keys", "list", "--json").stdout)["keys"]
    assert {k["purpose"] for k in listed} == {"linkage", "payload", "quarantine", "audit-signing"}
    assert all("secret" not in k for k in listed)
    rotated = installed.run("--as", "olga", "keys", "rotate", "--purpose", "linkage")
    assert rotated.exit_code == 0
    assert "re-ingest" in rotated.output
    retired = installed.run("--as", "olga", "keys", "retire", "linkage-v1")
    assert retired.exit_code == 0, retired.output
    refused = installed.run("--as", "olga", "keys", "retire", "linkage-v2")
    assert refused.exit_code == 1


def test_export_verify_key_and_verify_without_passphrase(installed, tmp_path):
    pem = tmp_path / "audit.pem"
    assert installed.run("--as", "pieter", "keys", "export-verify-key", "--out", str(pem)).exit_code == 0
    result = installed.run("audit", "verify", "--public-key", str(pem), "--json", env={"TTP_PASSPHRASE": ""})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_every_command_has_help_with_an_example():
    from click.testing import CliRunner

    from ttp.cli import cli

    def walk(group, prefix):
        for name, command in group.commands.items():
            if getattr(command, "hidden", False):
                continue
            if hasattr(command, "commands"):
                yield from walk(command, [*prefix, name])
            else:
                yield [*prefix, name]

    runner = CliRunner()
    for path in walk(cli, []):
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Example" in result.output, f"`ttp {' '.join(path)}` has no example in its help"


def test_db_upgrade_brings_an_older_database_to_the_newest_revision(installed):
    from alembic import command

    from ttp.db import alembic_config, head_revision, make_engine

    engine = make_engine(installed.database_url)
    config = alembic_config(installed.database_url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    engine.dispose()
    refused = installed.run("--as", "olga", "users", "list")
    assert refused.exit_code == 1 and "ttp db upgrade" in refused.stderr
    upgraded = installed.run("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert head_revision(installed.database_url) in upgraded.output
    installed.tokens.clear()  # 0001 had no API tokens: the downgrade dropped them
    assert installed.run("--as", "olga", "users", "list").exit_code == 0


def test_bare_ttp_demo_runs_the_demo(monkeypatch):
    """`ttp demo` with no arguments is the README's first command: it must run the chain, not print help."""
    from click.testing import CliRunner

    import ttp.demo_job
    from ttp.cli import cli

    calls = []
    monkeypatch.setattr(ttp.demo_job, "run_demo",
                        lambda data_dir, cohort, seed, quiet, history, feedback_round, mbo_round:
                        calls.append((cohort, seed, history, feedback_round, mbo_round)))
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    # the feedback round; the researchers' history and the mbo rounds when asked
    assert calls == [(300, 1, False, True, False)]
    assert CliRunner().invoke(cli, ["demo", "--help"]).exit_code == 0


def test_the_role_table_in_the_docs_is_the_one_the_code_declares():
    from ttp.roles import role_table

    doc = (Path(__file__).parents[2] / "docs" / "roles.md").read_text(encoding="utf-8")
    assert doc[doc.index("| action |"):] == role_table(), "regenerate docs/roles.md from ttp.roles.role_table()"


def test_every_action_the_cli_and_the_web_run_is_declared_once():
    import re

    from fastapi.routing import APIRoute

    from ttp.roles import ACTIONS, allowed
    from ttp.web import api, pages
    from ttp.web.deps import ACTION_KEY, ROLES_KEY

    root = Path(__file__).parents[2] / "ttp"
    used = set()
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'acting\((?:request, user, )?"([a-z.\-]+)"', text))
        used |= set(re.findall(r'allow\("([a-z.\-]+)"\)', text))
    assert used and used <= set(ACTIONS), used - set(ACTIONS)
    routes = [r for router in (api.router, pages.router) for r in router.routes if isinstance(r, APIRoute)]
    public = {r.path for r in routes if not (r.openapi_extra or {}).get(ACTION_KEY)}
    assert public == {"/signin", "/signout", "/lang/{code}"}  # every other route acts as a proved user
    for route in routes:  # every route names its action, and its roles are that action's
        extra = route.openapi_extra or {}
        if route.path in public:
            continue
        assert tuple(extra[ROLES_KEY]) == allowed(extra[ACTION_KEY]), route.path


def test_remove_a_user_keeps_their_history_and_their_name(installed):
    assert installed.run("--as", "rosa", "users", "list").exit_code == 0  # rosa has acted, with a token
    removed = installed.run("--as", "olga", "users", "remove", "rosa")
    assert removed.exit_code == 0, removed.output
    assert removed.stdout == "removed rosa (1 token revoked; their audit history stays)\n"
    gone = installed.run("--as", "rosa", "users", "list")
    assert gone.exit_code == 2 and "not a valid API token" in gone.stderr
    listed = json.loads(installed.run("--as", "olga", "users", "list", "--json").stdout)["users"]
    assert {u["name"]: u["role"] for u in listed}["rosa"] == "removed"
    history = json.loads(installed.run("--as", "pieter", "audit", "show", "--actor", "rosa", "--json").stdout)
    assert [e["action"] for e in history["events"]] == ["users.list"]
    again = installed.run("--as", "olga", "users", "add", "rosa", "--role", "researcher")
    assert again.exit_code == 1 and "exists already" in again.stderr  # the name keeps meaning that user
    assert installed.run("--as", "olga", "users", "passwd", "rosa",
                         env={"TTP_NEW_PASSWORD": "a new password for rosa"}).exit_code == 1
    shown = json.loads(installed.run("--as", "pieter", "audit", "show", "--action", "users.remove", "--json").stdout)
    event = shown["events"][-1]
    assert (event["actor"], event["details"]["user"], event["details"]["role_before"]) == ("olga", "rosa", "researcher")


def test_removal_refuses_oneself_an_officer_by_an_operator_and_the_last_operator(installed):
    cases = [("olga", "olga", "your own role is removed by someone else"),
             ("olga", "pieter", "by another privacy officer, never by an operator"),
             ("pieter", "olga", "olga is the last operator"),
             ("olga", "nobody", "unknown user 'nobody'"),
             ("rosa", "olga", "rosa is a researcher")]
    for actor, name, message in cases:
        refused = installed.run("--as", actor, "users", "remove", name)
        assert refused.exit_code == 1 and message in refused.stderr, (actor, name, refused.stderr)


def test_change_a_role_and_four_eyes_on_the_officer_role(installed):
    assert installed.run("--as", "rosa", "keys", "list").exit_code == 1
    promoted = installed.run("--as", "olga", "users", "role", "rosa", "--role", "operator")
    assert promoted.stdout == "rosa is now an operator\n"
    assert installed.run("--as", "rosa", "keys", "list").exit_code == 0  # at once, with the same token
    asked = installed.run("--as", "olga", "users", "role", "rosa", "--role", "privacy-officer")
    assert asked.exit_code == 0 and "waits for a privacy officer's approval" in asked.stdout
    pending = json.loads(installed.run("--as", "pieter", "users", "pending", "--json").stdout)["pending"]
    assert pending == [{"name": "rosa", "role": "privacy-officer", "asked_by": "olga"}]
    assert installed.run("--as", "rosa", "keys", "list").exit_code == 0  # an operator until approved
    assert installed.run("--as", "pieter", "users", "approve", "rosa").exit_code == 0
    assert installed.run("--as", "rosa", "keys", "list").exit_code == 1  # now an officer, not an operator
    # an officer asks for another one: that officer may not approve it, the user may not either
    assert installed.run("--as", "olga", "users", "add", "sam", "--role", "researcher").exit_code == 0
    assert installed.run("--as", "pieter", "users", "role", "sam", "--role", "privacy-officer").exit_code == 0
    own = installed.run("--as", "pieter", "users", "approve", "sam")
    assert own.exit_code == 1 and "four eyes" in own.stderr
    assert installed.run("--as", "rosa", "users", "approve", "sam").exit_code == 0
    # demoting an officer: an operator may not; another officer may; never the last one
    refused = installed.run("--as", "olga", "users", "role", "sam", "--role", "researcher")
    assert refused.exit_code == 1 and "never by an operator" in refused.stderr
    assert installed.run("--as", "rosa", "users", "role", "sam", "--role", "researcher").exit_code == 0
    assert installed.run("--as", "rosa", "users", "role", "pieter", "--role", "researcher").exit_code == 0
    operator_only = installed.run("--as", "olga", "users", "role", "rosa", "--role", "researcher")
    assert operator_only.exit_code == 1 and "never by an operator" in operator_only.stderr
    last = installed.run("--as", "rosa", "users", "role", "olga", "--role", "researcher")
    assert last.exit_code == 1 and "olga is the last operator" in last.stderr
    same = installed.run("--as", "olga", "users", "role", "sam", "--role", "researcher")
    assert same.exit_code == 1 and "sam is a researcher already" in same.stderr
    roles = {u["name"]: u["role"] for u in json.loads(installed.run("--as", "olga", "users", "list", "--json").stdout)
             ["users"]}
    assert roles == {"olga": "operator", "pieter": "researcher", "rosa": "privacy-officer", "sam": "researcher"}
    changes = json.loads(installed.run("--as", "rosa", "audit", "show", "--action", "users.role", "--json").stdout)
    assert [(e["details"]["user"], e["details"]["new_role"], e["outcome"]) for e in changes["events"]
            if e["outcome"] == "ok"][:2] == [("rosa", "operator", "ok"), ("rosa", "privacy-officer", "ok")]
