"""Benchmark of `ttp backup` and `ttp restore` on a demo installation (SQLite, or PostgreSQL with
--postgres URL: two fresh schemas, dropped after): seconds, file size (prints figures)."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def ttp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "ttp.cli", *args], env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"ttp {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cohort", type=int, default=100, help="pupils per year group of the demo")
    parser.add_argument("--postgres", metavar="URL", help="run on PostgreSQL (a server URL; makes two schemas)")
    options = parser.parse_args()
    schemas = [f"bench_{secrets.token_hex(4)}" for _ in range(2)]
    if options.postgres:
        from sqlalchemy import create_engine, text

        engine = create_engine(options.postgres)
        with engine.begin() as conn:
            for schema in schemas:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        run(options, schemas)
    finally:
        if options.postgres:
            with engine.begin() as conn:
                for schema in schemas:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def run(options: argparse.Namespace, schemas: list[str]) -> None:
    def url(schema: str) -> str:
        return f"{options.postgres}{'&' if '?' in options.postgres else '?'}options=-csearch_path%3D{schema}"

    with tempfile.TemporaryDirectory() as work:
        data = Path(work) / "data"
        env = {**os.environ, "TTP_PASSPHRASE": "a bench passphrase of some length", "TTP_DATA_DIR": str(data)}
        env.pop("TTP_DATABASE_URL", None)
        if options.postgres:
            env["TTP_DATABASE_URL"] = url(schemas[0])
        ttp("demo", "--cohort", str(options.cohort), "--json", env=env)
        token = next(line.split()[2] for line in (data / "demo-tokens").read_text().splitlines()
                     if line.split()[1] == "operator")
        env["TTP_TOKEN"] = token
        data_bytes = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
        out = Path(work) / "demo.ttpbackup"
        start = time.perf_counter()
        counts = json.loads(ttp("backup", "--out", str(out), "--json", env=env).stdout)["counts"]
        backup_s = time.perf_counter() - start
        shutil.rmtree(data)
        if options.postgres:
            env["TTP_DATABASE_URL"] = url(schemas[1])
        start = time.perf_counter()
        ttp("restore", str(out), env=env)
        restore_s = time.perf_counter() - start
        verified = json.loads(ttp("audit", "verify", "--json", env=env).stdout)
        database = "PostgreSQL" if options.postgres else "SQLite"
        print(f"{database} demo cohort {options.cohort}: {counts['events']} events, {counts['batches']} batches, "
              f"{counts['jobs']} jobs, {counts['releases']} releases")
        print(f"data directory {data_bytes / 1e6:.1f} MB -> backup {out.stat().st_size / 1e6:.1f} MB")
        print(f"backup {backup_s:.2f} s, restore {restore_s:.2f} s (each with interpreter start and scrypt), "
              f"audit verify after restore: {'ok' if verified['ok'] else 'FAILED'}")


if __name__ == "__main__":
    main()
