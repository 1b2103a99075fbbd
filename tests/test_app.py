"""The app as an operator and a client see it: health, metrics, OpenAPI, errors, limits, trace ids, the CLI."""

import asyncio
import re

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
        assert r.json()["instance"] == sqlite_server.runtime.settings.instance_id != ""
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
                r = await owner_http.patch(
                    f"/api/orgs/{org_id}/members/{member.id}", json={"role": "Admin"}
                )
                assert r.status_code == 200
            await listener.wait_event("org.member.updated")
            text = (await http.get("/metrics")).text
            assert metric(text, "tandem_connections") == 1
            assert (
                metric(text, "tandem_events_emitted_total", event="org.member.updated")
                == before + 1
            )
            assert metric(text, "tandem_room_members", kind="org") == 1
            for family in (
                "tandem_dispatch_lag_seconds",
                "tandem_client_latency_seconds",
                "tandem_resyncs",
                "tandem_replayed_events",
                "tandem_rate_limited",
                "tandem_dropped_events",
            ):
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
        for path, method in (
            ("/api/auth/signup", "post"),
            ("/api/auth/login", "post"),
            ("/api/auth/refresh", "post"),
            ("/api/auth/socket-token", "post"),
            ("/api/auth/logout", "post"),
            ("/api/me", "get"),
            ("/api/me", "patch"),
            ("/api/orgs", "post"),
            ("/api/orgs/{org_id}/members", "get"),
            ("/api/orgs/{org_id}/invites", "post"),
            ("/api/orgs/{org_id}/invites", "get"),
            ("/api/invites/{token}/accept", "post"),
            ("/api/orgs/{org_id}/members/{user_id}", "patch"),
            ("/api/orgs/{org_id}/members/{user_id}", "delete"),
            ("/api/orgs/{org_id}/leave", "post"),
            ("/api/events", "get"),
        ):
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
        r = await http.post(
            "/api/auth/signup", content=big, headers={"Content-Type": "application/json"}
        )
        assert_error(r, 413, "too_large")

        async def chunks():  # no Content-Length: the limit still holds
            for _ in range(limit // 65536 + 2):
                yield b" " * 65536

        r = await http.patch(
            "/api/me", content=chunks(), headers={"Content-Type": "application/json"}
        )
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
        r = await http.patch(
            f"/api/orgs/{org_id}/members/{member.id}",
            json={"role": "Admin"},
            headers={"X-Trace-Id": "trace-for-the-role-change"},
        )
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

    (
        (code, again),
        (quiet_code, quiet),
    ) = await asyncio.gather(  # side by side: neither writes anything
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
        members = (
            await http.get(
                f"/api/orgs/{org_id}/members", headers={"Authorization": f"Bearer {token}"}
            )
        ).json()
        assert {m["role"] for m in members["members"]} == {"Owner", "Admin", "Member", "Guest"}
        assert len(members["members"]) >= 8
        assert {m["email"] for m in members["members"]} <= {email for _, email in logins}
