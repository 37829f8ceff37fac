"""The otscope HTTP API and dashboard: create_app() wires settings, the database and the routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from fastapi.staticfiles import StaticFiles

from otscope import __version__
from otscope.active.job import Jobs
from otscope.api.cache import ResponseCache
from otscope.api.routes import (assets, communications, coverage, events, export, identify, ingest, misc, register,
                                tokens, vulnerabilities, zones)
from otscope.api.settings import Settings, host_allowed
from otscope.collector.db import init_schema, make_engine, session_factory

STATIC = Path(__file__).with_name("static")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


class Guard:
    """Pure ASGI middleware (no per-request task or body copy, unlike @app.middleware): every response, errors
    included, carries the security headers; a request whose Host is not this server's (a DNS-rebinding page
    reading a loopback inventory) is refused with 421 before any route runs; an exception that escapes
    everything else becomes a JSON 500, never a stack trace."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), "")
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                have = {k.lower() for k, _v in message.get("headers", ())}
                message["headers"] = list(message.get("headers", ())) + [h for h in _HEADERS if h[0] not in have]
            await send(message)

        if not host_allowed(host, self.settings):
            await JSONResponse({"detail": "host not allowed"}, status_code=421)(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if started:
                raise
            await JSONResponse({"detail": "internal error"}, status_code=500)(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    engine = make_engine(settings.db_url)
    init_schema(engine)
    # /docs is the package's own page (static/docs.html): FastAPI's Swagger UI would load from a CDN, which the
    # appliance cannot reach and the CSP forbids
    app = FastAPI(title="otscope", version=__version__, docs_url=None, redoc_url=None,
                  description="Passive OT asset inventory: assets, communications and visibility coverage.")
    app.state.settings = settings
    app.state.sessions = session_factory(engine)
    app.state.coverage_cache = {}
    app.state.segments_cache = {}
    app.state.response_cache = ResponseCache()
    app.state.identify_jobs = Jobs()
    for r in (misc.router, assets.router, communications.router, coverage.router, register.router, export.router,
              ingest.router, tokens.router, events.router, vulnerabilities.router, identify.router, zones.router):
        app.include_router(r)

    @app.exception_handler(HTTPException)
    async def http_error(_req: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", [])), "msg": str(e.get("msg", ""))} for e in exc.errors()][:20]
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def crash(_req: Request, _exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.add_middleware(Guard, settings=settings)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.api_route("/docs", methods=["GET", "HEAD"], include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def app_from_env() -> FastAPI:
    """The app of one `otscope serve --workers N` process: settings from the environment it was given."""
    import os

    return create_app(Settings.from_env(host=os.environ.get("OTSCOPE_SERVE_HOST", "127.0.0.1"),
                                        require_auth=os.environ.get("OTSCOPE_REQUIRE_AUTH") == "1"))
