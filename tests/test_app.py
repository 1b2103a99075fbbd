"""The app as an operator and a client see it: health, metrics, OpenAPI, errors, limits, trace ids, the CLI."""

import asyncio
import re

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)

from tandem.app import Compression
from tests.conftest import PG_URL
from tests.harness import (
    assert_error,
    fast_password_hashing,
    fresh_database_url,
    listening,
    run_tandem,
    signup,
    start_server,
    team,
)

_ = fast_password_hashing  # autouse in this module: cheap argon2id for the signups below


async def test_health_and_readiness(sqlite_server):
    async with sqlite_server.client() as http:
        r = await http.get("/healthz")
        assert r.status_code == 200 and r.json()["ok"] is True
        r = await http.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json()["ok"] is True


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, or None when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)$"
    for line in text.splitlines():
        match = re.match(pattern, line)
        if match:
            return float(match.group(1))
    return None


async def test_metrics_count_connections_and_emitted_events(sqlite_server):
    org_id, (owner, member) = await team(sqlite_server, ["Owner", "Member"])
    async with sqlite_server.client() as http:
        r = await http.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert "# TYPE tandem_connections gauge" in r.text
        assert metric(r.text, "tandem_connections") == 0
        before = metric(r.text, "tandem_events_emitted_total", event="org.member.updated") or 0

        async with listening(member, f"org:{org_id}") as listener:
            async with owner.http() as owner_http:
                r = await owner_http.patch(f"/api/orgs/{org_id}/members/{member.id}", json={"role": "Admin"})
                assert r.status_code == 200
            await listener.wait_event("org.member.updated")
            text = (await http.get("/metrics")).text
            assert metric(text, "tandem_connections") == 1
            assert metric(text, "tandem_events_emitted_total", event="org.member.updated") == before + 1
            assert metric(text, "tandem_room_members", kind="org") == 1
            for family in ("tandem_dispatch_lag_seconds", "tandem_client_latency_seconds", "tandem_resyncs",
                           "tandem_replayed_events", "tandem_rate_limited", "tandem_dropped_events"):
                assert f"# TYPE {family}" in text, family
        for _ in range(100):  # the server notices the closed socket promptly
            text = (await http.get("/metrics")).text
            if metric(text, "tandem_connections") == 0:
                break
            await asyncio.sleep(0.02)
        assert metric(text, "tandem_connections") == 0


async def test_openapi_and_docs(sqlite_server):
    async with sqlite_server.client() as http:
        r = await http.get("/api/openapi.json")
        assert r.status_code == 200
        spec = r.json()
        assert spec["openapi"].startswith("3.")
        paths = spec["paths"]
        for path, method in (("/api/auth/signup", "post"), ("/api/auth/login", "post"), ("/api/auth/refresh", "post"),
                             ("/api/auth/socket-token", "post"), ("/api/auth/logout", "post"), ("/api/me", "get"),
                             ("/api/me", "patch"), ("/api/orgs", "post"), ("/api/orgs/{org_id}/members", "get"),
                             ("/api/orgs/{org_id}/invites", "post"), ("/api/orgs/{org_id}/invites", "get"),
                             ("/api/invites/{token}/accept", "post"), ("/api/orgs/{org_id}/members/{user_id}", "patch"),
                             ("/api/orgs/{org_id}/members/{user_id}", "delete"), ("/api/orgs/{org_id}/leave", "post"),
                             ("/api/events", "get")):
            assert method in paths.get(path, {}), (method, path)
        assert (await http.get("/api/docs")).status_code == 200


async def test_unknown_paths_and_methods_answer_in_the_error_shape(sqlite_server, tmp_path):
    async with sqlite_server.client() as http:
        for method in ("GET", "POST", "DELETE"):
            assert_error(await http.request(method, "/api/no-such-thing"), 404, "not_found")
        assert_error(await http.get("/api/orgs"), 405)
        assert_error(await http.delete("/api/me"), 405)

    # With the web client served, /api/* still never falls through to the page.
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as url,
        start_server(url, tmp_path, serve_web=True) as web,
        web.client() as http,
    ):
        assert_error(await http.get("/api/no-such-thing"), 404, "not_found")
        assert_error(await http.get("/api"), 404, "not_found")
        assert (await http.get("/healthz")).json()["ok"] is True


