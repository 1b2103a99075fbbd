"""Starlette's GZipMiddleware without its per-request setup for small JSON answers, which it
sends unchanged anyway."""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandem import accel

NAME = "small_json_gzip"
accel.register(
    accel.Accelerator(
        NAME,
        "small JSON responses skip the setup of Starlette's GZip responder",
        {"starlette": "1.10.0"},
    )
)


def gzip_middleware() -> type[SmallJSONGzip] | type[GZipMiddleware]:
    """The gzip middleware class for the app: SmallJSONGzip, or Starlette's own when the accelerator is off."""
    return SmallJSONGzip if accel.enabled(NAME) else GZipMiddleware


class SmallJSONGzip:
    """Starlette's GZipMiddleware — gzip for clients that accept it, `Vary: Accept-Encoding` — minus its
    per-request setup for what most requests get: a JSON body in one message under `minimum_size`, which
    GZip sends unchanged whatever the client accepts. Any other response goes to Starlette's own responder
    at once, as it would have (the responder was about 1.5% of a PATCH: bench/README.md)."""

    def __init__(self, app: ASGIApp, minimum_size: int) -> None:
        self.app = app
        self.minimum_size = minimum_size
        # Starlette's middleware, run only to obtain its responder's `send` for one request (_CAPTURED).
        self.gzip = GZipMiddleware(self._capture, minimum_size=minimum_size)

    @staticmethod
    async def _capture(scope: Scope, _: Receive, send: Send) -> None:
        scope[_CAPTURED] = send

    async def _responder(self, scope: Scope, receive: Receive, send: Send) -> Send:
        await self.gzip(scope, receive, send)
        return scope.pop(_CAPTURED)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = (
            None  # a JSON response's start, until its body shows whether it is small
        )
        through: Send | None = (
            None  # where the rest goes: Starlette's responder, or `send` once decided
        )

        async def compressing(message: Message) -> None:
            nonlocal held, through
            if through is not None:
                await through(message)
            elif held is None and message["type"] == "http.response.start" and _plain_json(message):
                held = message
            elif (
                held is not None
                and message["type"] == "http.response.body"
                and not message.get("more_body", False)
                and len(message.get("body", b"")) < self.minimum_size
            ):
                through = send
                await send(held)
                await send(message)
            else:
                through = await self._responder(scope, receive, send)
                if held is not None:
                    await through(held)
                await through(message)

        await self.app(scope, receive, compressing)


_CAPTURED = "tandem.compression_send"


def _plain_json(start: Message) -> bool:
    """A response start GZip would hold for its body: JSON, not partial, not already encoded."""
    if start["status"] == 206:
        return False
    content_type = None
    for name, value in start.get("headers", ()):
        if name == b"content-encoding":
            return False
        if (
            name == b"content-type" and content_type is None
        ):  # the first, as Starlette's Headers.get
            content_type = value
    return content_type == b"application/json"
