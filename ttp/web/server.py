"""The FastAPI application: security headers, who is signed in, the role of every route, error pages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..app import Acting
from ..errors import TTPError
from . import i18n, views
from .context import Forbidden, NotFound, Principal, Service

HERE = Path(__file__).parent
SESSION_COOKIE = "ttp_session"
SIGNIN_CSRF_COOKIE = "ttp_signin_csrf"
LANG_COOKIE = "ttp_lang"
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


def allow(*roles: str) -> dict:
    """The `openapi_extra` that names the roles a route is for; the handler reads it back (one source)."""
    return {ROLES_KEY: list(roles)}


def route_roles(request: Request) -> tuple[str, ...]:
    return tuple(request.scope["route"].openapi_extra[ROLES_KEY])


def service_of(request: Request) -> Service:
    return request.app.state.service


@contextmanager
def acting(request: Request, user: Principal, action: str, objects: dict | None = None) -> Iterator[Acting]:
    """The audited action of a route, for the roles the route declares."""
    with service_of(request).acting(user, action, route_roles(request), objects) as act:
        yield act


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
    user = token_principal(service_of(request), token.strip())
    if user is None:
        service_of(request).audit(actor="(unknown)", role="unknown", action="api.signin", outcome="refused",
                                  details={"reason": "unknown or revoked token"})
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


# --- the application -----------------------------------------------------------------------------------------


def create_app(service: Service) -> FastAPI:
    """The web service over an opened `Service` (settings, engine, keystore)."""
    from fastapi import Depends

    from . import api, pages

    app = FastAPI(title="ttp", version="1", summary="Privacy-preserving linkage of Dutch education data",
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None)
    app.state.service = service

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", CSP)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(SignInRequired)
    async def _signin(request: Request, exc: SignInRequired):
        return RedirectResponse("/signin", status_code=303)

    def _error(request: Request, status: int, message: str):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=status)
        return render(request, None, "error.html", status_code=status, status=status, message=message)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden):
        return _error(request, 403, str(exc))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return _error(request, 404, str(exc))

    @app.exception_handler(BadCsrf)
    async def _csrf(request: Request, exc: BadCsrf):
        return _error(request, 400, str(exc))

    @app.exception_handler(TTPError)
    async def _refused(request: Request, exc: TTPError):
        return _error(request, 409 if "cannot" in str(exc) or "already" in str(exc) else 400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        response = _error(request, exc.status_code, str(exc.detail))
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(api.router, prefix=API_PREFIX, dependencies=[Depends(bearer)])
    app.include_router(pages.router)
    return app


API_PREFIX = "/api/v1"


def role_table() -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, path, roles) of every route that checks a role: the pages' and the API's."""
    from fastapi.routing import APIRoute

    from . import api, pages

    table = []
    for prefix, router in ((API_PREFIX, api.router), ("", pages.router)):
        for route in router.routes:
            if isinstance(route, APIRoute) and route.openapi_extra and ROLES_KEY in route.openapi_extra:
                for method in sorted(route.methods):
                    table.append((method, prefix + route.path, tuple(route.openapi_extra[ROLES_KEY])))
    return table
