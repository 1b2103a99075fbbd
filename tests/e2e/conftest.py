"""Browser tests: a real `tandem serve` process with the demo data, driven by headless Chromium.

Chromium comes from Debian's packages (/usr/bin/chromium; `make test` installs it).
The README's screenshots are written to docs/screenshots/ only when TANDEM_SCREENSHOTS=1
(`make screenshots`); the demo people then get fixed ids, so their avatar colours are the same every run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import SIGN_IN_LIMITS, free_port

ROOT = Path(__file__).resolve().parents[2]
STATIC_INDEX = ROOT / "src" / "tandem" / "static" / "index.html"
CHROMIUM = os.environ.get("TANDEM_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"
TAKE_SCREENSHOTS = os.environ.get("TANDEM_SCREENSHOTS") == "1"
DEMO_PASSWORD = "tandem-demo"
ACME = "org_acme"  # the demo organizations' ids (src/tandem/demo.py)
GLOBEX = "org_globex"


# Who was online when the server stopped stays so this long after it starts again (60 s by default).
RESTART_GRACE_SECONDS = 4.0


class TandemProcess:
    """`tandem serve` in a subprocess; can be stopped and started again on the same port and database."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.env = dict(
            os.environ,
            TANDEM_DATA_DIR=str(data_dir),
            TANDEM_PORT=str(self.port),
            TANDEM_HOST="127.0.0.1",
            TANDEM_LOG_LEVEL="warning",
            TANDEM_PRESENCE_GRACE_SECONDS="1.0",
            TANDEM_PRESENCE_RESTART_GRACE_SECONDS=str(RESTART_GRACE_SECONDS),
            # A browser on a busy test machine can see a second's latency now and then: no test here
            # should find its page moved to polling by the rollback check (tests/flags tests that).
            TANDEM_AUTO_ROLLBACK="false",
            **{f"TANDEM_{name.upper()}": str(value) for name, value in SIGN_IN_LIMITS.items()},
        )
        for key in ("TANDEM_DATABASE_URL", "TANDEM_REDIS_URL"):
            self.env.pop(key, None)
        self.proc: subprocess.Popen | None = None
        self.log = data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def prepare(self) -> None:
        for command in (["migrate"], ["demo"]):
            subprocess.run(
                [sys.executable, "-m", "tandem.cli", *command],
                env=self.env,
                check=True,
                stdout=subprocess.DEVNULL,
            )

    def start(self) -> None:
        # A fresh id each start: only this process's answer to /healthz counts as started, not
        # another server's that holds the port (this one then fails to bind and exits).
        self.env["TANDEM_INSTANCE_ID"] = instance = "e2e-" + secrets.token_hex(4)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tandem.cli", "serve"], env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                r = httpx.get(self.url + "/healthz", timeout=1)
                if r.status_code == 200 and r.json().get("instance") == instance:
                    return
            except (httpx.HTTPError, ValueError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("tandem serve exited: " + self.log.read_text()[-2000:])
            time.sleep(0.1)
        self.stop()  # no fixture will: the test fails here, and the server must not outlive it
        raise RuntimeError("tandem serve did not start: " + self.log.read_text()[-2000:])

    def died(self) -> bool:
        """Whether the process ended without being stopped."""
        return self.proc is not None and self.proc.poll() is not None

    def status(self) -> str:
        """Whether it runs or how it ended, and the end of its log."""
        code = None if self.proc is None else self.proc.poll()
        state = (
            "stopped" if self.proc is None else "running" if code is None else f"exited with {code}"
        )
        tail = self.log.read_text(errors="replace")[-3000:]
        return f"tandem serve on port {self.port} {state}; its log ends:\n{tail}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def api(self, email: str, password: str = DEMO_PASSWORD) -> httpx.Client:
        """An HTTP client signed in as a demo person, for arranging and checking state."""
        r = httpx.post(self.url + "/api/auth/login", json={"email": email, "password": password})
        r.raise_for_status()
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {r.json()['accessToken']}"}
        )

    def member_ids(self, org_id: str = ACME, as_email: str = "ada@example.com") -> dict[str, str]:
        """email -> userId of the organization's members."""
        with self.api(as_email) as client:
            r = client.get(f"/api/orgs/{org_id}/members")
            r.raise_for_status()
            return {m["email"]: m["userId"] for m in r.json()["members"]}


