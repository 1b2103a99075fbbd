"""Browser tests: a real `tandem serve` process with the demo data, driven by headless Chromium.

Chromium comes from Debian's packages (/usr/bin/chromium; `make test` installs it).
Screenshots for the README are written to docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
STATIC_INDEX = ROOT / "src" / "tandem" / "static" / "index.html"
CHROMIUM = os.environ.get("TANDEM_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"
DEMO_PASSWORD = "tandem-demo"


class TandemProcess:
    """`tandem serve` in a subprocess; can be stopped and started again on the same port and database."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.env = dict(
            os.environ, TANDEM_DATA_DIR=str(data_dir), TANDEM_PORT=str(self.port), TANDEM_HOST="127.0.0.1",
            TANDEM_LOG_LEVEL="warning", TANDEM_PRESENCE_GRACE_SECONDS="1.0",
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
            subprocess.run([sys.executable, "-m", "tandem.cli", *command], env=self.env, check=True,
                           stdout=subprocess.DEVNULL)

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "tandem.cli", "serve"], env=self.env,
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("tandem serve exited: " + self.log.read_text()[-2000:])
            time.sleep(0.1)
        raise RuntimeError("tandem serve did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def api(self, email: str) -> httpx.Client:
        """An HTTP client signed in as a demo person, for arranging and checking state."""
        r = httpx.post(self.url + "/api/auth/login", json={"email": email, "password": DEMO_PASSWORD})
        r.raise_for_status()
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {r.json()['accessToken']}"})


@pytest.fixture(scope="session", autouse=True)
def _web_client_built() -> None:
    if not STATIC_INDEX.exists():
        pytest.fail("the web client is not built: run `make web` (make test does it)")


@pytest.fixture
def tandem(tmp_path: Path) -> Iterator[TandemProcess]:
    proc = TandemProcess(tmp_path)
    proc.prepare()
    proc.start()
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
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
                  "--disable-component-update", "--no-first-run", "--disable-sync"],
        )
        try:
            yield browser
        finally:
            browser.close()


def login(browser: object, tandem: TandemProcess, email: str, path: str = "/dashboard"):  # noqa: ANN201
    """A fresh browser context signed in through the real login page; returns its page."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(tandem.url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{path}" if path else "**/dashboard")
    return page


def screenshot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))  # type: ignore[attr-defined]
