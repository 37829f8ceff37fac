"""The otscope HTTP API and dashboard: create_app() wires settings, the database and the routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from otscope import __version__
from otscope.api.routes import assets, communications, coverage, export, ingest, misc, register, tokens
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
    for r in (misc.router, assets.router, communications.router, coverage.router, register.router, export.router,
              ingest.router, tokens.router):
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

    @app.middleware("http")
    async def guard(request: Request, call_next):  # type: ignore[no-untyped-def]
        """Every response, errors included, carries the security headers; a request whose Host is not this
        server's (a DNS-rebinding page reading a loopback inventory) is refused before any route runs."""
        if not host_allowed(request.headers.get("host", ""), settings):
            response: Response = JSONResponse({"detail": "host not allowed"}, status_code=421)
        else:
            try:
                response = await call_next(request)
            except Exception:                      # the last resort: a JSON 500, never a stack trace
                response = JSONResponse({"detail": "internal error"}, status_code=500)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.api_route("/docs", methods=["GET", "HEAD"], include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
