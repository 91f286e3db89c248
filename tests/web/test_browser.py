"""End to end in a real headless Chromium: a researcher asks, a privacy officer approves, an operator releases,
the researcher downloads; a screenshot of every page lands in test-artifacts/web/."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"


def _need_browser():
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if not Path(CHROMIUM).exists():
        missing.append(CHROMIUM + " (apt-get install chromium)")
    if missing:
        if os.environ.get("CI"):
            pytest.fail("browser tests need " + " and ".join(missing))
        pytest.skip("browser tests need " + " and ".join(missing))


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """The demo as it comes (its feedback round released; the pages need no researchers' history)."""
    from .conftest import make_web

    yield from make_web(tmp_path_factory.mktemp("browser-web"), history=False, feedback_round=True)


@pytest.fixture(scope="module")
def server(request):
    """The service on a free loopback port, served by uvicorn in a thread of this process."""
    _need_browser()  # before the demo installation is made
    web = request.getfixturevalue("web")
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(web.app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail("the service did not start")
        thread.join(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


class Shots:
    def __init__(self):
        self.n = 0

    def __call__(self, page, name: str) -> None:
        self.n += 1
        page.screenshot(path=str(ARTIFACTS / f"{self.n:02d}-{name}.png"), full_page=True)


def _sign_in(browser, server, user, lang="en"):
    from .conftest import PASSWORD

    context = browser.new_context(locale="en-GB" if lang == "en" else "nl-NL", accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server + "/signin")
    page.fill("#name", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server + "/")
    return context, page, errors


def test_request_approve_release_download(browser, server, web):
    shot = Shots()
    # the researcher asks for a table, seeing the policy check first
    context, page, errors = _sign_in(browser, server, "researcher1")
    shot(page, "researcher-home")
    page.click("text=New request")
    page.fill("#purpose", "Pupils by VVE indication and sex")
    page.check("input[name=population][value='vve+po+vo']")
    page.check("input[name=dimensions][value=vve]")
    page.check("input[name=dimensions][value=sex]")
    page.check("input[name=measures][value=pupils]")
    shot(page, "researcher-new-request")
    page.click("button[value=check]")
    assert page.locator("section.check.ok").count() == 1, page.content()[:2000]
    shot(page, "researcher-policy-check")
    page.click("button[value=submit]")
    page.wait_for_url(f"{server}/requests/r_*")
    request_id = page.url.rsplit("/", 1)[1]
    shot(page, "researcher-request")
    page.click("nav >> text=My requests")
    assert request_id in page.content()
    shot(page, "researcher-my-requests")
    context.close()

    # a privacy officer sees the checks and the suppression preview, and approves
    context, page, errors = _sign_in(browser, server, "officer1")
    page.click("nav >> text=Queue")
    shot(page, "officer-queue")
    page.click(f"text={request_id}")
    assert page.locator("#prev-h").count() == 1
    shot(page, "officer-request")
    page.fill("#reason", "within the monitor's agreement")
    page.click("button[value=approve]")
    page.wait_for_url(server + "/queue")
    for name, path in (("officer-audit-log", "/audit"), ("officer-verification", "/audit/verify"),
                       ("officer-checkpoint", "/audit/checkpoint")):
        page.goto(server + path)
        shot(page, name)
    assert page.locator("pre").count() == 1
    context.close()

    # an operator makes the release, and looks at batches, the job report and the review queue
    context, page, errors = _sign_in(browser, server, "operator1")
    page.click("nav >> text=Releases to make")
    shot(page, "operator-releases")
    page.locator("tr", has_text=request_id).locator("button").click()
    page.wait_for_url(f"{server}/releases/rel_*")
    for name, path in (("operator-batches", "/batches"), ("operator-jobs", "/jobs"),
                       ("operator-job", f"/jobs/{web.summary['job_id']}"),
                       ("operator-job-report", f"/jobs/{web.summary['job_id']}/report"),
                       ("operator-review", f"/jobs/{web.summary['job_id']}/review")):
        page.goto(server + path)
        shot(page, name)
    page.goto(server + "/batches")
    page.locator("tbody a").first.click()
    shot(page, "operator-batch")
    context.close()

    # the researcher downloads the released table, in Dutch this time
    context, page, errors = _sign_in(browser, server, "researcher1", lang="nl")
    page.click("nav >> text=Mijn aanvragen")
    page.locator("tr", has_text=request_id).locator("text=Downloaden").click()
    page.wait_for_url(f"{server}/releases/rel_*")
    shot(page, "researcher-release")
    release_id = page.url.rsplit("/", 1)[1]
    with page.expect_download() as info:
        page.locator("a[download]", has_text=".csv").first.click()
    download = info.value
    saved = ARTIFACTS / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes() == (web.data_dir / "releases" / release_id / download.suggested_filename).read_bytes()
    assert not errors, errors  # no CSP violation or script error on any page
    context.close()


def test_language_switch_and_accept_language(browser, server):
    context, page, _ = _sign_in(browser, server, "researcher1", lang="nl")
    assert page.locator("html").get_attribute("lang") == "nl"
    page.click("a[lang=en]")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("text=New request").count() >= 1
    context.close()


def test_a_school_team_sees_only_its_feedback_page(browser, server, web):
    from .test_school import release_round

    current = release_round(web)  # a later round than the demo's: the earlier one stays on the page
    from ttp import db

    with web.service.app().session() as session:
        own, other = session.get(db.User, "school1").schools, session.get(db.User, "school2").schools
    context, page, errors = _sign_in(browser, server, "school1", lang="nl")
    page.click("nav >> text=Terugkoppeling")
    page.wait_for_url(server + "/feedback")
    assert page.locator("table tbody tr").count() == 1  # its own school, no other
    assert page.locator(f"a[href='/feedback/{own}.pdf']").count() == 1
    assert page.locator(f"a[href^='/feedback/{own}.pdf?round=']").count() == 2  # this round and the earlier one
    assert page.locator(f"a[href='/feedback/{own}.pdf?round={current}']").count() == 1
    page.screenshot(path=str(ARTIFACTS / "school-feedback.png"), full_page=True)
    report = page.request.get(server + f"/feedback/{own}.pdf")
    assert report.status == 200 and report.headers["content-type"] == "application/pdf"
    assert page.request.get(server + f"/feedback/{other}.pdf").status == 404
    assert not errors, errors
    # another school's report and the researchers' pages are closed to it (the browser logs the refusals)
    assert page.goto(server + "/requests").status == 403
    assert all("403" in e or "404" in e for e in errors), errors
    context.close()
