"""create_app(): FastAPI and the Socket.IO gateway as one ASGI app."""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import socketio
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandem.accel import small_json_gzip
from tandem.api import include_api, requires_caller
from tandem.config import Settings, get_settings
from tandem.kit.errors import BODY_LIMIT, NotFound, Unauthenticated, install_error_handlers
from tandem.realtime.envelope import trace_id_var
from tandem.runtime import Runtime
from tandem.web import mount_web

# One debug line a request (method, path, status, traceId): the start of a trace through the logs.
request_log = logging.getLogger("tandem.request")

# Peers that are this machine (uvicorn reports the X-Forwarded-For address instead for a trusted proxy).
LOOPBACK = frozenset({"127.0.0.1", "::1"})


class TandemASGI(socketio.ASGIApp):
    """The ASGI app: Socket.IO at /socket.io, everything else to FastAPI. `.runtime` is the instance."""

    runtime: Runtime
    fastapi: FastAPI


class RequestGuard:
    """Pure ASGI (no task per request, unlike BaseHTTPMiddleware): gives each request its traceId
    (X-Trace-Id in and out) and holds each body to the limit of the route it reached.

    The body is judged when the handler first asks for it, which is after routing and before a byte
    of it is read: a route that needs a token refuses a request without one (401), a declared
    Content-Length over the route's limit is refused (413), and the bytes are counted as they arrive,
    so a chunked upload without Content-Length cannot exceed the limit either.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.rules: dict[int, tuple[int, bool]] = {}  # id(route) -> (body limit, needs a token)

    def rule_for(self, route: object) -> tuple[int, bool]:
        rule = self.rules.get(id(route))
        if rule is None:
            rule = self.rules[id(route)] = route_body_rule(route, self.settings)
        return rule

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared_trace, length, authorized = b"", None, False
        for name, value in scope["headers"]:
            if name == b"x-trace-id":
                declared_trace = value
            elif name == b"content-length":
                length = value
            elif name == b"authorization":
                authorized = True
        trace = declared_trace[:64].decode("latin-1") or uuid.uuid4().hex
        trace_id_var.set(trace)
        trace_header = (b"x-trace-id", trace.encode("latin-1"))
        limit: int | None = None
        received = 0

        async def limited() -> Message:
            nonlocal limit, received
            if limit is None:
                limit, needs_token = self.rule_for(scope.get("route"))
                if needs_token and not authorized:
                    raise StarletteHTTPException(
                        401, "sign in first: send Authorization: Bearer <accessToken>"
                    )
                if length is not None and length.isdigit() and int(length) > limit:
                    raise StarletteHTTPException(413, f"the body is larger than {limit} bytes")
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # rendered by the error handlers as 413 too_large
                    raise StarletteHTTPException(413, f"the body is larger than {limit} bytes")
            return message

        async def traced(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), trace_header]
                if request_log.isEnabledFor(logging.DEBUG):
                    request_log.debug(
                        "request",
                        extra={
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": message["status"],
                        },
                    )
            await send(message)

        await self.app(scope, limited, traced)


def route_body_rule(route: object, settings: Settings) -> tuple[int, bool]:
    """The body limit a route declares (errors.BODY_LIMIT in its openapi_extra) and whether it needs
    a signed-in caller; a request that reached no API route gets the default and no token check."""
    if not isinstance(route, APIRoute):
        return settings.max_body_bytes, False
    kind = (route.openapi_extra or {}).get(BODY_LIMIT)
    # An upload arrives as multipart: the file plus its part headers and boundaries.
    limit = (
        settings.max_attachment_bytes + 65536 if kind == "attachment" else settings.max_body_bytes
    )
    return limit, requires_caller(route.dependant)


def create_app(settings: Settings | None = None) -> TandemASGI:
    settings = settings or get_settings()
    runtime = Runtime(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    api = FastAPI(
        title="Tandem",
        version="1.0",
        summary="A self-hosted real-time team workspace",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    api.state.runtime = runtime
    install_error_handlers(api)
    api.add_middleware(small_json_gzip.gzip_middleware(), minimum_size=1024)

    api.add_middleware(RequestGuard, settings=settings)

    include_api(
        api
    )  # first: the API is what a request most often wants (routes are tried in order)

    @api.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        # The instance id tells which process answered (behind a balancer, or a port reused).
        return {"ok": True, "instance": settings.instance_id}

    @api.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        try:
            async with runtime.db.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"ok": False, "database": str(exc)}, status_code=503)
        return JSONResponse({"ok": True, "dispatcherLeader": runtime.dispatcher.is_leader})

    @api.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if settings.metrics_token:
            offered = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(offered, f"Bearer {settings.metrics_token}".encode()):
                raise Unauthenticated(
                    "send Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"}
                )
        elif not request.client or request.client.host not in LOOPBACK:
            # Without a token the figures are for this machine alone; others learn nothing is here.
            raise NotFound("no such endpoint")
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if settings.serve_web:
        mount_web(api)

    app = TandemASGI(runtime.sio, other_asgi_app=api, socketio_path="socket.io")
    app.runtime = runtime
    app.fastapi = api
    return app