async def test_oversized_bodies_are_refused_with_413(sqlite_server):
    limit = sqlite_server.settings.max_body_bytes
    person = await signup(sqlite_server)
    big = b'{"name": "' + b"x" * (limit + 1) + b'"}'
    async with person.http() as http:
        r = await http.patch("/api/me", content=big, headers={"Content-Type": "application/json"})
        assert_error(r, 413, "too_large")
        r = await http.post("/api/auth/signup", content=big, headers={"Content-Type": "application/json"})
        assert_error(r, 413, "too_large")

        async def chunks():  # no Content-Length: the limit still holds
            for _ in range(limit // 65536 + 2):
                yield b" " * 65536

        r = await http.patch("/api/me", content=chunks(), headers={"Content-Type": "application/json"})
        assert_error(r, 413, "too_large")
        assert (await http.get("/api/me")).json()["user"]["name"] == person.name


async def test_trace_id_is_returned_and_carried_into_events(sqlite_server):
    org_id, (owner, member) = await team(sqlite_server, ["Owner", "Member"])
    async with sqlite_server.client() as http:
        r = await http.get("/healthz")
        generated = r.headers.get("x-trace-id")
        assert generated and len(generated) <= 64
        assert (await http.get("/healthz")).headers["x-trace-id"] != generated
        r = await http.get("/api/no-such-thing", headers={"X-Trace-Id": "client-trace-1"})
        assert r.headers["x-trace-id"] == "client-trace-1"

    async with listening(member, f"org:{org_id}") as listener, owner.http() as http:
        r = await http.patch(f"/api/orgs/{org_id}/members/{member.id}", json={"role": "Admin"},
                             headers={"X-Trace-Id": "trace-for-the-role-change"})
        assert r.headers["x-trace-id"] == "trace-for-the-role-change"
        event = await listener.wait_event("org.member.updated")
    assert event["meta"]["traceId"] == "trace-for-the-role-change"


async def test_migrate_then_demo_on_a_fresh_sqlite_file(tmp_path):
    db_file = tmp_path / "fresh.db"
    db_url = f"sqlite+aiosqlite:///{db_file}"
    code, out = await run_tandem("migrate", database_url=db_url, data_dir=tmp_path)
    assert code == 0, out
    assert db_file.exists()

    code, out = await run_tandem("demo", database_url=db_url, data_dir=tmp_path)
    assert code == 0, out
    password = re.search(r"password is '([^']+)'", out).group(1)
    logins = re.findall(r"(Owner|Admin|Member|Guest)\s+.+?\s(\S+@\S+)$", out, re.MULTILINE)
    roles = {role for role, _ in logins}
    assert roles == {"Owner", "Admin", "Member", "Guest"}, out
    assert len(logins) >= 8

    (code, again), (quiet_code, quiet) = await asyncio.gather(  # side by side: neither writes anything
        run_tandem("demo", database_url=db_url, data_dir=tmp_path),
        run_tandem("demo", "--if-empty", database_url=db_url, data_dir=tmp_path),
    )
    assert code == 0, again
    assert "already loaded" in again and "@" not in again
    assert quiet_code == 0 and quiet.strip() == "", quiet  # what `make run` uses on every start

    # The printed logins work, and the demo org has people in all four roles.
    owner_email = next(email for role, email in logins if role == "Owner")
    async with start_server(db_url, tmp_path) as server, server.client() as http:
        r = await http.post("/api/auth/login", json={"email": owner_email, "password": password})
        assert r.status_code == 200, r.text
        token = r.json()["accessToken"]
        me = (await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})).json()
        org_id = me["memberships"][0]["orgId"]
        members = (await http.get(f"/api/orgs/{org_id}/members", headers={"Authorization": f"Bearer {token}"})).json()
        assert {m["role"] for m in members["members"]} == {"Owner", "Admin", "Member", "Guest"}
        assert len(members["members"]) >= 8
        assert {m["email"] for m in members["members"]} <= {email for _, email in logins}



# -- compression ---------------------------------------------------------------

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
        "encoded json": Response(b"{}" * 800, media_type="application/json", headers={"Content-Encoding": "br"}),
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
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
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


async def test_compression_sends_what_starlettes_gzip_sends(tmp_path):
    for accept in ("gzip, deflate", "br, gzip", "identity", None):
        for name in _responses(tmp_path):  # a fresh response each time: a stream is read once
            theirs = await _sent(lambda a: GZipMiddleware(a, minimum_size=1024), _responses(tmp_path)[name], accept)
            ours = await _sent(lambda a: Compression(a, minimum_size=1024), _responses(tmp_path)[name], accept)
            assert ours == theirs, (name, accept)
            encoded = any(dict(m.get("headers", ())).get(b"content-encoding") == b"gzip" for m in ours)
            assert encoded == (accept is not None and "gzip" in accept and name in (
                "json at the minimum", "large json", "json with a charset", "streamed json", "large text", "file",
            )), (name, accept)


async def test_large_responses_are_gzipped_for_clients_that_accept_it(sqlite_server):
    org_id, (owner, member) = await team(sqlite_server, ["Owner", "Member"])
    async with sqlite_server.client() as http:
        gzipped = await http.get("/api/openapi.json")  # httpx asks for gzip and decodes it
        assert gzipped.headers["content-encoding"] == "gzip" and gzipped.headers["vary"] == "Accept-Encoding"
        plain = await http.get("/api/openapi.json", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
        assert plain.json() == gzipped.json() and plain.json()["paths"]

    for accept in ("gzip, deflate", "identity"):
        async with owner.http() as http:  # a small API answer goes as it is, whatever the client accepts
            r = await http.patch(f"/api/orgs/{org_id}/members/{member.id}", headers={"Accept-Encoding": accept},
                                 json={"role": "Admin" if accept == "identity" else "Guest"})
        assert r.status_code == 200, r.text
        assert "content-encoding" not in r.headers and "vary" not in r.headers
        assert r.headers["content-type"] == "application/json" and r.headers["x-trace-id"]
        assert int(r.headers["content-length"]) == len(r.content)
        assert r.json()["member"]["role"] == ("Admin" if accept == "identity" else "Guest")
