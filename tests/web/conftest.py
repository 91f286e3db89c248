"""Fixtures of the web tests: a demo data directory per module, users with passwords and API tokens, clients."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import _pg_schema, postgres_url

PASSPHRASE = "web tests passphrase"
PASSWORD = "a long enough password"
USERS = {"operator1": "operator", "officer1": "privacy-officer", "officer2": "privacy-officer",
         "researcher1": "researcher", "researcher2": "researcher", "school1": "school", "school2": "school"}
ROLE_USER = {"operator": "operator1", "privacy-officer": "officer1", "researcher": "researcher1",
             "school": "school1"}


@dataclass
class Web:
    """A running web app (in-process) over a demo installation, and every response body it gave."""

    data_dir: Path
    database_url: str
    summary: dict
    service: object
    app: object
    tokens: dict[str, str]
    bodies: dict[str, bytes] = field(default_factory=dict)

    def client(self, **kwargs):
        from fastapi.testclient import TestClient

        web = self

        class RecordingClient(TestClient):
            def send(self, request, **kw):
                response = super().send(request, **kw)
                response.read()
                web.bodies[f"{len(web.bodies)} {request.method} {request.url.path}"] = (
                    response.content + repr(dict(response.headers)).encode())
                return response

        return RecordingClient(self.app, base_url="https://testserver", **kwargs)

    def api(self, user: str):
        return self.client(headers={"Authorization": f"Bearer {self.tokens[user]}"})

    def browser(self, user: str):
        """A client signed in through the sign-in form."""
        client = self.client()
        page = client.get("/signin")
        csrf = form_csrf(page.text)
        response = client.post("/signin", data={"name": user, "password": PASSWORD, "csrf": csrf},
                               follow_redirects=False)
        assert response.status_code == 303, response.text
        return client


def form_csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def make_web(base: Path, history: bool = True, feedback_round: bool = False) -> Iterator[Web]:
    """A web app over a demo installation at cohort 40: the researchers' history, or the feedback round."""
    from ttp import db
    from ttp.app import App
    from ttp.credentials import hash_password, new_token
    from ttp.demo_job import run_demo
    from ttp.settings import resolve
    from ttp.web.context import Service
    from ttp.web.server import create_app

    url = postgres_url()
    schema = _pg_schema(url) if url else None
    database_url = next(schema) if schema else f"sqlite:///{base / 'data' / 'ttp.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TTP_PASSPHRASE", PASSPHRASE)
        mp.setenv("TTP_DATABASE_URL", database_url)
        mp.delenv("TTP_USER", raising=False)
        summary = run_demo(base / "data", cohort=40, history=history, feedback_round=feedback_round)
        settings = resolve(base / "data", database_url)
        app = App(settings=settings)
        tokens = {}
        hashed = hash_password(PASSWORD)
        with app.session() as session:
            po = sorted(s.brin for s in session.query(db.School) if s.name and s.name.startswith("BASISSCHOOL"))
            bound = {"school1": po[0], "school2": po[1]}  # each school team its own school
            for name, role in USERS.items():
                user = session.get(db.User, name) or db.User(name=name, role=role, created_by="operator1",
                                                             schools=bound.get(name))
                user.password_hash = hashed
                session.add(user)
                session.flush()
                tokens[name] = new_token(session, name, "operator1")[1]
        service = Service.open(settings, app.keystore)
        yield Web(data_dir=base / "data", database_url=database_url, summary=summary, service=service,
                  app=create_app(service), tokens=tokens)
        service.engine.dispose()
    if schema:
        next(schema, None)


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[Web]:
    yield from make_web(tmp_path_factory.mktemp("web"))
