"""The JSON API through the ASGI client: the request lifecycle, every endpoint × role, and no identifying value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.privacy import from_cohort, scan

from .conftest import ROLE_USER, form_csrf

SPEC = {"policy": "monitor", "purpose": "VVE and havo/vwo by sex", "population": ["vve", "po", "vo"],
        "dimensions": ["vve", "sex"], "measures": ["pupils", "havo_vwo"], "filters": {}}

# bodies that pass validation, so that the role check (not the validator) answers
API_BODIES = {
    ("POST", "/api/v1/requests/check"): SPEC,
    ("POST", "/api/v1/requests"): {**SPEC, "purpose": "role matrix"},
    ("POST", "/api/v1/requests/{request_id}/decision"): {"decision": "deny", "reason": "role matrix"},
    ("POST", "/api/v1/jobs/{job_id}/review"): {"accept": [], "reject": []},
}
PAGE_FORMS = {
    ("POST", "/requests/new"): {"policy": "monitor", "purpose": "role matrix", "population": "po", "do": "check"},
    ("POST", "/queue/{request_id}"): {"decision": "deny", "reason": "role matrix"},
    ("POST", "/jobs/{job_id}/review"): {"pair": "999999", "decision": "accept"},
    ("POST", "/requests/{request_id}/release"): {},
}


def test_the_request_lifecycle_through_the_api(web):
    researcher, officer, operator = web.api("researcher1"), web.api("officer1"), web.api("operator1")
    policies = researcher.get("/api/v1/policies").json()["policies"]
    assert [p["name"] for p in policies] == ["monitor"]
    check = researcher.post("/api/v1/requests/check", json=SPEC)
    assert check.status_code == 200 and check.json()["ok"] is True, check.text
    bad = researcher.post("/api/v1/requests/check", json={**SPEC, "population": ["elsewhere"]}).json()
    assert bad["ok"] is False and bad["problems"]
    submitted = researcher.post("/api/v1/requests", json=SPEC)
    assert submitted.status_code == 201, submitted.text
    request_id = submitted.json()["request_id"]
    queue = officer.get("/api/v1/queue").json()["requests"]
    assert request_id in [r["request_id"] for r in queue]
    preview = officer.get(f"/api/v1/requests/{request_id}/preview").json()
    assert preview["available"] and preview["cells"] > 0 and preview["suppressed"] >= 0
    assert researcher.post(f"/api/v1/requests/{request_id}/decision",
                           json={"decision": "approve"}).status_code == 403
    assert operator.post(f"/api/v1/requests/{request_id}/release").status_code == 409  # not approved yet
    approved = officer.post(f"/api/v1/requests/{request_id}/decision", json={"decision": "approve", "reason": "ok"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
    assert request_id in [r["request_id"] for r in operator.get("/api/v1/releases/pending").json()["requests"]]
    released = operator.post(f"/api/v1/requests/{request_id}/release")
    assert released.status_code == 201, released.text
    release_id = released.json()["release_id"]
    doc = researcher.get(f"/api/v1/releases/{release_id}").json()
    assert doc["metadata"]["approved_by"] == "officer1" and doc["request_id"] == request_id
    csv_name = next(f["name"] for f in doc["files"] if f["name"].endswith(".csv"))
    download = researcher.get(f"/api/v1/releases/{release_id}/files/{csv_name}")
    assert download.status_code == 200
    stored = (web.data_dir / "releases" / release_id / csv_name).read_bytes()
    assert download.content == stored
    # another researcher sees neither the request nor its release
    other = web.api("researcher2")
    assert other.get(f"/api/v1/requests/{request_id}").status_code == 404
    assert other.get(f"/api/v1/releases/{release_id}/files/{csv_name}").status_code == 404
    assert researcher.get(f"/api/v1/releases/{release_id}/files/..%2Fttp.db").status_code == 404
    mine = researcher.get("/api/v1/requests").json()
    assert mine["releases"][request_id] == release_id


def test_an_officer_never_decides_their_own_request(web):
    from ttp import db
    from ttp.exporting import submit_text

    text = "\n".join(f"{k} = {json.dumps(v)}" for k, v in SPEC.items() if k != "filters") + "\n"
    app = web.service.app("officer2")
    with app.session() as session:  # an officer who also asked for a table (e.g. as a former researcher)
        session.get(db.User, "officer2").role = "researcher"
    with web.service.acting(_principal("officer2", "researcher"), "request.submit") as act:
        request_id = submit_text(act, text).id
    with app.session() as session:
        session.get(db.User, "officer2").role = "privacy-officer"
    refused = web.api("officer2").post(f"/api/v1/requests/{request_id}/decision",
                                       json={"decision": "approve", "reason": "mine"})
    assert refused.status_code == 403 and "own" in refused.json()["detail"]


def _principal(name, role):
    from ttp.web.context import Principal

    return Principal(name=name, role=role, via="test")


def test_every_endpoint_checks_the_role(web):
    from ttp import db
    from ttp.web.server import role_table

    routes = role_table()
    assert len(routes) >= 40, "the role table lost routes"
    api = {role: web.api(user) for role, user in ROLE_USER.items()}
    pages = {role: web.browser(user) for role, user in ROLE_USER.items()}
    csrf = {role: form_csrf(client.get("/").text) for role, client in pages.items()}
    with web.service.app().session() as session:
        refused_before = session.scalar(select(func.count()).select_from(db.AuditEvent)
                                        .where(db.AuditEvent.outcome == "refused"))
    refusals = 0
    for method, path, allowed in routes:
        url = path.replace("{name}", "monitor").replace("{", "").replace("}", "")  # ids that do not exist
        for role in ROLE_USER:
            if path.startswith("/api/"):
                response = api[role].request(method, url, json=API_BODIES.get((method, path)))
            else:
                data = PAGE_FORMS.get((method, path))
                data = {**data, "csrf": csrf[role]} if data is not None else None
                response = pages[role].request(method, url, data=data, follow_redirects=False)
            if role in allowed:
                assert response.status_code not in (401, 403), (method, path, role, response.text[:200])
                assert response.status_code < 500, (method, path, role)
            else:
                assert response.status_code == 403, (method, path, role, response.status_code)
                refusals += 1
    with web.service.app().session() as session:
        refused_after = session.scalar(select(func.count()).select_from(db.AuditEvent)
                                       .where(db.AuditEvent.outcome == "refused"))
    assert refused_after - refused_before == refusals  # every refusal is in the audit log


def test_no_token_or_a_bad_token_is_refused_and_audited(web):
    from ttp import db

    client = web.client()
    assert client.get("/api/v1/requests").status_code == 401
    bad = web.client(headers={"Authorization": "Bearer ttp_000000000000_wrong"})
    assert bad.get("/api/v1/requests").status_code == 401
    with web.service.app().session() as session:
        last = session.scalars(select(db.AuditEvent).order_by(db.AuditEvent.seq.desc()).limit(1)).first()
    assert (last.action, last.outcome) == ("api.signin", "refused")
    assert client.get("/requests", follow_redirects=False).headers["location"] == "/signin"


def test_officer_and_operator_pages_show_checks_reports_and_the_log(web):
    officer, operator = web.api("officer1"), web.api("operator1")
    events = officer.get("/api/v1/audit/events", params={"action": "request", "limit": 5}).json()
    assert 0 < len(events["events"]) <= 5 and all(e["action"].startswith("request") for e in events["events"])
    assert officer.get("/api/v1/audit/verify").json()["ok"] is True
    checkpoint = officer.get("/api/v1/audit/checkpoint").json()
    assert checkpoint["size"] > 0 and "ttp.audit/v1" in checkpoint["text"]
    export = officer.get("/api/v1/audit/export")
    bundle = export.json()
    assert bundle["format"].startswith("ttp-audit") and bundle["events"] and bundle["checkpoint"]
    batches = operator.get("/api/v1/batches").json()["batches"]
    assert {b["source"] for b in batches} >= {"vve", "po", "vo", "mbo"}
    with_quarantine = [b for b in batches if b["quarantined"]]
    if with_quarantine:
        detail = operator.get(f"/api/v1/batches/{with_quarantine[0]['batch_id']}").json()
        assert sum(q["rows"] for q in detail["quarantine_reasons"]) >= detail["quarantined"]
    job = web.summary["job_id"]
    report = operator.get(f"/api/v1/jobs/{job}/report")
    assert report.status_code == 200 and "<svg" in report.text
    assert "sandbox" in report.headers["content-security-policy"]
    review = operator.get(f"/api/v1/jobs/{job}/review").json()
    if review["pairs"]:
        number = review["pairs"][0]["pair"]
        decided = operator.post(f"/api/v1/jobs/{job}/review", json={"accept": [number]}).json()
        assert decided["accepted"] == 1
        assert operator.get(f"/api/v1/jobs/{job}/review").json()["pairs"][0]["decision"] == "accept"


def test_the_openapi_document_lists_the_api(web):
    doc = web.client().get("/api/v1/openapi.json").json()
    assert "/api/v1/requests" in doc["paths"] and "/requests/new" not in doc["paths"]
    assert any("HTTPBearer" in s for s in doc["components"]["securitySchemes"])


@pytest.mark.parametrize("path", ["/signin", "/api/v1/openapi.json", "/static/style.css"])
def test_security_headers_on_every_response(web, path):
    response = web.client().get(path)
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_privacy_no_identifying_value_in_any_response(web):
    """Runs last in this module: scans every response the tests above received."""
    ids = from_cohort(Path(web.summary["cohort_dir"]))
    assert all(ids.by_kind[k] for k in ("bsn", "name", "birth date", "postcode"))
    assert len(web.bodies) > 100
    texts = {where: body.decode("utf-8", "replace") for where, body in web.bodies.items()}
    hits = scan(ids, texts=texts)
    assert not hits, "identifying values found: " + "; ".join(f"{h.kind} in {h.where}" for h in hits[:20])


def test_the_check_is_no_oracle_about_other_researchers_releases(web):
    """A request that would give away a small group with an earlier release is refused in one line that
    names neither the release nor the cell; the privacy officer's preview shows both."""
    from ttp.exporting import add_policy_text, decide_policy

    text = (Path(__file__).parents[2] / "policies" / "examples" / "monitor.toml").read_text(encoding="utf-8")
    strict = text.replace('name = "monitor"', 'name = "strict"').replace(
        'differencing = "suppress"', 'differencing = "refuse"')
    app = web.service.app("officer1")
    with app.acting("policy.add") as act:
        version = add_policy_text(act, strict, "strict").version
    second = web.service.app("officer2")  # four eyes: in force once another officer approves it
    with second.acting("policy.approve") as act:
        decide_policy(act, "strict", version, True)
    first = web.summary["release_id"]  # the demo's VVE table: vve x school_year, everybody in vve+po+vo
    everything = [first] + [h["release_id"] for h in web.summary["history"] if h["release_id"]]
    # the same table without a handful of pupils: those whose advice is one of the rarest (or unknown)
    from ttp import db
    from ttp.persons import build_persons

    with app.session() as session:
        frame = build_persons(app, session, session.get(db.Job, web.summary["job_id"]),
                              ["po.grade@repeats", "vo.grade@repeats"])
    pupils = frame[frame["in_vve"].eq(True) & frame["in_po"].eq(True) & frame["in_vo"].eq(True)
                   & frame["vve.vve_indicatie"].isin(["ja", "nee"]) & frame["po.school_year"].notna()]
    candidates = []
    for dimension, column in (("advice", "po.advies"), ("school", "po.brin"), ("sex", "po.sex"),
                              ("weight", "po.gewicht"), ("repeated_po", "po.grade@repeats"),
                              ("repeated_vo", "vo.grade@repeats")):
        values = pupils[column].astype(object).where(pupils[column].notna(), None)
        counts, missing = values.value_counts(), int(values.isna().sum())
        candidates += [(counts[v] + missing, dimension, [k for k in counts.index if k != v]) for v in counts.index]
        candidates.append((missing, dimension, list(counts.index)))  # only those with the value unknown
    _, dimension, kept = min((c for c in candidates if 0 < c[0] < 10), key=lambda c: c[0])
    narrower = {"policy": "strict", "purpose": "the demo's table without a handful of pupils",
                "population": ["vve", "po", "vo"], "dimensions": ["vve", "school_year"],
                "measures": ["pupils", "havo_vwo"], "filters": {dimension: kept}}
    other = web.api("researcher2")
    check = other.post("/api/v1/requests/check", json=narrower)
    assert check.status_code == 200, check.text
    assert not any(rel in check.text for rel in everything)
    assert "detail" not in check.json() and "constrained_by" not in check.json()
    assert check.json()["problems"] == ["this request cannot be released as asked (a privacy officer can see why)"]
    submitted = other.post("/api/v1/requests", json=narrower)
    assert submitted.status_code == 201 and not any(rel in submitted.text for rel in everything)
    request_id = submitted.json()["request_id"]
    assert not any(rel in other.get(f"/api/v1/requests/{request_id}").text for rel in everything)
    officer = web.api("officer1")
    preview = officer.get(f"/api/v1/requests/{request_id}/preview").json()
    assert preview["available"] and preview["refusal"] and first in preview["refusal"]
    shown = officer.get(f"/api/v1/requests/{request_id}").json()
    assert any(first in d for d in shown["check"]["detail"])


