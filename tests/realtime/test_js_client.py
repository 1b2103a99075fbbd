"""Our contract is the Socket.IO protocol, not our own client: the official JavaScript
`socket.io-client` (tests/realtime/js/) connects, subscribes with `after` and receives the exact envelopes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from tests.harness import Server, assert_envelope, quick_signup, quick_team

JS_DIR = Path(__file__).parent / "js"


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        if os.environ.get("TANDEM_REQUIRE_SERVICES") == "1":
            pytest.fail("Node.js and npm are required (TANDEM_REQUIRE_SERVICES=1)")
        pytest.skip("Node.js and npm are not installed")
    if not (JS_DIR / "node_modules" / "socket.io-client").is_dir():
        subprocess.run(
            [npm, "ci", "--prefix", str(JS_DIR), "--no-audit", "--no-fund"], check=True, timeout=300
        )
    return node


class NodeClient:
    """One `node client.mjs` process; its JSON lines, in the order it printed them."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()
        self.ended = False
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = json.loads(raw)
            async with self._arrived:
                self.lines.append(line)
                self._arrived.notify_all()
        async with self._arrived:
            self.ended = True
            self._arrived.notify_all()

    async def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10
    ) -> None:
        async def until() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: predicate(self.lines) or self.ended)
            assert predicate(self.lines), f"the client ended with {self.lines}"

        await asyncio.wait_for(until(), timeout)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["type"] == "event"]

    async def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        await self._reader


@asynccontextmanager
async def node_client(
    node: str,
    server: Server,
    token: str | None,
    room: str = "",
    after: int | None = None,
    transports: str = "",
) -> AsyncIterator[NodeClient]:
    args = [
        str(JS_DIR / "client.mjs"),
        server.url,
        token or "-",
        room,
        "" if after is None else str(after),
        transports,
    ]
    process = await asyncio.create_subprocess_exec(
        node,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    client = NodeClient(process)
    try:
        yield client
    finally:
        await client.close()


async def _ok(request: Any, status: int = 200) -> None:
    r = await request
    assert r.status_code == status, r.text


async def test_the_official_client_gets_the_replay_then_live_events_with_exact_envelopes(
    node, sqlite_server
):
    server = sqlite_server
    org_id, (owner, a, b) = await quick_team(server, ["Owner", "Member", "Member"])
    newcomer = await quick_signup(server)
    room = f"org:{org_id}"
    await server.settle()
    async with owner.http() as http:
        cursor = (await http.get(f"/api/orgs/{org_id}/members")).json()["cursor"]
        await _ok(
            http.patch(f"/api/orgs/{org_id}/members/{a.id}", json={"role": "Admin"})
        )  # missed: replayed
    await server.settle()

    async with node_client(node, server, await owner.socket_token(), room, after=cursor) as client:
        await client.wait_for(lambda lines: any(line["type"] == "ack" for line in lines))
        kinds = [line["type"] for line in client.lines]
        assert kinds == ["connected", "event", "ack"], client.lines
        replayed = client.events[0]["payload"]
        assert client.lines[2]["ack"] == {
            "ok": True,
            "room": room,
            "seq": replayed["seq"],
            "replayed": 1,
        }

        async with b.http() as http:
            await _ok(
                http.patch(
                    "/api/me", json={"name": "Bea Live", "avatarUrl": "https://img.example/b.png"}
                )
            )
        async with owner.http() as http:
            r = await http.post(
                f"/api/orgs/{org_id}/invites", json={"email": newcomer.email, "role": "Guest"}
            )
            token = r.json()["invite"]["token"]
        async with newcomer.http() as http:
            await _ok(http.post(f"/api/invites/{token}/accept"))
        async with a.http() as http:
            await _ok(http.post(f"/api/orgs/{org_id}/leave"), 204)
        async with owner.http() as http:
            await _ok(http.delete(f"/api/orgs/{org_id}/members/{b.id}"), 204)
        await client.wait_for(lambda lines: sum(line["type"] == "event" for line in lines) >= 5)
        await server.settle()
        async with owner.http() as http:
            log = (await http.get("/api/events", params={"room": room, "after": cursor})).json()[
                "events"
            ]

    assert [e["event"] for e in log] == [
        "org.member.updated",
        "org.member.updated",
        "org.member.joined",
        "org.member.left",
        "org.member.removed",
    ]
    # Exactly the log's envelopes, in order, under their own event names, and nothing else.
    assert [line["payload"] for line in client.events] == log
    assert [line["event"] for line in client.events] == [e["event"] for e in log]
    assert [line["type"] for line in client.lines] == ["connected", "event", "ack"] + [
        "event"
    ] * 4 + ["disconnect"]
    assert client.lines[-1] == {
        "type": "disconnect",
        "reason": "io client disconnect",
    }  # our own close, at the end
    assert_envelope(
        log[1],
        "org.member.updated",
        room,
        {
            "organizationId": org_id,
            "member": {
                "userId": b.id,
                "name": "Bea Live",
                "email": b.email,
                "role": "Member",
                "status": "active",
                "avatarUrl": "https://img.example/b.png",
            },
        },
        actor_id=b.id,
    )
    assert_envelope(
        log[4],
        "org.member.removed",
        room,
        {"organizationId": org_id, "userId": b.id, "removedBy": owner.id},
        actor_id=owner.id,
    )


async def test_the_official_client_hears_its_removal_in_its_user_room(node, sqlite_server):
    org_id, (owner, member) = await quick_team(sqlite_server, ["Owner", "Member"])
    async with node_client(node, sqlite_server, member.access, transports="websocket") as client:
        await client.wait_for(lambda lines: lines[:1] == [{"type": "connected"}])
        async with owner.http() as http:
            await _ok(http.delete(f"/api/orgs/{org_id}/members/{member.id}"), 204)
        await client.wait_for(lambda lines: any(line["type"] == "event" for line in lines))
    event = client.events[0]
    assert event["event"] == "org.member.removed"
    assert_envelope(
        event["payload"],
        "org.member.removed",
        f"user:{member.id}",
        {"organizationId": org_id, "userId": member.id, "removedBy": owner.id},
        actor_id=owner.id,
    )


async def test_the_official_client_is_refused_with_unauthorized(node, sqlite_server):
    person = await quick_signup(sqlite_server)
    claims = jwt.decode(await person.socket_token(), options={"verify_signature": False})
    expired = jwt.encode(
        {**claims, "exp": datetime.now(UTC) - timedelta(minutes=1)},
        sqlite_server.settings.secret_key,
        algorithm="HS256",
    )
    tokens = {
        "no token": None,
        "garbage": "garbage",
        "expired": expired,
        "refresh token": person.refresh,
    }

    async def outcome(token: str | None) -> list[dict[str, Any]]:
        async with node_client(node, sqlite_server, token) as client:
            await client.wait_for(lambda lines: bool(lines))
        return client.lines

    results = await asyncio.gather(*(outcome(token) for token in tokens.values()))
    assert dict(zip(tokens, results, strict=True)) == {
        case: [{"type": "connect_error", "message": "unauthorized"}] for case in tokens
    }
