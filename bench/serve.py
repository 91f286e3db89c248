"""Load on the web service: requests/s and p95 latency of the request list and the audit view.

Builds a demo installation, grows its audit log to --events events (appended as real chained events),
starts `ttp serve` in a second process on loopback, and drives it with --clients concurrent clients for
--requests requests per endpoint (bounded). Prints one table; exits non-zero on any error response.

    python bench/serve.py [--events 100000] [--clients 20] [--requests 400] [--persons 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/audit.py would shadow the audit package: import from the repository root, not from bench/
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

PASSPHRASE = "bench passphrase"


def grow_audit_log(app, events: int) -> None:
    """Append `events` chained events in bulk (as a long-running installation would have), then checkpoint."""
    from sqlalchemy import insert, select

    from audit.event import Event, to_row
    from ttp import db

    with app.session() as session:
        last = session.execute(select(db.AuditEvent.seq, db.AuditEvent.hash)
                               .order_by(db.AuditEvent.seq.desc()).limit(1)).first()
        seq, prev = last.seq, bytes.fromhex(last.hash)
        rows = []
        for i in range(events - seq):
            seq += 1
            event = Event(seq=seq, time=f"2026-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}.000000Z",
                          actor="operator1", role="operator", action="batches.list", outcome="ok",
                          counts={"batches": i % 7}, details={"via": "bench"})
            row = to_row(event, prev)
            prev = bytes.fromhex(row["hash"])
            rows.append(row)
            if len(rows) == 10_000:
                session.execute(insert(db.AuditEvent), rows)
                rows = []
        if rows:
            session.execute(insert(db.AuditEvent), rows)
    app.checkpoint()


def setup(base: Path, persons: int, events: int) -> tuple[dict, str]:
    from ttp import db
    from ttp.app import App
    from ttp.credentials import new_token
    from ttp.demo_job import run_demo
    from ttp.settings import resolve

    os.environ["TTP_DEMO_QUIET"] = "1"
    run_demo(base / "data", cohort=persons)
    app = App(settings=resolve(base / "data", os.environ["TTP_DATABASE_URL"]))
    tokens = {}
    with app.session() as session:
        for name in ("officer1", "researcher1"):
            tokens[name] = new_token(session, name, "operator1")[1]
        session.get(db.User, "officer1")
    grow_audit_log(app, events)
    app.engine.dispose()
    return tokens, app.settings.database_url


async def drive(base_url: str, path: str, token: str, clients: int, total: int) -> dict:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=120,
                                     headers={"Authorization": f"Bearer {token}"}) as http:
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                start = time.perf_counter()
                try:
                    response = await http.get(path)
                    if response.status_code != 200:
                        errors.append(str(response.status_code))
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)
                latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - start
    ordered = sorted(latencies)
    return {"requests": len(latencies), "errors": len(errors), "error_kinds": sorted(set(errors)),
            "rps": len(latencies) / wall, "p50_ms": 1000 * statistics.median(ordered),
            "p95_ms": 1000 * ordered[max(0, int(0.95 * len(ordered)) - 1)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=400, help="requests per endpoint")
    parser.add_argument("--persons", type=int, default=300)
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="ttp-bench-serve-"))
    os.environ["TTP_PASSPHRASE"] = PASSPHRASE
    os.environ["TTP_DATABASE_URL"] = os.environ.get("TTP_BENCH_DATABASE_URL") or f"sqlite:///{base / 'data' / 'ttp.db'}"
    t0 = time.perf_counter()
    tokens, _ = setup(base, args.persons, args.events)
    print(f"set up a demo installation with {args.events:,} audit events in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TTP_DATA_DIR": str(base / "data")}
    server = subprocess.Popen([sys.executable, "-m", "ttp.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base_url, server)
        rows = []
        for label, path, user in (
            ("request list (researcher)", "/api/v1/requests", "researcher1"),
            ("request list (privacy officer)", "/api/v1/requests", "officer1"),
            ("audit view, newest 200", "/api/v1/audit/events?limit=200", "officer1"),
            ("audit view, filtered", "/api/v1/audit/events?action=request&limit=200", "officer1"),
        ):
            rows.append((label, asyncio.run(drive(base_url, path, tokens[user], args.clients, args.requests))))
    finally:
        server.terminate()
        server.wait(30)
    print(f"ttp serve on loopback, {args.clients} concurrent clients, {args.requests} requests per endpoint, "
          f"audit log of {args.events:,}+ events, {os.environ['TTP_DATABASE_URL'].split(':')[0]}")
    print("| endpoint | requests | errors | requests/s | p50 ms | p95 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, r in rows:
        print(f"| {label} | {r['requests']} | {r['errors']} {' '.join(r['error_kinds'])} | {r['rps']:.1f} "
              f"| {r['p50_ms']:.0f} | {r['p95_ms']:.0f} |")
    if any(r["errors"] for _, r in rows):
        sys.exit(1)


def _wait_for(base_url: str, server: subprocess.Popen) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"ttp serve exited: {server.stderr.read().decode()[-500:]}")
        try:
            httpx.get(base_url + "/signin", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)  # polling the server's start-up, not a timed test
    raise SystemExit("ttp serve did not start within 120 s")


if __name__ == "__main__":
    main()
