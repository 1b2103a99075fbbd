"""SmallJSONGzip (accel/small_json_gzip.py): the same bytes as Starlette's GZipMiddleware, and the app's
answers gzipped when large, plain when small, with the accelerator on and off."""

import asyncio

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)

from tandem.accel.small_json_gzip import SmallJSONGzip
from tests.harness import fast_password_hashing, team

_ = fast_password_hashing  # autouse in this module: cheap argon2id for the signups below


def _responses(tmp_path):
    """ASGI apps for every kind of response the compression layer tells apart."""
    big_file = tmp_path / "app.js"
    if not big_file.exists():
        big_file.write_text("console.log('tandem');\n" * 4000)

    async def chunks(media: bytes):
        for i in range(3):
            yield media * (400 * i)

    return {
        "small json": JSONResponse({"ok": True}),
        "json just under the minimum": Response(b"x" * 1023, media_type="application/json"),
        "json at the minimum": Response(b"x" * 1024, media_type="application/json"),
        "large json": JSONResponse({"items": list(range(2000))}),
        "json with a charset": Response(b"{}" * 800, media_type="application/json; charset=utf-8"),
        "partial json": Response(b"{}" * 800, status_code=206, media_type="application/json"),
        "encoded json": Response(
            b"{}" * 800, media_type="application/json", headers={"Content-Encoding": "br"}
        ),
        "empty json": Response(b"", media_type="application/json"),
        "streamed json": StreamingResponse(chunks(b"[]"), media_type="application/json"),
        "event stream": StreamingResponse(chunks(b"data: x\n\n"), media_type="text/event-stream"),
        "small text": PlainTextResponse("hello"),
        "large text": PlainTextResponse("hello " * 1000),
        "image": Response(b"\x89PNG" * 1000, media_type="image/png"),
        "file": FileResponse(big_file),
        "no content": Response(status_code=204),
    }


async def _sent(middleware, app, accept: str | None) -> list:
    """What an ASGI server is sent for one GET through middleware(app)."""
    headers = [(b"accept-encoding", accept.encode())] if accept is not None else []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent = []
    requested = False

    async def receive():
        nonlocal requested
        if requested:  # the client stays connected
            await asyncio.Event().wait()
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append({k: (list(v) if k == "headers" else v) for k, v in message.items()})

    await middleware(app)(scope, receive, send)
    return sent


async def test_the_shortcut_sends_what_starlettes_gzip_sends(tmp_path):
    for accept in ("gzip, deflate", "br, gzip", "identity", None):
        for name in _responses(tmp_path):  # a fresh response each time: a stream is read once
            theirs = await _sent(
                lambda a: GZipMiddleware(a, minimum_size=1024), _responses(tmp_path)[name], accept
            )
            ours = await _sent(
                lambda a: SmallJSONGzip(a, minimum_size=1024), _responses(tmp_path)[name], accept
            )
            assert ours == theirs, (name, accept)
            encoded = any(
                dict(m.get("headers", ())).get(b"content-encoding") == b"gzip" for m in ours
            )
            assert encoded == (
                accept is not None
                and "gzip" in accept
                and name
                in (
                    "json at the minimum",
                    "large json",
                    "json with a charset",
                    "streamed json",
                    "large text",
                    "file",
                )
            ), (name, accept)


async def test_large_responses_are_gzipped_for_clients_that_accept_it(sqlite_server):
    org_id, (owner, member) = await team(sqlite_server, ["Owner", "Member"])
    async with sqlite_server.client() as http:
        gzipped = await http.get("/api/openapi.json")  # httpx asks for gzip and decodes it
        assert (
            gzipped.headers["content-encoding"] == "gzip"
            and gzipped.headers["vary"] == "Accept-Encoding"
        )
        plain = await http.get("/api/openapi.json", headers={"Accept-Encoding": "identity"})
        assert (
            "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
        )
        assert plain.json() == gzipped.json() and plain.json()["paths"]

    for accept in ("gzip, deflate", "identity"):
        async with (
            owner.http() as http
        ):  # a small API answer goes as it is, whatever the client accepts
            r = await http.patch(
                f"/api/orgs/{org_id}/members/{member.id}",
                headers={"Accept-Encoding": accept},
                json={"role": "Admin" if accept == "identity" else "Guest"},
            )
        assert r.status_code == 200, r.text
        assert "content-encoding" not in r.headers and "vary" not in r.headers
        assert r.headers["content-type"] == "application/json" and r.headers["x-trace-id"]
        assert int(r.headers["content-length"]) == len(r.content)
        assert r.json()["member"]["role"] == ("Admin" if accept == "identity" else "Guest")
