"""Every `ttp` command line shown in the README and the docs names a command that exists, with options it
takes: a renamed command or option fails here before a reader meets it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from ttp.cli import cli

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def command_lines() -> list[tuple[str, str]]:
    """(file, command line) for every `ttp ...` in a sh code block (pipes and `a | b` alternatives split)."""
    out = []
    for path in DOCS:
        for block in re.findall(r"```sh\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S):
            for line in block.splitlines():
                line = line.split("  #", 1)[0].strip()
                for part in re.split(r"\s\|\s|&&", line):
                    part = part.strip()
                    words = part.split()
                    while words and "=" in words[0] and not words[0].startswith("-"):
                        words.pop(0)  # VAR=value before the command
                    if words and words[0] == "ttp":
                        out.append((path.name, " ".join(words)))
    return out


LINES = command_lines()


def test_the_docs_show_commands():
    assert len(LINES) > 40


@pytest.mark.parametrize(("where", "line"), LINES)
def test_each_shown_command_exists_with_its_options(where, line):
    try:
        words = shlex.split(line.replace("[", "").replace("]", "").replace("...", "x"))[1:]
    except ValueError:
        words = line.split()[1:]
    ctx = click.Context(cli)
    command: click.Command = cli
    options = {o for p in cli.params for o in p.opts}
    path = []
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        name = words[0]
        sub = command.get_command(ctx, name)
        if sub is None:
            if getattr(command, "default_command", None):  # `ttp release REQUEST` runs `release make`
                sub = command.get_command(ctx, command.default_command)
                assert sub is not None, f"{where}: `{line}`"
                command = sub
                break
            raise AssertionError(f"{where}: `{line}`: no command {' '.join([*path, name])!r}")
        path.append(name)
        words.pop(0)
        command = sub
        options |= {o for p in command.params for o in p.opts}
    options |= {o for p in command.params for o in p.opts}
    for word in words:
        if word.startswith("--"):
            assert word.split("=", 1)[0] in options, f"{where}: `{line}`: {' '.join(path)} has no {word}"
