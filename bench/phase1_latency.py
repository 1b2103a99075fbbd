"""PATCH → subscriber latency for phase 1: one role change at a time, timed to the subscriber.

Starts `tandem serve` on a temp database, signs up two people, subscribes one
to the org room with the python-socketio client, then changes the other's
role N times, one at a time, timing each from just before the PATCH is sent to
the moment the subscriber's handler sees the matching org.member.updated.

    uv run python bench/phase1_latency.py [--changes 200] [--database-url URL] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import httpx
import socketio


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


responded: list[float] = []


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def measure(base: str, changes: int) -> list[float]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        tokens = []
        for who in ("owner", "member"):
            r = await http.post(
                "/api/auth/signup",
                json={
                    "email": f"{who}-{uuid.uuid4().hex[:8]}@example.com",
                    "password": "bench-password",
                    "name": who,
                },
            )
            r.raise_for_status()
            tokens.append((r.json()["user"]["id"], r.json()["accessToken"]))
        (_, owner), (member_id, member) = tokens
        auth = {"Authorization": f"Bearer {owner}"}
        org = (await http.post("/api/orgs", json={"name": "Bench"}, headers=auth)).json()[
            "organization"
        ]["id"]
        invite = await http.post(
            f"/api/orgs/{org}/invites", json={"email": "x@example.com"}, headers=auth
        )
        me = (await http.get("/api/me", headers={"Authorization": f"Bearer {member}"})).json()[
            "user"
        ]["email"]
        token = (
            await http.post(f"/api/orgs/{org}/invites", json={"email": me}, headers=auth)
        ).json()["invite"]["token"]
        (
            await http.post(
                f"/api/invites/{token}/accept", headers={"Authorization": f"Bearer {member}"}
            )
        ).raise_for_status()
        del invite
        sock_token = (await http.post("/api/auth/socket-token", headers=auth)).json()["token"]

        client = socketio.AsyncClient(reconnection=False)
        arrivals: dict[str, float] = {}
        arrived = asyncio.Event()

        @client.on("org.member.updated")
        async def on_updated(envelope: dict) -> None:
            arrivals[envelope["data"]["member"]["role"] + str(envelope["seq"])] = (
                time.perf_counter()
            )
            arrived.set()

        await client.connect(base, auth={"token": sock_token}, transports=["websocket"])
        ack = await client.call("subscribe", {"room": f"org:{org}"})
        assert ack["ok"], ack
        samples = []
        responded.clear()
        roles = ["Admin", "Member"]
        for i in range(changes):
            arrived.clear()
            arrivals.clear()
            start = time.perf_counter()
            r = await http.patch(
                f"/api/orgs/{org}/members/{member_id}", json={"role": roles[i % 2]}, headers=auth
            )
            r.raise_for_status()
            responded.append((time.perf_counter() - start) * 1000)
            await asyncio.wait_for(arrived.wait(), 10)
            samples.append((next(iter(arrivals.values())) - start) * 1000)
        await client.disconnect()
        return samples


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(
            os.environ, TANDEM_DATA_DIR=tmp, TANDEM_PORT=str(port), TANDEM_LOG_LEVEL="warning"
        )
        if args.database_url:
            env["TANDEM_DATABASE_URL"] = args.database_url
        if args.redis_url:
            env["TANDEM_REDIS_URL"] = args.redis_url
        subprocess.run(
            [sys.executable, "-m", "tandem.cli", "migrate"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "tandem.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    if httpx.get(base + "/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            samples = asyncio.run(measure(base, args.changes))
        finally:
            server.terminate()
            server.wait(10)
    print(
        f"PATCH → org.member.updated at a subscriber, {len(samples)} changes, one machine "
        f"({'PostgreSQL' if 'postgresql' in args.database_url else 'SQLite'}"
        f"{', Redis' if args.redis_url else ''}):"
    )
    print(
        f"  p50 {statistics.median(samples):.1f} ms   p99 {percentile(samples, 99):.1f} ms   "
        f"max {max(samples):.1f} ms"
    )
    print(
        f"  (the PATCH's own response: p50 {statistics.median(responded):.1f} ms, "
        f"p99 {percentile(responded, 99):.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
