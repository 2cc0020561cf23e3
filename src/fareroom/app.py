"""create_app(): routers, error handlers, lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fareroom import __version__, openapi
from fareroom.accounts.endpoints import router as users_router
from fareroom.billing.endpoints import router as billing_router
from fareroom.bootstrap import Context, bootstrap
from fareroom.chat.endpoints import router as chat_router
from fareroom.chat.realtime import on_stale, routes
from fareroom.chat.visit_endpoints import router as visits_router
from fareroom.clients.endpoints import router as clients_router
from fareroom.config import Settings
from fareroom.gateway.base import GatewayError, as_fareroom_error
from fareroom.gateway.endpoints import router as sandbox_router
from fareroom.http import PROBLEM
from fareroom.kit.errors import FareroomError, Unauthenticated, ValidationFailed
from fareroom.kit.fields import said
from fareroom.kit.ratelimit import RateLimited
from fareroom.meetings.endpoints import router as meetings_router
from fareroom.meetings.realtime import MeetingPage
from fareroom.metering.endpoints import router as metering_router
from fareroom.payments.endpoints import router as payments_router
from fareroom.realtime.websocket import STATE_KEY, Routes
from fareroom.registrations.endpoints import router as registrations_router
from fareroom.revenue.endpoints import router as revenue_router
from fareroom.serving import HEAD_SECONDS_KEY
from fareroom.web.billing import router as billing_pages_router
from fareroom.web.chat.admin import router as rooms_pages_router
from fareroom.web.chat.console import router as console_router
from fareroom.web.chat.pages import router as chat_pages_router
from fareroom.web.meetings.admin import router as meeting_admin_router
from fareroom.web.meetings.pages import router as meeting_pages_router
from fareroom.web.meetings.settings import router as meeting_settings_router
from fareroom.web.pages import router as pages_router
from fareroom.web.registrations.admin import router as registration_admin_router
from fareroom.web.registrations.pages import router as registration_pages_router
from fareroom.web.render import templates
from fareroom.web.security import DOCS_PATHS, security_headers
from fareroom.webhooks.endpoints import router as webhooks_router
from fareroom.worker.loop import run_worker

log = logging.getLogger("fareroom")
# Swagger UI's and ReDoc's files come from the fastapi-offline package, so /docs works on a
# machine without internet (FastAPI's own pages load them from a CDN).
_DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_STATIC = "/static/docs"
_REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_EMPTY_IMAGE = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"
_JSON_PREFIXES = ("/api/", "/webhooks/", "/sandbox/tokens", "/chat/api/")


def _wants_json(request: Request) -> bool:
    path = request.url.path
    # a meeting's start page joins by JSON (``POST /m/<code>/join``)
    return path.startswith(_JSON_PREFIXES) or (path.startswith("/m/") and path.endswith("/join"))


def _problem(request: Request, error: FareroomError) -> Response:
    # A refusal by a rate limit says when to come back.
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
    if _wants_json(request):
        return JSONResponse(error.problem(), error.status, headers, media_type=PROBLEM)
    if isinstance(error, Unauthenticated):
        return RedirectResponse("/login", status_code=303)
    return templates.TemplateResponse(
        request, "error.html", {"problem": error}, status_code=error.status, headers=headers
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FareroomError)
    async def on_error(request: Request, exc: FareroomError) -> Response:
        return _problem(request, exc)

    @app.exception_handler(GatewayError)
    async def on_gateway_error(request: Request, exc: GatewayError) -> Response:
        return _problem(request, as_fareroom_error(exc))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            err = FareroomError("The request body is not valid JSON.", code="malformed_json")
            return _problem(request, err)
        detail = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
                "message": said(dict(e)),
                "type": e.get("type", ""),
            }
            for e in errors
        ]
        first = detail[0] if detail else {"field": "", "message": "invalid"}
        err = ValidationFailed(
            f"{first['field'] or 'The request'}: {first['message']}",
            code="invalid_request",
            errors=detail,
        )
        return _problem(request, err)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        err = FareroomError(str(exc.detail), code=code, status=exc.status_code,
                            title=str(exc.detail))  # fmt: skip
        return _problem(request, err)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        err = FareroomError("Something went wrong on our side; nothing was changed.",
                            code="internal_error", status=500, title="Internal error")  # fmt: skip
        return _problem(request, err)


class SecurityHeaders:
    """Adds CSP, X-Frame-Options, nosniff and Referrer-Policy to every HTTP response: pages,
    API, static files and errors (it wraps the whole stack, the 500 handler included).

    A response that set its own Content-Security-Policy (the chat page, which its room's
    sites may frame) keeps it and decides X-Frame-Options itself. Pure ASGI: a request
    costs one small closure, the headers are built once.
    """

    def __init__(self, app: ASGIApp, settings: Callable[[], Settings]) -> None:
        self.app = app
        self._settings = settings
        self._built: dict[bool, list[tuple[bytes, bytes]]] = {}

    def _headers(self, path: str) -> list[tuple[bytes, bytes]]:
        docs = path.startswith(DOCS_PATHS)
        if docs not in self._built:
            self._built[docs] = security_headers(self._settings(), path)
        return self._built[docs]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._headers(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                have = {name.lower() for name, _ in headers}
                if b"content-security-policy" in have:
                    have.add(b"x-frame-options")
                headers += [h for h in extra if h[0] not in have]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _Fareroom(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # Outside Starlette's ServerErrorMiddleware, so a 500 carries the headers too.
        return SecurityHeaders(super().build_middleware_stack(), lambda: self.state.ctx.settings)


def _install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc, every file they load served from here.

    Their pages need, under a Content-Security-Policy, ``script-src 'self'
    'unsafe-inline'`` (Swagger UI's page starts it with an inline script), ``style-src
    'self' 'unsafe-inline'``, ``img-src 'self' data:``, ``worker-src blob:`` (ReDoc) and
    ``connect-src 'self'`` (to read /openapi.json). ReDoc's bundle is served with its one
    foreign file (the "API docs by Redocly" logo from its CDN, refused by ``img-src``, a
    CSP violation in the browser's console on every visit) replaced by an empty image."""
    redoc_js: list[bytes] = []

    @app.get(f"{DOCS_STATIC}/redoc.standalone.js", include_in_schema=False)
    async def redoc_bundle() -> Response:
        if not redoc_js:
            bundle = _DOCS_ASSETS / "redoc.standalone.js"
            text = await asyncio.to_thread(bundle.read_text, "utf-8")
            redoc_js.append(text.replace(_REDOC_CDN_LOGO, _EMPTY_IMAGE).encode())
        return Response(redoc_js[0], media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=3600"})  # fmt: skip

    app.mount(DOCS_STATIC, StaticFiles(directory=str(_DOCS_ASSETS)), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title=f"{app.title} API",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon.png",
        )  # fmt: skip

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json", title=f"{app.title} API",
            redoc_js_url=f"{DOCS_STATIC}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_STATIC}/favicon.png", with_google_fonts=False,
        )  # fmt: skip


