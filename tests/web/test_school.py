"""A school team on the web: it sees and downloads the feedback of its own school, and nothing of anyone else."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.policies.helpers import pdf_words

from .conftest import make_web

ROUND = sorted((Path(__file__).resolve().parents[2] / "policies" / "examples" / "requests").glob("feedback_*.toml"))


def release_round(web) -> None:
    """Submit, approve and release the feedback round's requests through the API, as the roles would."""
    researcher, officer, operator = web.api("researcher1"), web.api("officer1"), web.api("operator1")
    for path in ROUND:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
        submitted = researcher.post("/api/v1/requests", json=spec)
        assert submitted.status_code == 201, submitted.text
        rid = submitted.json()["request_id"]
        decided = officer.post(f"/api/v1/requests/{rid}/decision", json={"decision": "approve",
                                                                          "reason": "feedback round"})
        assert decided.status_code == 200, decided.text
        assert operator.post(f"/api/v1/requests/{rid}/release").status_code == 201


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """A web installation whose feedback round is released."""
    for web in make_web(tmp_path_factory.mktemp("school-web")):
        release_round(web)
        yield web


def _bound(web, name: str) -> str:
    from ttp import db

    with web.service.app().session() as session:
        return session.get(db.User, name).schools


def test_a_school_team_downloads_its_own_report_in_its_language(web):
    own = _bound(web, "school1")
    browser = web.browser("school1")
    page = browser.get("/feedback")
    assert page.status_code == 200 and own in page.text and f"/feedback/{own}.pdf" in page.text
    pdf = browser.get(f"/feedback/{own}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "terugkoppeling aan de school" in pdf_words(pdf.content).lower()  # Dutch by default
    browser.get("/lang/en")
    assert "feedback to the school" in pdf_words(browser.get(f"/feedback/{own}.pdf").content).lower()
    home = browser.get("/")
    assert 'href="/feedback"' in home.text and 'href="/requests' not in home.text


def test_a_school_team_cannot_reach_another_schools_report_nor_requests_or_releases(web):
    other = _bound(web, "school2")
    browser = web.browser("school1")
    assert other not in browser.get("/feedback").text
    assert browser.get(f"/feedback/{other}.pdf").status_code == 404
    api = web.api("school1")
    for path in ("/api/v1/requests", "/api/v1/policies", "/api/v1/releases/pending"):
        assert api.get(path).status_code == 403, path
    for path in ("/requests", "/queue", "/audit"):
        assert browser.get(path, follow_redirects=False).status_code == 403, path
    # and nobody else reads a school's page: it is the school team's
    assert web.browser("researcher1").get("/feedback").status_code == 403


def test_a_school_user_is_bound_to_schools_of_the_register(web):
    from ttp.app import App
    from ttp.errors import TTPError
    from ttp.settings import resolve
    from ttp.users import add_user

    app = App(settings=resolve(web.data_dir, web.database_url))
    app.act_as("operator1")
    for schools, message in (([], "needs its school"), (["99ZZ00"], "unknown school"), (None, "needs")):
        with pytest.raises(TTPError, match=message), app.acting("users.add", {"user": "s3"}) as act:
            add_user(act, "s3", "school", schools)
    own = _bound(web, "school1")
    with pytest.raises(TTPError, match="binds a user of role school only"), \
            app.acting("users.add", {"user": "r3"}) as act:
        add_user(act, "r3", "researcher", [own])
