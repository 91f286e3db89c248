"""The FastAPI application (the app factory): security headers, error pages, the routers, the role table."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import Conflict, Forbidden, NotFound, TTPError
from . import api, pages
from .context import Service
from .deps import API_PREFIX, CSP, HEADERS, HERE, ROLES_KEY, BadCsrf, SignInRequired, bearer, render

# --- the application -----------------------------------------------------------------------------------------

MAX_BODY = 256 * 1024  # the largest form or JSON document accepted; a request is a few hundred bytes


def create_app(service: Service) -> FastAPI:
    """The web service over an opened `Service` (settings, engine, keystore)."""
    app = FastAPI(title="ttp", version="1", summary="Privacy-preserving linkage of Dutch education data",
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None)
    app.state.service = service

    @app.middleware("http")
    async def body_limit(request: Request, call_next):
        # refused before anything reads or parses the body, signed in or not
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return JSONResponse({"detail": f"the request body is larger than {MAX_BODY // 1024} KiB"},
                                status_code=413)
        if length is None and request.headers.get("transfer-encoding", "").lower() == "chunked":
            return JSONResponse({"detail": "a request body needs a Content-Length"}, status_code=411)
        return await call_next(request)

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

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict):
        return _error(request, 409, str(exc))

    @app.exception_handler(TTPError)
    async def _refused(request: Request, exc: TTPError):
        return _error(request, 400, str(exc))

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



def role_table() -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, path, roles) of every route that checks a role: the pages' and the API's."""
    table = []
    for prefix, router in ((API_PREFIX, api.router), ("", pages.router)):
        for route in router.routes:
            if isinstance(route, APIRoute) and route.openapi_extra and ROLES_KEY in route.openapi_extra:
                for method in sorted(route.methods or ()):
                    table.append((method, prefix + route.path, tuple(route.openapi_extra[ROLES_KEY])))
    return table
