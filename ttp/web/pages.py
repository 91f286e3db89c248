"""The server-rendered pages: sign-in, researcher, privacy-officer and operator pages (no scripts)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from .. import documents as views
from ..errors import TTPError
from ..exporting import list_requests
from . import i18n
from .context import Principal
from .deps import (
    LANG_COOKIE,
    REPORT_CSP,
    SESSION_COOKIE,
    SIGNIN_CSRF_COOKIE,
    BadCsrf,
    acting,
    allow,
    audit_export_download,
    check_role,
    language,
    page_user,
    prepared_release,
    render,
    service_of,
    verify_log,
)

router = APIRouter(include_in_schema=False)
User = Annotated[Principal, Depends(page_user)]


def _csrf(user: Principal, token: str) -> None:
    if not user.csrf or not secrets.compare_digest(user.csrf.encode(), token.encode()):
        raise BadCsrf("the form expired or did not come from this site: reload the page and try again")


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict", path="/",
                        secure=service_of(request).secure_cookies)


# --- sign-in and language -------------------------------------------------------------------------------------


@router.get("/signin")
def signin_form(request: Request) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, None, "signin.html", csrf=token, failed=False)
    _cookie(request, response, SIGNIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.post("/signin")
def signin(request: Request, name: Annotated[str, Form(max_length=100)],
           password: Annotated[str, Form(max_length=1024)], csrf: Annotated[str, Form(max_length=100)]) -> Response:
    from .signin import sign_in

    expected = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(), csrf.encode()):
        raise BadCsrf("the sign-in form expired: reload the page and try again")
    result = sign_in(service_of(request), name, password)
    if result is None:
        token = secrets.token_urlsafe(32)
        response = render(request, None, "signin.html", status_code=401, csrf=token, failed=True)
        _cookie(request, response, SIGNIN_CSRF_COOKIE, token, max_age=3600)
        return response
    session_id, _ = result
    response = RedirectResponse("/", status_code=303)
    _cookie(request, response, SESSION_COOKIE, session_id, max_age=8 * 3600)
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/")
    return response


@router.post("/signout")
def signout(request: Request, user: User, csrf: Annotated[str, Form(max_length=100)]) -> Response:
    from .signin import sign_out

    _csrf(user, csrf)
    sign_out(service_of(request), request.cookies.get(SESSION_COOKIE, ""), user)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str = "/") -> Response:
    target = next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/"
    response = RedirectResponse(target, status_code=303)
    if code in i18n.LANGUAGES:
        _cookie(request, response, LANG_COOKIE, code, max_age=365 * 24 * 3600)
    return response


@router.get("/", openapi_extra=allow("web.home"))
def home(request: Request, user: User) -> Response:
    with acting(request, user, "web.home"):
        pass
    return render(request, user, "home.html")


# --- school -----------------------------------------------------------------------------------------------------


@router.get("/feedback", openapi_extra=allow("feedback.own"))
def feedback_page(request: Request, user: User) -> Response:
    from ..feedback import own_schools

    with acting(request, user, "feedback.own") as act:
        schools = own_schools(act)
    return render(request, user, "feedback.html", schools=schools)


@router.get("/feedback/{code}.pdf", openapi_extra=allow("feedback.download"))
def feedback_download(request: Request, user: User, code: str, round: str | None = None) -> Response:
    """One of the user's schools' report: from the newest releases, or `?round=REQUEST` for one released round."""
    from ..feedback import own_report

    round_id = round.strip()[:32] if round else None
    with acting(request, user, "feedback.download") as act:
        data = own_report(act, code, language(request), round_id)
    suffix = "".join(c for c in round_id if c.isalnum() or c == "_") if round_id else ""
    name = f"feedback-{code.upper()[:6]}" + (f"-{suffix}" if suffix else "")
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})


# --- researcher -------------------------------------------------------------------------------------------------


GROUPS = 3  # comparison groups the form offers


def _values(text: str) -> list[str]:
    """Values typed in a field, separated by commas."""
    return [v.strip()[:200] for v in text.split(",") if v.strip()][:200]


def _form_choices(form) -> dict:
    """The form's fields as the choices of a request: what a TOML request says (filters, comparison
    groups, pooled school years)."""
    filters: dict[str, list[str]] = {}
    for key in form.keys():
        if key.startswith("filter:"):
            filters[key.removeprefix("filter:")] = [str(v)[:200] for v in form.getlist(key)]
        elif key.startswith("filtertext:") and _values(str(form.get(key, ""))):
            filters[key.removeprefix("filtertext:")] = _values(str(form.get(key, "")))
    groups: dict[str, dict[str, list[str]]] = {}
    for i in range(1, GROUPS + 1):
        name = str(form.get(f"group{i}:name", "")).strip()[:60]
        if not name:
            continue
        dimension = str(form.get(f"group{i}:dimension", "")).strip()[:100]
        values = _values(str(form.get(f"group{i}:values", "")))
        groups[name] = {dimension: values} if dimension and values else {}
    pool: dict[str, int] = {}
    pool_dimension = str(form.get("pool:dimension", "")).strip()[:100]
    pool_years = str(form.get("pool:years", "")).strip()
    if pool_dimension and pool_years.isdigit():
        pool[pool_dimension] = int(pool_years[:2])
    population = str(form.get("population", ""))
    return {"policy": str(form.get("policy", ""))[:100], "purpose": str(form.get("purpose", ""))[:2000],
            "population": [p for p in population.split("+") if p],
            "dimensions": [str(v)[:100] for v in form.getlist("dimensions")],
            "measures": [str(v)[:100] for v in form.getlist("measures")], "filters": filters,
            "groups": groups, "pool": pool}


@router.get("/requests/new", openapi_extra=allow("request.form"))
def request_form(request: Request, user: User, policy: str | None = None) -> Response:
    with acting(request, user, "request.form") as act:
        policies = views.policies(act)
    chosen = next((p for p in policies if p["name"] == policy), policies[0] if policies else None)
    return render(request, user, "request_new.html", policies=policies, policy=chosen, choices=None, check=None)


@router.post("/requests/new", openapi_extra=allow("request.submit"))
async def request_post(request: Request, user: User) -> Response:
    form = await request.form()
    _csrf(user, str(form.get("csrf", "")))
    choices = _form_choices(form)
    submit_now = form.get("do") == "submit"
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_request_post, request, user, choices, submit_now)


def _request_post(request: Request, user: Principal, choices: dict, submit_now: bool) -> Response:
    text = views.request_text(**choices)
    if submit_now:
        with acting(request, user, "request.submit") as act:
            doc = views.submit(act, text)
        return RedirectResponse(f"/requests/{doc['request_id']}", status_code=303)
    with acting(request, user, "request.check") as act:
        check = views.preview(act, text)
        policies = views.policies(act)
    chosen = next((p for p in policies if p["name"] == choices["policy"]), policies[0] if policies else None)
    return render(request, user, "request_new.html", policies=policies, policy=chosen, choices=choices, check=check)


@router.get("/requests", openapi_extra=allow("request.list"))
def requests_page(request: Request, user: User) -> Response:
    with acting(request, user, "request.list") as act:
        rows = list_requests(act)
        releases = views.my_releases(act)
    return render(request, user, "requests.html", requests=rows, releases=releases)


@router.get("/requests/{request_id}", openapi_extra=allow("request.show"))
def request_page(request: Request, user: User, request_id: str) -> Response:
    with acting(request, user, "request.show", {"request": request_id}) as act:
        doc = views.show_request(act, request_id)
    return render(request, user, "request.html", r=doc)


@router.get("/releases/{release_id}", openapi_extra=allow("release.show"))
def release_page(request: Request, user: User, release_id: str) -> Response:
    with acting(request, user, "release.show", {"release": release_id}) as act:
        doc = views.release_doc(act, release_id)
    return render(request, user, "release.html", rel=doc)


@router.get("/releases/{release_id}/files/{name}", openapi_extra=allow("release.download"))
def release_download(request: Request, user: User, release_id: str, name: str) -> Response:
    with acting(request, user, "release.download", {"release": release_id}) as act:
        path = views.release_file(act, release_id, name)
    return FileResponse(path, filename=path.name)


# --- privacy officer --------------------------------------------------------------------------------------------


@router.get("/queue", openapi_extra=allow("request.queue"))
def queue_page(request: Request, user: User) -> Response:
    with acting(request, user, "request.queue") as act:
        rows = views.queue(act)
    return render(request, user, "queue.html", requests=rows)


@router.get("/queue/{request_id}", openapi_extra=allow("request.preview"))
def queue_item(request: Request, user: User, request_id: str) -> Response:
    with acting(request, user, "request.preview", {"request": request_id}) as act:
        doc = views.show_request(act, request_id)
        preview = views.suppression_preview(act, request_id)
    return render(request, user, "queue_item.html", r=doc, preview=preview, own=doc["requester"] == user.name)


@router.post("/queue/{request_id}", openapi_extra=allow("request.approve"))  # request.deny: same roles
def queue_decide(request: Request, user: User, request_id: str, csrf: Annotated[str, Form(max_length=100)],
                 decision: Annotated[str, Form(max_length=10)],
                 reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    _csrf(user, csrf)
    action = "request.deny" if decision == "deny" else "request.approve"
    with acting(request, user, action, {"request": request_id}) as act:
        views.decide(act, request_id, decision, reason)
    return RedirectResponse("/queue", status_code=303)


@router.get("/audit", openapi_extra=allow("audit.show"))
def audit_page(request: Request, user: User, actor: str = "", role: str = "", action: str = "", object: str = "",
               since: str = "", until: str = "", limit: int = 200) -> Response:
    filters = {"actor": actor, "role": role, "action": action, "object": object, "since": since, "until": until}
    with acting(request, user, "audit.show") as act:
        doc = views.audit_events(act, {k: v or None for k, v in filters.items()}, limit)
    return render(request, user, "audit.html", filters=filters, **doc)


@router.get("/audit/verify", openapi_extra=allow("audit.verify"))
def audit_verify_page(request: Request, user: User) -> Response:
    check_role(request, user, "audit.verify")
    result = verify_log(request, user)
    return render(request, user, "audit_verify.html", result=result)


@router.get("/audit/checkpoint", openapi_extra=allow("audit.checkpoint.show"))
def checkpoint_page(request: Request, user: User) -> Response:
    with acting(request, user, "audit.checkpoint.show") as act:
        doc = views.latest_checkpoint(act)
    return render(request, user, "checkpoint.html", cp=doc)


@router.get("/audit/export", openapi_extra=allow("audit.export"))
def audit_export(request: Request, user: User) -> Response:
    return audit_export_download(request, user)


# --- operator ---------------------------------------------------------------------------------------------------


@router.get("/batches", openapi_extra=allow("batches.list"))
def batches_page(request: Request, user: User) -> Response:
    with acting(request, user, "batches.list") as act:
        rows = views.batches(act)
    return render(request, user, "batches.html", batches=rows)


@router.get("/batches/{batch_id}", openapi_extra=allow("batches.show"))
def batch_page(request: Request, user: User, batch_id: str) -> Response:
    with acting(request, user, "batches.show", {"batch": batch_id}) as act:
        doc = views.batch(act, batch_id)
    return render(request, user, "batch.html", b=doc)


@router.get("/jobs", openapi_extra=allow("link.list"))
def jobs_page(request: Request, user: User) -> Response:
    with acting(request, user, "link.list") as act:
        rows = views.jobs(act)
    return render(request, user, "jobs.html", jobs=rows)


@router.get("/jobs/{job_id}", openapi_extra=allow("link.show"))
def job_page(request: Request, user: User, job_id: str) -> Response:
    with acting(request, user, "link.show", {"job": job_id}) as act:
        doc = views.job(act, job_id)
    return render(request, user, "job.html", j=doc)


@router.get("/jobs/{job_id}/report", openapi_extra=allow("link.report"))
def job_report(request: Request, user: User, job_id: str) -> Response:
    with acting(request, user, "link.report", {"job": job_id}) as act:
        html = views.job_report_html(act, job_id)
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})


@router.get("/jobs/{job_id}/review", openapi_extra=allow("link.review.show"))
def review_page(request: Request, user: User, job_id: str) -> Response:
    with acting(request, user, "link.review.show", {"job": job_id}) as act:
        doc = views.review_queue(act, job_id)
    return render(request, user, "review.html", rv=doc)


@router.post("/jobs/{job_id}/review", openapi_extra=allow("link.review"))
def review_post(request: Request, user: User, job_id: str, csrf: Annotated[str, Form(max_length=100)],
                pair: Annotated[int, Form()], decision: Annotated[str, Form(max_length=10)]) -> Response:
    _csrf(user, csrf)
    if decision not in ("accept", "reject"):
        raise TTPError("a review decision is accept or reject")
    with acting(request, user, "link.review", {"job": job_id}) as act:
        views.review_decide(act, job_id, [pair] if decision == "accept" else [],
                            [pair] if decision == "reject" else [])
    return RedirectResponse(f"/jobs/{job_id}/review", status_code=303)


@router.get("/releases", openapi_extra=allow("release.pending"))
def releases_page(request: Request, user: User) -> Response:
    with acting(request, user, "release.pending") as act:
        rows = views.approved(act)
    return render(request, user, "releases.html", requests=rows)


@router.post("/requests/{request_id}/release", openapi_extra=allow("release"))
def release_post(request: Request, user: User, request_id: str, csrf: Annotated[str, Form(max_length=100)]) -> Response:
    _csrf(user, csrf)
    prepared = prepared_release(request, user, request_id)
    with acting(request, user, "release", {"request": request_id}) as act:
        doc = views.release(act, request_id, prepared)
    return RedirectResponse(f"/releases/{doc['release_id']}", status_code=303)
