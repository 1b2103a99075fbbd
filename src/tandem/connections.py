"""The HTTP server's guard on raw connections, before any request reaches the app.

uvicorn keeps a TCP connection open for as long as its peer likes until a first request head
arrives: a connection that sends nothing, or half an upgrade request, lives forever and costs a
file descriptor and a protocol object each. `GuardedHttp` wraps uvicorn's HTTP protocol (the class
`tandem serve` gives uvicorn as `http=`) and closes a connection whose first request head is not
complete within `TANDEM_HEADER_TIMEOUT_SECONDS` (answering 408), or whose head outgrows
`MAX_HEAD_BYTES` (431), and refuses a connection from an address that already holds
`TANDEM_MAX_CONNECTIONS_PER_IP` (503), addresses in `TANDEM_CONNECTION_CAP_EXEMPT` (loopback by
default) excepted. After
the first request, uvicorn's keep-alive timeout closes a connection that goes quiet between
requests, and a WebSocket is engine.io's to ping. Counts are per process.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import defaultdict
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tandem.config import get_settings

log = logging.getLogger("tandem.http")

MAX_HEAD_BYTES = 64 * 1024
LINGER_SECONDS = 2.0
_END_OF_HEAD = b"\r\n\r\n"

_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
    b"Content-Length: 0\r\n\r\n"
)
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nConnection: close\r\n"
    b"Content-Length: 0\r\n\r\n"
)


class Networks:
    """Addresses a per-address limit does not count (`TANDEM_CONNECTION_CAP_EXEMPT`,
    `TANDEM_SOCKET_CONNECT_IP_EXEMPT`): those in the networks, and peers without an IP address."""

    def __init__(self, entries: list[str]) -> None:
        self._networks = [ipaddress.ip_network(e, strict=False) for e in entries]

    def __contains__(self, host: object) -> bool:
        try:
            address = ipaddress.ip_address(str(host))
        except ValueError:  # a Unix socket or an unknown peer: nothing to count by
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket's IPv4 peer
        return any(address in net for net in self._networks)


class ConnectionCap:
    """Open connections per peer address, pruned lazily: a transport counts until it is closing."""

    def __init__(self, limit: int, exempt: list[str]) -> None:
        self.limit = limit
        self._exempt = Networks(exempt)
        self._open: defaultdict[str, list[asyncio.BaseTransport]] = defaultdict(list)
        self._admitted = 0

    def exempt(self, host: str) -> bool:
        return host in self._exempt

    def admit(self, host: str, transport: asyncio.BaseTransport) -> bool:
        if self.limit <= 0 or self.exempt(host):
            return True
        held = self._open[host]
        held[:] = [t for t in held if not t.is_closing()]
        if len(held) >= self.limit:
            return False
        held.append(transport)
        self._admitted += 1
        if self._admitted % 4096 == 0:  # addresses that never came back still hold their lists
            self.sweep()
        return True

    def sweep(self) -> None:
        for host in list(self._open):
            held = [t for t in self._open[host] if not t.is_closing()]
            if held:
                self._open[host] = held
            else:
                del self._open[host]

    def count(self, host: str) -> int:
        return sum(1 for t in self._open.get(host, ()) if not t.is_closing())


_cap: ConnectionCap | None = None


def connection_cap() -> ConnectionCap:
    """The process's cap, built from the settings on first use (in each worker process)."""
    global _cap
    if _cap is None:
        settings = get_settings()
        _cap = ConnectionCap(settings.max_connections_per_ip, settings.connection_cap_exempt)
    return _cap


class GuardedHttp(asyncio.Protocol):
    """uvicorn's httptools protocol, with a deadline and a size bound on the first request head.

    Built by uvicorn with the keyword arguments it gives any HTTP protocol class. Once the request
    is upgraded to a WebSocket, uvicorn hands the transport to its WebSocket protocol and this
    object hears nothing more.
    """

    inner_class: type[asyncio.Protocol] = HttpToolsProtocol

    def __init__(self, **kwargs: Any) -> None:
        self.inner = self.inner_class(**kwargs)
        self.transport: asyncio.Transport | None = None
        self.deadline: asyncio.TimerHandle | None = None
        self.head_bytes = 0
        self.tail = b""
        self.peer = "-"
        self.refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's subclasses neither
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if isinstance(peer, tuple) and peer else "-"
        if not connection_cap().admit(self.peer, transport):
            log.warning(
                "connection refused: too many from one address", extra={"client": self.peer}
            )
            self.transport.write(_BUSY)
            self.transport.close()
            return
        timeout = get_settings().header_timeout_seconds
        if timeout > 0:
            self.deadline = asyncio.get_running_loop().call_later(timeout, self._expire)
        self.inner.connection_made(self.transport)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return  # what a refused client still sends is read and dropped, see _refuse
        if self.deadline is not None:
            window = self.tail + data
            if _END_OF_HEAD in window:
                self._disarm()
            else:
                self.head_bytes += len(data)
                self.tail = window[-3:]
                if self.head_bytes > MAX_HEAD_BYTES:
                    self._refuse(_TOO_LARGE, "request head too large")
                    return
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.transport is not None and self.inner_connected:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    @property
    def inner_connected(self) -> bool:
        return getattr(self.inner, "transport", None) is not None

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
            self.tail = b""

    def _expire(self) -> None:
        self.deadline = None
        self._refuse(_TIMEOUT, "no complete request head in time")

    def _refuse(self, answer: bytes, reason: str) -> None:
        self._disarm()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        log.info("connection closed: %s", reason, extra={"client": self.peer})
        transport.write(answer)
        # Closing with the client's bytes unread would make the kernel reset the connection, and
        # the client might never read the answer: end our side, drop what still comes, then close.
        self.refused = True
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_SECONDS, transport.close)
