"""Two `tandem serve` processes behind nginx, configured by deploy/nginx.conf itself: REST, uploads
and a socket through nginx only, /metrics kept in, and a socket whose instance is killed reconnects
through nginx to the other and gets every event it missed, once — first one instance, then the
other; and a browser signed in through nginx outlives the instance that served its socket."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import socketio

from tandem.config import Settings
from tests.conftest import PG_URL, REDIS_URL, REQUIRE, need
from tests.harness import (
    PASSWORD,
    REDIS_PREFIX,
    delete_redis_keys,
    eventually,
    free_port,
    fresh_database_url,
    postgres_available,
    redis_available,
    tandem_serve,
)

SITE = Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def need_nginx() -> str:
    if NGINX:
        return NGINX
    message = "nginx is not installed (`make nginx` installs Debian's)"
    if REQUIRE:
        pytest.fail(f"{message}; TANDEM_REQUIRE_SERVICES=1 requires it")
    pytest.skip(message)


def render_site(listen: int, a: int, b: int) -> str:
    """deploy/nginx.conf with its public port and its two instances' addresses replaced."""
    text = SITE.read_text()
    for old, new in (
        ("listen 80;", f"listen 127.0.0.1:{listen};"),
        ("server tandem-a:8000 ", f"server 127.0.0.1:{a} "),
        ("server tandem-b:8000 ", f"server 127.0.0.1:{b} "),
    ):
        assert text.count(old) == 1, f"deploy/nginx.conf no longer has one `{old}`"
        text = text.replace(old, new)
    return text