@pytest.fixture(scope="session", autouse=True)
def _web_client_built() -> None:
    if not STATIC_INDEX.exists():
        pytest.fail("the web client is not built: run `make web` (make test does it)")


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir migrated and loaded with the demo data once; servers start from copies of it."""
    template = tmp_path_factory.mktemp("demo-template")
    TandemProcess(template).prepare()
    if TAKE_SCREENSHOTS:
        _fix_demo_ids(template)
    return template


def _fix_demo_ids(data_dir: Path) -> None:
    """Gives each demo person the id `u_<name>` (ada@example.com: u_ada) wherever their random id is stored."""
    databases = [
        path for path in data_dir.iterdir() if path.suffix in (".db", ".sqlite", ".sqlite3")
    ]
    assert len(databases) == 1, f"expected one SQLite database in {data_dir}: {databases}"
    with sqlite3.connect(databases[0]) as db:
        users = db.execute("SELECT id, email FROM users").fetchall()
        renames = [(old, "u_" + email.split("@")[0]) for old, email in users]
        tables = [
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        for table in tables:
            columns = [
                row[1]
                for row in db.execute(f'PRAGMA table_info("{table}")')
                if "CHAR" in row[2].upper() or "TEXT" in row[2].upper()
            ]
            for column in columns:
                for old, new in renames:
                    db.execute(
                        f'UPDATE "{table}" SET "{column}" = ? WHERE "{column}" = ?', (new, old)
                    )


def _serve_copy(template: Path, data_dir: Path) -> TandemProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    for item in template.iterdir():
        if item.is_file() and item.name != "server.log":
            shutil.copy2(item, data_dir / item.name)
    proc = TandemProcess(data_dir)
    proc.start()
    return proc


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[Any]:
    """A failed browser test's report carries the end of each of its servers' logs."""
    report = yield
    if report.when == "call" and report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, TandemProcess):
                report.sections.append((f"tandem serve on port {value.port}", value.status()))
    return report


@pytest.fixture
def tandem(tmp_path: Path, demo_template: Path) -> Iterator[TandemProcess]:
    """A server of its own, fresh demo data (for tests that restart it or need the pristine demo)."""
    proc = _serve_copy(demo_template, tmp_path / "data")
    try:
        yield proc
        # A server that died mid-test fails it here even if the test did not notice.
        if proc.died():
            pytest.fail(proc.status())
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def demo_server(
    tmp_path_factory: pytest.TempPathFactory, demo_template: Path
) -> Iterator[TandemProcess]:
    """One server shared by the tests that leave the demo as they found it (or touch only people of their own)."""
    proc = _serve_copy(demo_template, tmp_path_factory.mktemp("shared"))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Chromium is missing: `apt-get install -y chromium` (make test does it)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


def login(
    browser: object,
    tandem: TandemProcess,
    email: str,
    path: str = "/dashboard",
    *,
    password: str = DEMO_PASSWORD,
    init_script: str | None = None,
    setup: Callable[[Any], None] | None = None,
    viewport: tuple[int, int] = (1280, 800),
):
    """A fresh browser context signed in through the real login page; returns its page.

    `init_script` runs in every document of the context before the page's own scripts;
    `setup(page)` runs before the first navigation (e.g. to listen to the page's WebSocket).
    """
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    if setup:
        setup(page)
    page.goto(tandem.url + "/login")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"**{path}" if path else "**/dashboard")
    return page


def screenshot(page: object, name: str, *, mask: list[Any] | None = None) -> None:
    """docs/screenshots/NAME.png when TANDEM_SCREENSHOTS=1, with the pointer out of the way and
    transitions finished; `mask` covers what differs between runs (a random token, the port)."""
    if not TAKE_SCREENSHOTS:
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = page.viewport_size["height"]  # type: ignore[attr-defined]
    page.mouse.move(4, height - 4)  # type: ignore[attr-defined]  # the last click's hover would show
    page.screenshot(
        path=str(SCREENSHOTS / f"{name}.png"),
        animations="disabled",
        caret="hide",  # type: ignore[attr-defined]
        mask=mask or [],
        mask_color="#d9dbe1",
    )
