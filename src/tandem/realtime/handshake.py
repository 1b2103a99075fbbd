"""The socket handshake's own checks, before a connect reaches the gateway: which pages may open a
socket (their Origin), the connecting client's address, and the refusal that tells a client when
to come back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import socketio

from tandem.realtime.limits import retry_after_ms


class OriginCheck:
    """Which pages may open a socket: the server's own origin, whatever address it is served at
    (the request's Host, or X-Forwarded-Host/-Proto from a balancer), and the configured ones.
    A page elsewhere is refused, so another site cannot act with a visitor's login."""

    def __init__(self, allowed: list[str], refused: Callable[[], None] | None = None) -> None:
        self.allowed = frozenset(origin.rstrip("/") for origin in allowed)
        self.refused = refused

    def __call__(self, origin: str | None, environ: dict[str, Any]) -> bool:
        ok = self._allows(origin, environ)
        # engine.io asks again for the response's CORS headers: one refusal per request.
        if not ok and self.refused is not None and not environ.get("tandem.origin_refused"):
            environ["tandem.origin_refused"] = True
            self.refused()
        return ok

    def _allows(self, origin: str | None, environ: dict[str, Any]) -> bool:
        if not origin:
            return False
        if origin in self.allowed:
            return True
        scheme = environ.get("wsgi.url_scheme", "http")
        own = {f"{scheme}://{environ.get('HTTP_HOST', '')}"}
        forwarded_host = environ.get("HTTP_X_FORWARDED_HOST", environ.get("HTTP_HOST", ""))
        forwarded_proto = environ.get("HTTP_X_FORWARDED_PROTO", scheme)
        own.add(f"{forwarded_proto.split(',')[0].strip()}://{forwarded_host.split(',')[0].strip()}")
        return origin in own


def client_address(environ: dict[str, Any]) -> str:
    """The connecting client's address: uvicorn's peer (X-Forwarded-For from a trusted proxy)."""
    # engine.io's ASGI environ sets REMOTE_ADDR to a constant; the scope has the real peer
    peer = (environ.get("asgi.scope") or {}).get("client")
    return str(peer[0] if peer else environ.get("REMOTE_ADDR", ""))


def connect_refused(reason: str, wait: float) -> socketio.exceptions.ConnectionRefusedError:
    """A refusal the client's connect_error shows as `rate_limited`, with when to try again."""
    return socketio.exceptions.ConnectionRefusedError(
        "rate_limited",
        {"code": "rate_limited", "message": reason, "retryAfterMs": retry_after_ms(wait)},
    )
