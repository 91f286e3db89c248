"""The JSON API under /api/v1: the same workflows as the pages, for scripts with an API token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, Field

from .. import documents as views
from .context import Principal
from .deps import (
    REPORT_CSP,
    acting,
    allow,
    api_user,
    audit_export_download,
    check_role,
    prepared_release,
    verify_log,
)

router = APIRouter(tags=["ttp"])
User = Annotated[Principal, Depends(api_user)]
Id = Annotated[str, Field(max_length=64)]


class RequestSpec(BaseModel):
    """A request as choices from a policy (what the web form sends)."""

    policy: str = Field(min_length=1, max_length=100)
    purpose: str = Field(min_length=1, max_length=2000)
    population: list[str] = Field(min_length=1, max_length=10)
    dimensions: list[str] = Field(default=[], max_length=10)
    measures: list[str] = Field(min_length=1, max_length=20)
    filters: dict[str, list[str]] = {}
    groups: dict[str, dict[str, list[str]]] = Field(default={}, max_length=10)
    pool: dict[str, int] = {}

    def text(self) -> str:
        return views.request_text(self.policy, self.purpose, self.population, self.dimensions, self.measures,
                                  self.filters, self.groups, self.pool)


class Decision(BaseModel):
    decision: str = Field(pattern="^(approve|deny)$")
    reason: str = Field(default="", max_length=2000)


class ReviewDecisions(BaseModel):
    accept: list[int] = Field(default=[], max_length=1000)
    reject: list[int] = Field(default=[], max_length=1000)


@router.get("/me", openapi_extra=allow("web.me"))
def me(request: Request, user: User) -> dict:
    """Who the token belongs to."""
    with acting(request, user, "web.me"):
        return {"name": user.name, "role": user.role}


@router.get("/policies", openapi_extra=allow("policy.list"))
def policies(request: Request, user: User) -> dict:
    """Every policy's newest version with the dimensions, measures and populations a request may use."""
    with acting(request, user, "policy.list") as act:
        return {"policies": views.policies(act)}


@router.get("/policies/{name}", openapi_extra=allow("policy.show"))
def policy(request: Request, user: User, name: str) -> dict:
    with acting(request, user, "policy.show", {"policy": name}) as act:
        return views.get_policy(act, name)


@router.post("/requests/check", openapi_extra=allow("request.check"))
def check(request: Request, user: User, spec: RequestSpec) -> dict:
    """The policy check a request would get, without storing it."""
    with acting(request, user, "request.check") as act:
        return views.preview(act, spec.text())


@router.post("/requests", status_code=201, openapi_extra=allow("request.submit"))
def submit(request: Request, user: User, spec: RequestSpec) -> dict:
    with acting(request, user, "request.submit") as act:
        return views.submit(act, spec.text())


@router.get("/requests", openapi_extra=allow("request.list"))
def requests(request: Request, user: User) -> dict:
    """Requests with their status (a researcher sees only their own)."""
    from ..exporting import list_requests

    with acting(request, user, "request.list") as act:
        return {"requests": list_requests(act), "releases": views.my_releases(act)}


@router.get("/requests/{request_id}", openapi_extra=allow("request.show"))
def request_show(request: Request, user: User, request_id: str) -> dict:
    with acting(request, user, "request.show", {"request": request_id}) as act:
        return views.show_request(act, request_id)


@router.get("/queue", openapi_extra=allow("request.queue"))
def queue(request: Request, user: User) -> dict:
    """Requests waiting for a decision, with their policy and differencing checks."""
    with acting(request, user, "request.queue") as act:
        return {"requests": views.queue(act)}


@router.get("/requests/{request_id}/preview", openapi_extra=allow("request.preview"))
def preview(request: Request, user: User, request_id: str) -> dict:
    """Which cells disclosure control would suppress."""
    with acting(request, user, "request.preview", {"request": request_id}) as act:
        return views.suppression_preview(act, request_id)


@router.post("/requests/{request_id}/decision", openapi_extra=allow("request.approve"))  # request.deny: same roles
def decide(request: Request, user: User, request_id: str, decision: Decision) -> dict:
    """Approve or deny (never one's own request)."""
    with acting(request, user, f"request.{decision.decision}", {"request": request_id}) as act:
        return views.decide(act, request_id, decision.decision, decision.reason)


@router.get("/releases/pending", openapi_extra=allow("release.pending"))
def pending(request: Request, user: User) -> dict:
    """Approved requests whose release is still to be made."""
    with acting(request, user, "release.pending") as act:
        return {"requests": views.approved(act)}