def test_guessing_tokens_cannot_flood_the_audit_log(web):
    from ttp import db

    def counts():
        with web.service.app().session() as session:
            return (session.scalar(select(func.count()).select_from(db.AuditEvent)),
                    session.scalar(select(func.count()).select_from(db.AuditCheckpoint)))

    guesser = web.client(headers={"Authorization": "Bearer ttp_000000000000_guess"})
    before = counts()
    for _ in range(30):
        assert guesser.get("/api/v1/requests").status_code == 401
    after = counts()
    assert after[0] - before[0] <= 1 and after[1] - before[1] <= 1, (before, after)


def test_a_large_body_is_refused_before_it_is_read_or_anyone_signed_in(web):
    client = web.client()
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    response = client.post("/api/v1/requests", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    signin = client.post("/signin", content=b"name=" + b"a" * (1024 * 1024),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert signin.status_code == 413


def test_a_long_release_holds_up_no_other_request_and_is_recomputed_when_the_history_moved(web, monkeypatch):
    """Release A is computed on a read snapshot; meanwhile release B is made (the service is not blocked).
    A's snapshot is then stale (B joined the history), so A is computed again under the write lock."""
    import threading

    from ttp import db, exporting

    researcher, officer, operator = web.api("researcher1"), web.api("officer1"), web.api("operator1")
    ids = []
    for dims in (["sex"], ["vve"]):
        spec = {**SPEC, "purpose": f"concurrent release by {dims[0]}", "dimensions": dims, "measures": ["pupils"]}
        submitted = researcher.post("/api/v1/requests", json=spec)
        assert submitted.status_code == 201, submitted.text
        ids.append(submitted.json()["request_id"])
        decided = officer.post(f"/api/v1/requests/{ids[-1]}/decision", json={"decision": "approve", "reason": "ok"})
        assert decided.status_code == 200, decided.text
    first, second = ids
    started, proceed = threading.Event(), threading.Event()
    original = exporting.protected_table

    def slow(act, row):
        if row.id == first and not started.is_set():
            started.set()
            assert proceed.wait(120), "the test never let the first release go on"
        return original(act, row)

    monkeypatch.setattr(exporting, "protected_table", slow)
    monkeypatch.setattr(exporting, "COMPUTED", exporting._Computed(size=0))  # each release computed here
    responses = {}
    a = threading.Thread(target=lambda: responses.update(a=operator.post(f"/api/v1/requests/{first}/release")))
    a.start()
    try:
        assert started.wait(120)
        b = threading.Thread(target=lambda: responses.update(b=operator.post(f"/api/v1/requests/{second}/release")))
        b.start()
        b.join(120)  # a deadline for a failure, not a wait for success: B needs no event from A
        b_done = not b.is_alive()
    finally:
        proceed.set()
        a.join(300)
    assert b_done, "release B waited for release A's computation"
    assert responses["b"].status_code == 201 and responses["a"].status_code == 201, responses
    with web.service.app().session() as session:
        events = {e.request_id: e for e in session.scalars(
            select(db.AuditEvent).where(db.AuditEvent.action == "release", db.AuditEvent.outcome == "ok"))}
        seqs = {r.request_id: r.seq for r in session.scalars(select(db.Release))}
    assert events[second].details["prepared"] is True
    assert events[first].details["prepared"] is False  # the history moved: computed again with B in it
    assert seqs[first] == seqs[second] + 1


def test_the_form_and_the_api_say_what_a_toml_request_says(web):
    """Comparison groups, free-text filters and pooled school years, through the page form and the API,
    give the request a TOML file would (the shipped example, here)."""
    from policies.request import load_request
    from ttp import db
    from ttp.web.pages import GROUPS

    example = load_request((Path(__file__).parents[2] / "policies" / "examples" / "requests"
                            / "advice_position_school_trend.toml").read_text(encoding="utf-8"))
    browser = web.browser("researcher1")
    form = browser.get("/requests/new?policy=monitor")
    assert form.status_code == 200 and 'name="group1:name"' in form.text and 'name="pool:years"' in form.text
    fields = {"csrf": form_csrf(form.text), "policy": "monitor", "purpose": example.purpose, "population": "po+vo",
              "dimensions": example.dimensions, "measures": example.measures, "do": "submit",
              "group1:name": "school", "group1:dimension": "school", "group1:values": "01QW00",
              "group2:name": "board", "group2:dimension": "board", "group2:values": " 65388 ,",
              "group3:name": "province", "pool:dimension": "school_year", "pool:years": "3"}
    assert GROUPS >= 3
    posted = browser.post("/requests/new", data=fields, follow_redirects=False)
    assert posted.status_code == 303, posted.text[:500]
    page_id = posted.headers["location"].rsplit("/", 1)[1]
    api = web.api("researcher1")
    spec = {"policy": "monitor", "purpose": example.purpose, "population": ["po", "vo"],
            "dimensions": example.dimensions, "measures": example.measures, "filters": {},
            "groups": {"school": {"school": ["01QW00"]}, "board": {"board": ["65388"]}, "province": {}},
            "pool": {"school_year": 3}}
    created = api.post("/api/v1/requests", json=spec)
    assert created.status_code == 201, created.text
    with web.service.app().session() as session:
        for request_id in (page_id, created.json()["request_id"]):
            stored = load_request(session.get(db.Request, request_id).text)
            assert stored.groups == example.groups and stored.pool == {"school_year": 3}
            assert (stored.dimensions, stored.measures, stored.population) == (
                example.dimensions, example.measures, example.population)
