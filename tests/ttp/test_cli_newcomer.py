"""What a newcomer meets walking the README on a fresh clone: each rough edge found there, held by a test."""

from __future__ import annotations

import json
import socket

import click
from click.testing import CliRunner

from ttp.cli import TTPGroup, cli, hoist_global_options, plural


def test_global_options_work_after_the_command(installed, tmp_path):
    assert hoist_global_options(["demo", "--data-dir", "X", "--cohort", "5"]) == [
        "--data-dir", "X", "demo", "--cohort", "5"]
    assert hoist_global_options(["users", "list", "--data-dir=X"]) == ["--data-dir=X", "users", "list"]
    assert hoist_global_options(["--data-dir", "X", "users", "list"]) == ["--data-dir", "X", "users", "list"]
    elsewhere = installed.run("users", "list", "--data-dir", str(installed.data_dir), "--as", "olga",
                              env={"TTP_DATA_DIR": str(tmp_path / "nothing-here"),
                                   "TTP_DATABASE_URL": installed.database_url})
    assert elsewhere.exit_code == 0, elsewhere.output


def test_the_demo_and_release_commands_show_their_options():
    runner = CliRunner()
    demo = runner.invoke(cli, ["demo", "--help"])
    assert "run" in demo.output and "generate" in demo.output
    run = runner.invoke(cli, ["demo", "run", "--help"])
    assert "--cohort" in run.output and "--json" in run.output
    release = runner.invoke(cli, ["release", "--help"])
    assert "make" in release.output
    assert "--out" in runner.invoke(cli, ["release", "make", "--help"]).output


def test_a_closed_pipe_ends_quietly():
    @click.group(cls=TTPGroup)
    def group() -> None:
        pass

    @group.command()
    def talk() -> None:
        raise BrokenPipeError()

    result = CliRunner().invoke(group, ["talk"])
    assert result.exit_code == 0 and "internal error" not in result.output


def test_serve_on_a_busy_port_is_one_line_and_exit_1(installed):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = installed.run("serve", "--port", str(port))
    assert result.exit_code == 1 and result.stderr.startswith(f"ttp: cannot listen on 127.0.0.1:{port}")


def test_audit_show_refuses_a_date_it_cannot_read(installed):
    result = installed.run("--as", "olga", "audit", "show", "--since", "yesterday")
    assert result.exit_code == 2 and "yesterday" in result.output
    shown = installed.run("--as", "olga", "audit", "show", "--since", "2020-01-01", "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["events"]


def test_a_missing_data_directory_says_run_init(env):
    result = env.run("--as", "olga", "users", "list")
    assert result.exit_code == 1 and "run `ttp init` first" in result.stderr
    assert "OperationalError" not in result.output


def test_a_short_keystore_passphrase_is_refused(installed):
    result = installed.run("--as", "olga", "keys", "change-passphrase", env={"TTP_NEW_PASSPHRASE": "x"})
    assert result.exit_code == 2 and "at least 12 characters" in result.stderr


def test_approving_needs_a_reason(installed):
    result = installed.run("--as", "pieter", "request", "approve", "r_000000000000")
    assert result.exit_code == 2 and "--reason" in result.output
    empty = installed.run("--as", "pieter", "request", "approve", "r_000000000000", "--reason", " ")
    assert empty.exit_code in (1, 2) and "internal error" not in empty.output


def test_words_a_reader_meets():
    assert plural(1, "checkpoint") == "1 checkpoint" and plural(3, "checkpoint") == "3 checkpoints"


def test_refusal_by_role_reads_well(installed):
    refused = installed.run("--as", "olga", "request", "approve", "r_000000000000", "--reason", "ok")
    assert refused.exit_code == 1 and "olga is an operator;" in refused.stderr


def test_demo_generate_says_what_it_wrote(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "generate", "--cohort", "10", "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("wrote a synthetic region of ")
    assert "(10 per year group, seed 1)" in result.output and "2016-2017 to 2023-2024" in result.output
    assert "=" not in result.output  # no dataclass repr