def _sockets(ctx: Context) -> Routes:
    """Every page's socket: the chat's and the meeting's (``/ws/meeting``, whose signalling
    has a frame budget of its own)."""
    limit = ctx.settings.limit_meeting_frames
    return routes(
        ctx.pages,
        {"/ws/meeting": MeetingPage.factory(ctx.meeting_pages)},
        budgets={"/ws/meeting": (limit.count, limit.seconds)},
    )


def create_app(ctx: Context | None = None, *, settings: Settings | None = None,
               worker: bool = False, watch: bool = True) -> FastAPI:  # fmt: skip
    """The ASGI app. Tests pass their own ``ctx``; ``worker`` runs jobs in this process;
    ``watch`` looks for silent pages every second (tests on a frozen clock look themselves)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        own = ctx is None
        app.state.ctx = ctx or bootstrap(settings)
        stop = asyncio.Event()
        tasks = []
        if watch:
            tasks.append(asyncio.create_task(app.state.ctx.connections.watch(stop, on_stale)))
        if worker:
            tasks.append(asyncio.create_task(run_worker(app.state.ctx, stop)))
        try:
            # The pages' sockets, for the server's WebSocket protocol (realtime.websocket),
            # and the deadline of a request's head, for its HTTP protocol (serving).
            yield {
                STATE_KEY: _sockets(app.state.ctx),
                HEAD_SECONDS_KEY: app.state.ctx.settings.http_head_seconds,
            }
        finally:
            stop.set()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
            if own:
                await app.state.ctx.close()

    app = _Fareroom(
        title="Fareroom",
        version=__version__,
        lifespan=lifespan,
        description="Meetings, paid chat and billing for businesses that sell "
        "their time. Amounts are integers in minor units; errors are RFC 9457 problem "
        "details with a machine-readable `code`.",
        docs_url=None,
        redoc_url=None,
    )
    openapi.install(app)
    if ctx is not None:
        app.state.ctx = ctx
    _install_error_handlers(app)

    # First: a route is found by trying the routes in order, and probes come often.
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/_bench/counters", include_in_schema=False)
    async def bench_counters(request: Request) -> dict[str, int]:
        """The SQL statements and commits this process sent so far (bench/payments.py),
        with FAREROOM_BENCH_COUNTERS=1 only."""
        counted = request.app.state.ctx.statements
        if counted is None:
            raise StarletteHTTPException(404, "Not Found")
        return {"statements": counted.statements, "commits": counted.commits}

    routers = (users_router, clients_router, payments_router, chat_router, metering_router,
               meetings_router, registrations_router, revenue_router, webhooks_router,
               billing_router, sandbox_router,
               visits_router, rooms_pages_router, console_router, chat_pages_router,
               meeting_pages_router, meeting_settings_router, meeting_admin_router,
               registration_pages_router, registration_admin_router, billing_pages_router,
               pages_router)  # fmt: skip
    for router in routers:
        app.include_router(router)
    _install_docs(app)  # before /static, which would take /static/docs for its own
    app.mount(
        "/static",
        StaticFiles(directory=str(Path(__file__).parent / "web" / "static")),
        name="static",
    )

    return app


def served_app() -> FastAPI:
    """``fareroom serve --no-worker``: the app alone (jobs run in ``fareroom worker``)."""
    return create_app()


def app_with_worker() -> FastAPI:
    """``fareroom serve``: the app with the job worker in the same process (embedded mode)."""
    return create_app(worker=True)
