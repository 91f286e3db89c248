"""Sign-in and its protections: Argon2id passwords, the CLI commands, CSRF on forms, throttling, audit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ttp.credentials import check_password, hash_password
from ttp.web.signin import FREE_FAILURES, lock_seconds

from .conftest import PASSWORD, form_csrf


@settings(max_examples=5, deadline=None)
@given(st.text(min_size=12, max_size=40))
def test_a_password_checks_only_against_its_own_hash(password):
    stored = hash_password(password)
    assert stored.startswith("$argon2id$") and password not in stored
    assert check_password(password, stored)
    assert not check_password(password + "x", stored)
    assert not check_password(password, None)


def test_the_lock_grows_after_the_free_failures_and_is_capped():
    assert [lock_seconds(n) for n in range(FREE_FAILURES)] == [0] * FREE_FAILURES
    waits = [lock_seconds(n) for n in range(FREE_FAILURES, FREE_FAILURES + 12)]
    assert waits[0] > 0 and waits == sorted(waits) and waits[-1] == lock_seconds(1000)


def test_passwd_and_token_commands(installed):
    from ttp import db
    from ttp.app import App
    from ttp.credentials import token_user
    from ttp.settings import resolve

    short = installed.run("--as", "olga", "users", "passwd", "rosa", env={"TTP_NEW_PASSWORD": "short"})
    assert short.exit_code == 1 and "at least" in short.output
    result = installed.run("--as", "olga", "users", "passwd", "rosa", env={"TTP_NEW_PASSWORD": "rosa's passphrase"})
    assert result.exit_code == 0, result.output
    # once rosa has a password, only she changes it
    again = installed.run("--as", "olga", "users", "passwd", "rosa", env={"TTP_NEW_PASSWORD": "olga's pick for rosa"})
    assert again.exit_code == 1 and "they change it themself" in again.output
    # the first officer's first password: the operator enrols them (no officer has a password yet)
    prompted = installed.run("--as", "olga", "users", "passwd", "pieter", env={"TTP_NEW_PASSWORD": ""},
                             input="pieter's secret\npieter's secret\n")
    assert prompted.exit_code == 0, prompted.output
    other = installed.run("--as", "rosa", "users", "passwd", "pieter", env={"TTP_NEW_PASSWORD": "xxxxxxxxxxxxx"})
    assert other.exit_code == 1 and "privacy officer" in other.output
    token = installed.run("users", "token", env={"TTP_PASSWORD": "rosa's passphrase", "TTP_USER": "rosa"})
    assert token.exit_code == 0, token.output
    secret = token.stdout.strip().splitlines()[0]
    app = App(settings=resolve(installed.data_dir, installed.database_url))
    with app.session() as session:
        assert check_password("rosa's passphrase", session.get(db.User, "rosa").password_hash)
        assert check_password("pieter's secret", session.get(db.User, "pieter").password_hash)
        assert token_user(session, secret) == "rosa"
        stored = " ".join(t.secret_sha256 for t in session.scalars(select(db.ApiToken)))
        assert secret.rsplit("_", 1)[1] not in stored  # kept hashed only
    assert installed.run("--as", "olga", "users", "token", "--revoke", "--user", "rosa").exit_code == 0
    with app.session() as session:
        assert token_user(session, secret) is None
        actions = [e.action for e in session.scalars(select(db.AuditEvent))]
    assert {"users.passwd", "users.token", "users.token.revoke"} <= set(actions)
    app.engine.dispose()


def test_forms_without_the_csrf_token_are_refused(web):
    client = web.browser("researcher1")
    csrf = form_csrf(client.get("/").text)
    form = {"policy": "monitor", "purpose": "csrf", "population": "po", "measures": "pupils", "do": "check"}
    assert client.post("/requests/new", data=form).status_code == 400
    assert client.post("/requests/new", data={**form, "csrf": "forged"}).status_code == 400
    assert client.post("/requests/new", data={**form, "csrf": csrf}).status_code == 200
    assert client.post("/signout", data={"csrf": "forged"}, follow_redirects=False).status_code == 400
    fresh = web.client()
    fresh.get("/signin")
    assert fresh.post("/signin", data={"name": "researcher1", "password": PASSWORD, "csrf": "x"}).status_code == 400


def test_session_cookie_is_secure_http_only_and_strict(web):
    client = web.client()
    csrf = form_csrf(client.get("/signin").text)
    response = client.post("/signin", data={"name": "operator1", "password": PASSWORD, "csrf": csrf},
                           follow_redirects=False)
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "ttp_session" in v)
    assert "HttpOnly" in cookie and "Secure" in cookie and "samesite=strict" in cookie.lower()
    csrf = form_csrf(client.get("/").text)
    assert client.post("/signout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/batches", follow_redirects=False).status_code == 303  # the session is gone


def _attempt(web, name, password):
    client = web.client()
    csrf = form_csrf(client.get("/signin").text)
    return client.post("/signin", data={"name": name, "password": password, "csrf": csrf},
                       follow_redirects=False).status_code


def test_failed_sign_ins_are_throttled_and_audited(web):
    from ttp import db

    for _ in range(FREE_FAILURES):
        assert _attempt(web, "officer2", "wrong password!") == 401
    # locked now: even the right password is refused until the lock runs out
    assert _attempt(web, "officer2", PASSWORD) == 401
    assert _attempt(web, "nobody-at-all", "whatever123") == 401
    with web.service.app().session() as session:
        events = session.scalars(select(db.AuditEvent).where(db.AuditEvent.action == "web.signin")
                                 .order_by(db.AuditEvent.seq)).all()
        throttles = session.scalars(select(db.SignInThrottle)).all()
    refused = [e for e in events if e.outcome == "refused"]
    assert [e.details["reason"] for e in refused[-2:]] == ["throttled", "unknown user"]
    assert sum(e.actor == "officer2" for e in refused) == FREE_FAILURES + 1
    assert refused[-1].actor == "(unknown)"  # a typed name that is no user is never written down
    assert all("nobody" not in t.name and "officer2" not in t.name for t in throttles)
    # another user is not locked by it
    assert _attempt(web, "officer1", PASSWORD) == 303


@pytest.mark.parametrize("header, lang", [("nl-NL,nl;q=0.9,en;q=0.8", "nl"), ("en-GB,en;q=0.9", "en"),
                                          ("de-DE", "nl"), ("fr;q=0.5, en;q=0.7", "en")])
def test_the_page_language_follows_accept_language(web, header, lang):
    page = web.client(headers={"Accept-Language": header}).get("/signin")
    assert f'<html lang="{lang}">' in page.text
    assert ("Inloggen" if lang == "nl" else "Sign in") in page.text


def test_the_language_switch_sets_a_cookie_and_stays_on_site(web):
    client = web.client(headers={"Accept-Language": "nl"})
    switched = client.get("/lang/en?next=//evil.example/", follow_redirects=False)
    assert switched.headers["location"] == "/"
    assert '<html lang="en">' in client.get("/signin").text


def test_a_password_change_or_a_token_revoke_ends_the_users_web_sessions(web):
    from ttp.users import revoke_user_tokens, set_password

    browser = web.browser("researcher1")
    assert browser.get("/requests", follow_redirects=False).status_code == 200
    app = web.service.app("researcher1")
    with app.acting("users.passwd") as act:
        set_password(act, "researcher1", "a brand new password")
    assert browser.get("/requests", follow_redirects=False).headers["location"] == "/signin"
    with app.acting("users.passwd") as act:
        set_password(act, "researcher1", PASSWORD)  # as the other tests expect it
    again = web.browser("researcher1")
    assert again.get("/requests", follow_redirects=False).status_code == 200
    with app.acting("users.token.revoke") as act:
        revoke_user_tokens(act, "researcher1")
    assert again.get("/requests", follow_redirects=False).headers["location"] == "/signin"
    assert web.api("researcher1").get("/api/v1/requests").status_code == 401
