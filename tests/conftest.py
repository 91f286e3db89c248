"""Shared fixtures: a database per test (SQLite, or a fresh PostgreSQL schema) and a CLI runner."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import settings

# No test is timed (speed is measured by bench/): hypothesis's per-example deadline would make a property fail on
# a machine busy with other work (CI's shared runners) though nothing is wrong.
settings.register_profile("ttp", deadline=None)
settings.load_profile("ttp")

PG_ENV = "TTP_TEST_DATABASE_URL"


def postgres_url() -> str | None:
    """The PostgreSQL URL the tests may use, or None (the tests that need it then skip, outside CI)."""
    url = os.environ.get(PG_ENV)
    if not url:
        return None
    return url


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite in tmp_path, or a new schema in TTP_TEST_DATABASE_URL's PostgreSQL."""
    url = postgres_url()
    if url is None:
        yield f"sqlite:///{tmp_path / 'ttp.db'}"
        return
    yield from _pg_schema(url)


def _pg_schema(url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    schema = "t_" + secrets.token_hex(6)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL schema; skips outside CI when PostgreSQL is not configured, fails in CI."""
    url = postgres_url()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set in CI: the PostgreSQL tests must run there")
        pytest.skip(f"PostgreSQL not configured: set {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1/test)")
    yield from _pg_schema(url)


@dataclass
class Env:
    """A ttp installation for one test: data directory, database, passphrase, and everything printed."""

    data_dir: Path
    database_url: str
    passphrase: str = "correct horse battery staple"
    printed: list[str] = field(default_factory=list)

    tokens: dict[str, str] = field(default_factory=dict)

    def environ(self, **extra: str) -> dict[str, str]:
        return {"TTP_DATA_DIR": str(self.data_dir), "TTP_DATABASE_URL": self.database_url,
                "TTP_PASSPHRASE": self.passphrase, "TTP_USER": "", "TTP_TOKEN": "", "TTP_PASSWORD": "",
                "TTP_NEW_PASSWORD": "the first operator's password", "CI": "", **extra}

    def token(self, name: str) -> str:
        """An API token of the user (made once, straight in the database, as the user would with
        `ttp users token`); "" for a user that does not exist."""
        if name not in self.tokens:
            from sqlalchemy import create_engine
            from sqlalchemy.exc import SQLAlchemyError
            from sqlalchemy.orm import Session

            from ttp import db
            from ttp.credentials import new_token

            engine = create_engine(self.database_url)
            try:
                with Session(engine) as session, session.begin():
                    if session.get(db.User, name) is None:
                        return ""
                    self.tokens[name] = new_token(session, name, name)[1]
            except SQLAlchemyError:  # no installation yet: the command itself says so
                return ""
            finally:
                engine.dispose()
        return self.tokens[name]

    def run(self, *args: str, env: dict | None = None, input: str | None = None):
        """Invoke the CLI in-process; keeps what it printed for the privacy scan. `--as NAME` acts with
        NAME's API token (TTP_TOKEN), unless `env` gives a credential of its own."""
        from ttp.cli import cli

        env = dict(env or {})
        if "--as" in args and not {"TTP_TOKEN", "TTP_PASSWORD"} & set(env):
            env["TTP_TOKEN"] = self.token(args[args.index("--as") + 1])
        runner = CliRunner()
        result = runner.invoke(cli, list(args), env=self.environ(**env), input=input,
                               catch_exceptions=False)
        self.printed.append(result.output)
        self.printed.append(result.stderr if hasattr(result, "stderr") else "")
        return result


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> Env:
    return Env(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def installed(env: Env) -> Env:
    """An initialised installation with an operator, a privacy officer and a researcher."""
    assert env.run("init", "--operator", "olga").exit_code == 0
    assert env.run("--as", "olga", "users", "add", "pieter", "--role", "privacy-officer").exit_code == 0
    assert env.run("--as", "olga", "users", "add", "rosa", "--role", "researcher").exit_code == 0
    return env


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory):
    """A data directory after one `ttp demo` run (one per test module), and the demo's JSON summary."""
    base = tmp_path_factory.mktemp("demo")
    url = postgres_url()
    schema = _pg_schema(url) if url else None
    database_url = next(schema) if schema else f"sqlite:///{base / 'data' / 'ttp.db'}"
    env = Env(data_dir=base / "data", database_url=database_url)
    env.data_dir.mkdir()
    result = env.run("--data-dir", str(env.data_dir), "demo", "--cohort", str(DEMO_COHORT), "--history",
                     "--no-feedback", "--json")
    assert result.exit_code == 0, result.output
    text = result.stdout
    summary = json.loads(text[text.index("{"):text.rindex("}") + 1])
    env.demo_output = result.output
    yield env, summary
    try:
        _privacy_scan(env, summary)
    finally:
        if schema:
            next(schema, None)


def _privacy_scan(env: Env, summary: dict) -> None:
    """After a module's tests on a demo installation: nothing identifying written or printed by any of them."""
    from tests.privacy import dump_database, files_under, from_cohort, scan

    ids = from_cohort(Path(summary["cohort_dir"]))
    texts = {"printed": "\n".join([env.demo_output, *env.printed]), "database": dump_database(env.database_url)}
    hits = scan(ids, files_under(env.data_dir, Path(summary["release_dir"])), texts)
    assert not hits, "identifying values found: " + "; ".join(f"{h.kind} in {h.where}" for h in hits)


DEMO_COHORT = 40  # pupils per year group: about 500 pupils, 3 po schools, 8 school years
