"""Request bodies as an attacker sends them: each route's own limit, and no body read before sign-in."""

import asyncio

from fastapi import Request

from tandem.kit.errors import body_limit
from tests.conftest import PG_URL
from tests.harness import assert_error, fresh_database_url, signup, start_server

BIG = 20 * 1024 * 1024


async def first_answer(port: int, request: bytes, sent: int) -> tuple[bytes, int]:
    """Send a request's head and `sent` bytes of its body, then wait (5 s at most) for the answer's
    status line without sending the rest; returns the status line and the bytes sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request + b"x" * sent)
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 5)
        return status.strip(), sent
    finally:
        writer.close()


def head(method: str, path: str, length: int, token: str | None = None) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Content-Length: {length}",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_a_body_without_a_token_is_refused_before_it_is_read(sqlite_server):
    # The path that once took the attachment limit by its name, and plain authenticated routes.
    for method, path in (
        ("PATCH", "/api/orgs/org_acme/members/attachments"),
        ("PATCH", "/api/me"),
        ("POST", "/api/orgs"),
    ):
        status, sent = await first_answer(sqlite_server.port, head(method, path, BIG), 65536)
        assert status == b"HTTP/1.1 401 Unauthorized", (path, status)
        assert sent < BIG
    async with sqlite_server.client() as http:
        r = await http.patch("/api/orgs/org_acme/members/attachments", content=b"x" * BIG)
        assert_error(r, 401, "unauthenticated")


async def test_a_body_over_the_routes_limit_is_refused_at_once_with_a_token(sqlite_server):
    person = await signup(sqlite_server)
    status, _ = await first_answer(
        sqlite_server.port, head("PATCH", "/api/me", BIG, person.access), 0
    )
    assert status.startswith(b"HTTP/1.1 413 "), status
    # Under the limit, the same route works as before, and so do public routes with bodies.
    async with person.http() as http:
        r = await http.patch("/api/me", json={"name": "Still Here"})
        assert r.status_code == 200, r.text
        assert r.json()["user"]["name"] == "Still Here"
    status, _ = await first_answer(sqlite_server.port, head("POST", "/api/auth/login", BIG), 0)
    assert status.startswith(b"HTTP/1.1 413 "), status


async def test_a_route_declares_the_attachment_limit(tmp_path):
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path, max_body_bytes=1024, max_attachment_bytes=200_000) as server,
    ):

        async def upload(request: Request) -> dict:
            return {"received": len(await request.body())}

        api = server.app.fastapi
        api.add_api_route(
            "/upload-test", upload, methods=["POST"], openapi_extra=body_limit("attachment")
        )
        api.add_api_route("/plain-test", upload, methods=["POST"])
        body = b"x" * 100_000
        async with server.client() as http:
            r = await http.post("/upload-test", content=body)
            assert r.status_code == 200 and r.json() == {"received": len(body)}, r.text
            assert_error(await http.post("/plain-test", content=body), 413, "too_large")
            too_big = b"x" * (200_000 + 65536 + 1)
            assert_error(await http.post("/upload-test", content=too_big), 413, "too_large")

            async def chunks():  # no Content-Length: counted as it arrives
                for _ in range(5):
                    yield b"x" * 65536

            assert_error(await http.post("/upload-test", content=chunks()), 413, "too_large")
        assert api.openapi()  # the declaration is a valid OpenAPI extension
