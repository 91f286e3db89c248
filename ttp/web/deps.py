"""What the routes depend on: who is signed in, the role a route declares, the audited action, rendering."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates

from .. import documents as views
from .. import exporting, roles
from ..app import Acting
from ..errors import TTPError
from . import i18n
from .context import Principal, Service

HERE = Path(__file__).parent
SESSION_COOKIE = "ttp_session"
SIGNIN_CSRF_COOKIE = "ttp_signin_csrf"
LANG_COOKIE = "ttp_lang"
ACTION_KEY = "x-ttp-action"
ROLES_KEY = "x-ttp-roles"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
       "frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'")
# the linkage report is one self-contained page with inline styles and SVG: shown sandboxed, never scripts
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000",
}

templates = Jinja2Templates(directory=str(HERE / "templates"))
bearer = HTTPBearer(auto_error=False, description="An API token from `ttp users token NAME`.")


class SignInRequired(Exception):
    """A page was asked for without a live session: the browser goes to the sign-in page."""


class BadCsrf(TTPError):
    """A form came without the session's CSRF token (HTTP 400)."""


def allow(action: str) -> dict:
    """The `openapi_extra` of a route: its action and that action's roles, as `ttp.roles` declares them."""
    return {ACTION_KEY: action, ROLES_KEY: list(roles.allowed(action))}


def route_roles(request: Request) -> tuple[str, ...]:
    return roles.allowed(request.scope["route"].openapi_extra[ACTION_KEY])


def service_of(request: Request) -> Service:
    return request.app.state.service


# Actions that only read (`reads` in ttp.roles) are no event on the web: looking is not acting
# (docs/audit.md). Reading the audit log is one event per sign-in session; downloading a release's files or
# the log's export is always one.
ONCE_PER_SESSION = {"audit.show"}


@contextmanager
def acting(request: Request, user: Principal, action: str, objects: dict | None = None) -> Iterator[Acting]:
    """The action of a route, for the roles `ttp.roles` declares; audited unless it only reads."""
    service = service_of(request)
    record = request.method not in ("GET", "HEAD") or not roles.action(action).reads
    if record and action in ONCE_PER_SESSION and request.method == "GET":
        record = service.first_time((user.name, user.via, user.csrf, action))
    with service.acting(user, action, objects, record) as act:
        yield act


def prepared_release(request: Request, user: Principal, request_id: str) -> exporting.PreparedRelease | None:
    """A release's table computed on a read snapshot, outside the service's write turn, so other requests
    go on meanwhile (the release's acting command then only stores it)."""
    with service_of(request).app(user.name).reading("release") as reader:
        return exporting.prepare_release(reader, request_id)


def check_role(request: Request, user: Principal, action: str) -> None:
    """For routes whose workflow opens its own acting command: refuse (audited) a role the route is not for."""
    if user.role not in route_roles(request):
        with acting(request, user, action):
            pass


def verify_log(request: Request, user: Principal) -> dict:
    """A full verification of the audit log (the workflow audits itself), in this process's turn."""
    from ..auditing import verify

    service = service_of(request)
    with service.turn():
        return verify(service.app(user.name), None, None)


# --- who is signed in -------------------------------------------------------------------------------------


def audit_export_download(request: Request, user: Principal) -> Response:
    """The audit export as a JSON download: the same for the page and the API."""
    with acting(request, user, "audit.export") as act:
        data = views.audit_export(act)
    return Response(data, media_type="application/json",
                    headers={"Content-Disposition": 'attachment; filename="audit-export.json"'})


def page_user(request: Request) -> Principal:
    from .signin import session_user

    user = session_user(service_of(request), request.cookies.get(SESSION_COOKIE))
    if user is None:
        raise SignInRequired()
    return user


def api_user(request: Request) -> Principal:
    """The user of an API token (Authorization: Bearer); a missing or bad token is 401, a bad one audited."""
    from fastapi import HTTPException

    from .signin import token_principal

    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "an API token is needed (Authorization: Bearer ...)",
                            headers={"WWW-Authenticate": "Bearer"})
    service = service_of(request)
    user = token_principal(service, token.strip())
    if user is None:
        refused = service.refused_tokens.tally()
        if refused:  # one event per minute with the count since the last: nobody floods the log with guesses
            service.audit(actor="(unknown)", role="unknown", action="api.signin", outcome="refused",
                          details={"reason": "unknown or revoked token", "refusals": refused})
        raise HTTPException(401, "unknown or revoked API token", headers={"WWW-Authenticate": "Bearer"})
    return user


def api_auth(request: Request, credentials: HTTPAuthorizationCredentials | None = None) -> Principal:
    return api_user(request)


def language(request: Request) -> str:
    return i18n.pick(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def render(request: Request, user: Principal | None, name: str, status_code: int = 200, **context) -> Response:
    lang = language(request)
    return templates.TemplateResponse(request, name, {"user": user, "lang": lang, "_": i18n.translator(lang),
                                                      "path": request.url.path, **context},
                                      status_code=status_code)


API_PREFIX = "/api/v1"
