"""create_app(): FastAPI and the Socket.IO gateway as one ASGI app."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import socketio
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandem.accel import small_json_gzip
from tandem.api import include_api
from tandem.config import Settings, get_settings
from tandem.kit.errors import error_body, install_error_handlers
from tandem.realtime.envelope import trace_id_var
from tandem.runtime import Runtime
from tandem.web import mount_web


class TandemASGI(socketio.ASGIApp):
    """The ASGI app: Socket.IO at /socket.io, everything else to FastAPI. `.runtime` is the instance."""

    runtime: Runtime
    fastapi: FastAPI


class RequestGuard:
    """Pure ASGI (no task per request, unlike BaseHTTPMiddleware): gives each request its traceId
    (X-Trace-Id in and out), refuses a declared body over the limit at once, and counts the body as it
    arrives, so a chunked upload without Content-Length cannot exceed the limit either."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared_trace, length = b"", None
        for name, value in scope["headers"]:
            if name == b"x-trace-id":
                declared_trace = value
            elif name == b"content-length":
                length = value
        trace = declared_trace[:64].decode("latin-1") or uuid.uuid4().hex
        trace_id_var.set(trace)
        trace_header = (b"x-trace-id", trace.encode("latin-1"))
        limit = self.limit_for(scope["path"])
        if length is not None and length.isdigit() and int(length) > limit:
            response = JSONResponse(
                error_body("too_large", f"the body is larger than {limit} bytes"), status_code=413
            )
            response.raw_headers.append(trace_header)
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # rendered by the error handlers as 413 too_large
                    raise StarletteHTTPException(413, f"the body is larger than {limit} bytes")
            return message

        async def traced(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), trace_header]
            await send(message)

        await self.app(scope, limited, traced)


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

    def body_limit(path: str) -> int:
        return (
            settings.max_attachment_bytes + 65536
            if "/attachments" in path
            else settings.max_body_bytes
        )

    api.add_middleware(RequestGuard, limit_for=body_limit)

    include_api(
        api
    )  # first: the API is what a request most often wants (routes are tried in order)

    @api.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"ok": True}

    @api.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        try:
            async with runtime.db.read() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"ok": False, "database": str(exc)}, status_code=503)
        return JSONResponse({"ok": True, "dispatcherLeader": runtime.dispatcher.is_leader})

    @api.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if settings.serve_web:
        mount_web(api)

    app = TandemASGI(runtime.sio, other_asgi_app=api, socketio_path="socket.io")
    app.runtime = runtime
    app.fastapi = api
    return app
