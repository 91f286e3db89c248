"""A school team on the web: it sees and downloads the feedback of its own school, and nothing of anyone else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.policies.helpers import pdf_words

from .conftest import PASSPHRASE, make_web

ROUND = Path(__file__).resolve().parents[2] / "policies" / "examples" / "requests" / "feedback_round.toml"


def release_round(web) -> str:
    """The feedback round submitted by a researcher, approved by an officer (once, the whole round) and
    released by an operator; its request id (the round's)."""
    from ttp.app import App
    from ttp.demo_job import _release_one
    from ttp.settings import resolve

    app = App(settings=resolve(web.data_dir, web.database_url))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TTP_PASSPHRASE", PASSPHRASE)
        out = web.data_dir.parent / f"round-{len(list(web.data_dir.parent.glob('round-*')))}"
        rid, made = _release_one(app, ROUND, out)
    assert made.get("kind") == "round" and len(made["tables"]) == 8, made
    return rid


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """A web installation with two feedback rounds: the demo's, and a later one (the current round)."""
    for web in make_web(tmp_path_factory.mktemp("school-web"), history=False, feedback_round=True):
        web.rounds = [web.summary["feedback_round"]["request_id"], release_round(web)]
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


def test_a_school_team_sees_the_current_and_earlier_rounds_and_downloads_each(web):
    own, other = _bound(web, "school1"), _bound(web, "school2")
    earlier, current = web.rounds
    browser = web.browser("school1")
    page = browser.get("/feedback").text
    links = [f"/feedback/{own}.pdf?round={rid}" for rid in (current, earlier)]
    assert all(link in page for link in links) and page.index(links[0]) < page.index(links[1])  # newest first
    assert "huidige" in page  # the current round is marked
    releases = {}
    for rid in (current, earlier):
        pdf = browser.get(f"/feedback/{own}.pdf?round={rid}")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert rid in pdf.headers["content-disposition"]
        words = pdf_words(pdf.content)
        releases[rid] = {r for r in re.findall(r"rel_[0-9a-f]{12}", words)}
    assert releases[current] and releases[earlier] and not releases[current] & releases[earlier]  # each its own
    assert browser.get(f"/feedback/{own}.pdf?round=r_000000000000").status_code == 404
    assert browser.get(f"/feedback/{other}.pdf?round={earlier}").status_code == 404
    assert web.browser("school2").get(f"/feedback/{own}.pdf?round={current}").status_code == 404


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