def main_config(prefix: Path, site: Path) -> str:
    """What /etc/nginx/nginx.conf is to a site file, with every path under `prefix` (no root needed).
    X-Upstream names the instance that answered, so the test knows where nginx sends requests."""
    # Run as root, nginx's workers would drop to `nobody`, who cannot enter pytest's tmp directory.
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""{user}
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    add_header X-Upstream $upstream_addr always;
    include {site};
}}
"""


@contextlib.contextmanager
def nginx(binary: str, prefix: Path, site_text: str, port: int) -> Any:
    prefix.mkdir()
    site = prefix / "tandem.conf"
    site.write_text(site_text)
    conf = prefix / "nginx.conf"
    conf.write_text(main_config(prefix, site))
    error_log = prefix / "error.log"
    proc = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(conf), "-e", str(error_log)]
        + ["-g", f"daemon off; pid {prefix}/nginx.pid;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not listening(port):
            assert proc.poll() is None, error_log.read_text()[-2000:]
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()  # nginx's fast shutdown: the master ends its workers, then itself
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its process group
        proc.wait()


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@dataclass
class Instance:
    """One `tandem serve` process: `kill` sends SIGKILL to its process group, and `start` again
    listens on the same port, so nginx finds it where it was."""

    name: str
    root: Path
    env: dict[str, str]
    port: int = 0
    starts: int = 0
    stack: ExitStack = field(default_factory=ExitStack)

    def start(self) -> Instance:
        self.starts += 1
        data_dir = self.root / f"{self.name}-{self.starts}"
        data_dir.mkdir()
        args = ("--port", str(self.port)) if self.port else ()
        _, self.port, _ = self.stack.enter_context(tandem_serve(data_dir, *args, **self.env))
        return self

    def kill(self) -> None:
        self.stack.close()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def sockets(self) -> int:
        """Its open sockets, from its own /metrics (which it answers to loopback clients)."""
        text = httpx.get(f"http://{self.address}/metrics", timeout=5).text
        found = re.search(r"^tandem_connections (\S+)$", text, re.M)
        assert found, text[:500]
        return int(float(found.group(1)))


class Client:
    """A Socket.IO client through nginx, reconnecting by itself with a fresh socket token."""

    def __init__(self, base: str, access: str) -> None:
        self.base, self.access = base, access
        self.events: list[dict[str, Any]] = []
        self.connects = 0
        self.disconnects = 0
        self.sio = socketio.AsyncClient(
            reconnection=True,
            reconnection_delay=0.3,
            reconnection_delay_max=1,
            randomization_factor=0,
        )

        @self.sio.event
        async def connect() -> None:
            self.connects += 1

        @self.sio.event
        async def disconnect(reason: Any = None) -> None:
            self.disconnects += 1

        @self.sio.on("*")
        async def anything(event: str, data: Any = None) -> None:
            if isinstance(data, dict):
                self.events.append(data)

    async def token(self) -> dict[str, str]:
        async with httpx.AsyncClient(base_url=self.base, timeout=10) as http:
            r = await http.post(
                "/api/auth/socket-token", headers={"Authorization": f"Bearer {self.access}"}
            )
            r.raise_for_status()
            return {"token": r.json()["token"]}

    async def connect(self) -> None:
        # A page served through nginx opens its socket with that origin: Tandem accepts it because
        # nginx passes the Host the browser used (TANDEM_ALLOWED_ORIGINS is not set).
        await self.sio.connect(
            self.base,
            auth=self.token,
            headers={"Origin": self.base},
            transports=["websocket"],
            wait_timeout=10,
        )

    def updates(self, room: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("room") == room and "seq" in e]

    async def subscribe(self, room: str, after: int | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"room": room}
        if after is not None:
            payload["after"] = after
        ack = await self.sio.call("subscribe", payload, timeout=10)
        assert ack["ok"], ack
        return ack


async def test_two_instances_behind_nginx(tmp_path: Path) -> None:
    async with behind_nginx(tmp_path) as (base, a, b):
        await through_nginx(base, a, b)


@contextlib.asynccontextmanager
async def behind_nginx(tmp_path: Path) -> Any:
    """PostgreSQL, Redis, two `tandem serve` and nginx in front of them: yields (base URL, a, b)."""
    binary = need_nginx()
    need("PostgreSQL", postgres_available(PG_URL))
    need("Redis", redis_available(REDIS_URL))
    prefix = f"{REDIS_PREFIX}-nginx-{uuid.uuid4().hex[:6]}"
    async with fresh_database_url("postgresql", tmp_path, PG_URL) as database_url:
        env = {
            "TANDEM_DATABASE_URL": database_url,
            "TANDEM_REDIS_URL": REDIS_URL,
            "TANDEM_REDIS_PREFIX": prefix,
            "TANDEM_SECRET_KEY": "nginx-test-" + uuid.uuid4().hex * 2,  # the same on both
            "TANDEM_JSON_LOGS": "false",
        }
        a, b = Instance("a", tmp_path, env), Instance("b", tmp_path, env)
        try:
            await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
            port = free_port()
            with nginx(binary, tmp_path / "nginx", render_site(port, a.port, b.port), port):
                yield f"http://127.0.0.1:{port}", a, b
        finally:
            a.kill()
            b.kill()
            delete_redis_keys(REDIS_URL, prefix)


async def test_a_browser_session_behind_nginx_survives_its_instance(tmp_path: Path) -> None:
    """The real web client, served through nginx, signed in on its login page: its instance is
    killed, and the page reconnects through nginx to the other by itself, without a reload, shows
    what changed meanwhile and goes on updating live."""
    from playwright.async_api import async_playwright, expect

    async with behind_nginx(tmp_path) as (base, a, b):
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            r = await http.post(
                "/api/auth/signup", json={"email": email, "password": PASSWORD, "name": "Nia 0"}
            )
            assert r.status_code == 201, r.text
            user_id = r.json()["user"]["id"]
            http.headers["Authorization"] = f"Bearer {r.json()['accessToken']}"
            r = await http.post("/api/orgs", json={"name": "Behind nginx"})
            assert r.status_code == 201, r.text

            async def rename(name: str) -> None:
                r = await http.patch("/api/me", json={"name": name})
                assert r.status_code == 200, r.text

            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=os.environ.get("TANDEM_CHROMIUM", "/usr/bin/chromium"),
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                try:
                    page = await browser.new_page(viewport={"width": 1280, "height": 800})
                    await page.goto(base + "/login")
                    await page.get_by_test_id("login-email").fill(email)
                    await page.get_by_test_id("login-password").fill(PASSWORD)
                    await page.get_by_test_id("login-submit").click()
                    await page.wait_for_url("**/dashboard")
                    indicator = page.get_by_test_id("connection-indicator")
                    await expect(indicator).to_have_attribute("data-state", "live", timeout=15_000)
                    name = page.get_by_test_id(f"member-name-{user_id}")
                    await expect(name).to_have_text("Nia 0", timeout=10_000)
                    await rename("Nia 1")
                    await expect(name).to_have_text("Nia 1", timeout=10_000)
                    await page.evaluate("window.__notReloaded = true")

                    await eventually(lambda: a.sockets() + b.sockets() == 1, timeout=10)
                    doomed = a if a.sockets() == 1 else b
                    doomed.kill()
                    await expect(indicator).not_to_have_attribute(
                        "data-state", "live", timeout=10_000
                    )
                    await rename("Nia 2")  # through nginx, to the survivor, while the page is away
                    await expect(indicator).to_have_attribute("data-state", "live", timeout=30_000)
                    await expect(name).to_have_text("Nia 2", timeout=10_000)
                    await rename("Nia 3")  # and live again
                    await expect(name).to_have_text("Nia 3", timeout=10_000)
                    survivor = b if doomed is a else a
                    assert survivor.sockets() == 1
                    assert await page.evaluate("window.__notReloaded") is True
                finally:
                    await browser.close()


async def through_nginx(base: str, a: Instance, b: Instance) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as anonymous:
        assert (await anonymous.get("/healthz")).status_code == 200
        # Each instance answers /metrics to loopback, and nginx connects from loopback: nginx refuses.
        assert a.sockets() == 0
        assert (await anonymous.get("/metrics")).status_code == 404

        email = f"{uuid.uuid4().hex[:10]}@example.com"
        r = await anonymous.post(
            "/api/auth/signup", json={"email": email, "password": PASSWORD, "name": "Nia 0"}
        )
        assert r.status_code == 201, r.text
        r = await anonymous.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        access = r.json()["accessToken"]

    async with httpx.AsyncClient(
        base_url=base, timeout=30, headers={"Authorization": f"Bearer {access}"}
    ) as http:

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            r = await http.post(path, json=body)
            assert r.status_code == 201, r.text
            return r.json()

        org_id = (await post("/api/orgs", {"name": "Behind nginx"}))["organization"]["id"]
        room = f"org:{org_id}"

        # The largest body Tandem takes, a file of TANDEM_MAX_ATTACHMENT_BYTES, passes nginx.
        project = (await post(f"/api/orgs/{org_id}/projects", {"name": "Launch"}))["project"]
        task = (await post(f"/api/projects/{project['id']}/tasks", {"title": "Upload"}))["task"]
        size = Settings().max_attachment_bytes
        r = await http.post(
            f"/api/tasks/{task['id']}/attachments", files={"file": ("big.bin", b"\x5a" * size)}
        )
        assert r.status_code == 201, r.text[:300]
        assert r.json()["attachment"]["size"] == size

        names: list[str] = []

        async def rename() -> None:
            names.append(f"Nia {len(names) + 1}")
            r = await http.patch("/api/me", json={"name": names[-1]})
            assert r.status_code == 200, r.text

        # A page of another site may not open a socket, whatever X-Forwarded-Host it sends.
        client = Client(base, access)
        async with aiohttp.ClientSession() as session:
            stranger = socketio.AsyncClient(reconnection=False, http_session=session)
            with pytest.raises(socketio.exceptions.ConnectionError):
                await stranger.connect(
                    base,
                    auth=await client.token(),
                    headers={"Origin": "http://evil.example", "X-Forwarded-Host": "evil.example"},
                    transports=["websocket"],
                    wait_timeout=10,
                )

        await client.connect()
        try:
            await client.subscribe(room)
            await rename()
            await eventually(lambda: len(client.updates(room)) == 1, timeout=10)

            async def kill_its_instance() -> Instance:
                """Kill the instance holding the socket and change things while the socket is
                down: it comes back through nginx on the other instance, and replays them."""
                holding = [i for i in (a, b) if i.sockets() == 1]
                assert len(holding) == 1 and sum(i.sockets() for i in (a, b)) == 1
                doomed = holding[0]
                survivor = b if doomed is a else a
                last_seq = client.updates(room)[-1]["seq"]
                connects, disconnects = client.connects, client.disconnects
                doomed.kill()
                await eventually(lambda: client.disconnects == disconnects + 1, timeout=10)
                for _ in range(3):  # through nginx, to the survivor
                    await rename()
                await eventually(lambda: client.connects == connects + 1, timeout=15)
                assert survivor.sockets() == 1
                await client.subscribe(room, after=last_seq)
                await rename()  # and one live
                await eventually(lambda: len(client.updates(room)) == len(names), timeout=10)
                return doomed

            # With ip_hash every loopback client goes to one instance: kill it, then the other.
            first = await kill_its_instance()
            await asyncio.to_thread(first.start)
            # nginx sends new requests to the restarted instance again (ip_hash) once its 5 s of
            # being marked down are over: the socket stays where it is, the next kill takes it.
            await eventually(lambda: upstream_of(base, first), timeout=15, interval=0.2)
            second = await kill_its_instance()
            assert second is not first

            await asyncio.sleep(0.3)  # anything more (a duplicate) would arrive by now
            updates = client.updates(room)
            assert [e["event"] for e in updates] == ["org.member.updated"] * len(names)
            assert [e["data"]["member"]["name"] for e in updates] == names
            seqs = [e["seq"] for e in updates]
            assert seqs == sorted(set(seqs)), seqs
        finally:
            await client.sio.shutdown()  # disconnected, or no longer reconnecting


async def upstream_of(base: str, instance: Instance) -> bool:
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        r = await http.get("/healthz")
    return r.status_code == 200 and r.headers.get("X-Upstream") == instance.address