@router.post("/requests/{request_id}/release", status_code=201, openapi_extra=allow("release"))
def release(request: Request, user: User, request_id: str) -> dict:
    prepared = prepared_release(request, user, request_id)
    with acting(request, user, "release", {"request": request_id}) as act:
        return views.release(act, request_id, prepared)


@router.get("/releases/{release_id}", openapi_extra=allow("release.show"))
def release_show(request: Request, user: User, release_id: str) -> dict:
    """A release's metadata and files (a researcher sees only their own)."""
    with acting(request, user, "release.show", {"release": release_id}) as act:
        return views.release_doc(act, release_id)


@router.get("/releases/{release_id}/files/{name}", openapi_extra=allow("release.download"),
            responses={200: {"content": {"application/octet-stream": {}}}})
def release_file(request: Request, user: User, release_id: str, name: str) -> FileResponse:
    with acting(request, user, "release.download", {"release": release_id}) as act:
        path = views.release_file(act, release_id, name)
    return FileResponse(path, filename=path.name)


@router.get("/audit/events", openapi_extra=allow("audit.show"))
def audit_events(request: Request, user: User, actor: str | None = None, role: str | None = None,
                 action: str | None = None, object: str | None = None, since: str | None = None,
                 until: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict:
    """Audit events matching every given filter, newest last."""
    filters = {"actor": actor, "role": role, "action": action, "object": object, "since": since, "until": until}
    with acting(request, user, "audit.show") as act:
        return views.audit_events(act, filters, limit)


@router.get("/audit/verify", openapi_extra=allow("audit.verify"))
def audit_verify_all(request: Request, user: User) -> dict:
    """A full verification: chain, Merkle tree and every signed checkpoint."""
    check_role(request, user, "audit.verify")
    return verify_log(request, user)


@router.get("/audit/checkpoint", openapi_extra=allow("audit.checkpoint.show"))
def audit_checkpoint(request: Request, user: User) -> dict:
    with acting(request, user, "audit.checkpoint.show") as act:
        return views.latest_checkpoint(act)


@router.get("/audit/export", openapi_extra=allow("audit.export"),
            responses={200: {"content": {"application/json": {}}}})
def audit_export(request: Request, user: User) -> Response:
    """Every event with its inclusion proof, the latest checkpoint and the verify key."""
    return audit_export_download(request, user)


@router.get("/batches", openapi_extra=allow("batches.list"))
def batches(request: Request, user: User) -> dict:
    with acting(request, user, "batches.list") as act:
        return {"batches": views.batches(act)}


@router.get("/batches/{batch_id}", openapi_extra=allow("batches.show"))
def batch(request: Request, user: User, batch_id: str) -> dict:
    """A batch's counts, files and quarantine summary (reasons by count, never values)."""
    with acting(request, user, "batches.show", {"batch": batch_id}) as act:
        return views.batch(act, batch_id)


@router.get("/jobs", openapi_extra=allow("link.list"))
def jobs(request: Request, user: User) -> dict:
    with acting(request, user, "link.list") as act:
        return {"jobs": views.jobs(act)}


@router.get("/jobs/{job_id}", openapi_extra=allow("link.show"))
def job(request: Request, user: User, job_id: str) -> dict:
    with acting(request, user, "link.show", {"job": job_id}) as act:
        return views.job(act, job_id)


@router.get("/jobs/{job_id}/report", openapi_extra=allow("link.report"), response_class=HTMLResponse)
def job_report(request: Request, user: User, job_id: str) -> HTMLResponse:
    """The job's quality report: the same HTML as `ttp link report --html`."""
    with acting(request, user, "link.report", {"job": job_id}) as act:
        html = views.job_report_html(act, job_id)
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})


@router.get("/jobs/{job_id}/review", openapi_extra=allow("link.review.show"))
def review_pairs(request: Request, user: User, job_id: str) -> dict:
    with acting(request, user, "link.review.show", {"job": job_id}) as act:
        return views.review_queue(act, job_id)


@router.post("/jobs/{job_id}/review", openapi_extra=allow("link.review"))
def review_decide(request: Request, user: User, job_id: str, decisions: ReviewDecisions) -> dict:
    """Accept or reject review pairs by their number."""
    with acting(request, user, "link.review", {"job": job_id}) as act:
        return views.review_decide(act, job_id, decisions.accept, decisions.reject)
