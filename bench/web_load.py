"""What /dashboard costs a browser: JavaScript shipped (gzip) and the cold load time of the members table.

Starts `tandem serve` on a temp database with the demo data (or uses --url), signs
in as a demo person over REST, then loads /dashboard in headless Chromium (Debian's
/usr/bin/chromium) RUNS times, each in a new browser context (empty cache, a
valid session already in localStorage, as for a returning user who opens a new
window). For each load it records:

- time to table: from the navigation's start (performance.timeOrigin) to the first
  member row in the DOM, measured inside the page;
- wall time: from page.goto() to the first row, measured by the driver;
- bytes: every response, with JavaScript counted as sent on the wire (gzip by the
  server) and decoded.

One load before the measured ones warms the server, not the browser.

    uv run python bench/web_load.py [--runs 5] [--url http://127.0.0.1:8000] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("TANDEM_CHROMIUM", "/usr/bin/chromium")
ASSETS = ROOT / "src" / "tandem" / "static" / "assets"
FIRST_ROW = "[data-testid^='member-row-']"

# Records when the first member row enters the DOM, relative to the navigation's start.
WATCH_FIRST_ROW = """
(() => {
  const seen = () => {
    if (window.__firstRowAt === undefined && document.querySelector("[data-testid^='member-row-']")) {
      window.__firstRowAt = performance.now();
      return true;
    }
    return false;
  };
  new MutationObserver((_, observer) => { if (seen()) observer.disconnect(); })
    .observe(document, { childList: true, subtree: true });
})();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def demo_server() -> Iterator[str]:
    """A throwaway `tandem serve` with the demo data; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="tandem-web-load-") as data_dir:
        port = free_port()
        env = dict(
            os.environ,
            TANDEM_DATA_DIR=data_dir,
            TANDEM_PORT=str(port),
            TANDEM_HOST="127.0.0.1",
            TANDEM_LOG_LEVEL="warning",
        )
        for key in ("TANDEM_DATABASE_URL", "TANDEM_REDIS_URL"):
            env.pop(key, None)
        for command in ("migrate", "demo"):
            subprocess.run(
                [sys.executable, "-m", "tandem.cli", command],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        log = open(Path(data_dir) / "server.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "tandem.cli", "serve"], env=env, stdout=log, stderr=log
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("tandem serve did not start; see " + log.name)
                time.sleep(0.1)
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


def session_storage(url: str, email: str, password: str) -> dict:
    """A Playwright storage state holding a fresh login, as the web client keeps it in localStorage."""
    r = httpx.post(url + "/api/auth/login", json={"email": email, "password": password}, timeout=30)
    r.raise_for_status()
    tokens = r.json()
    me = httpx.get(
        url + "/api/me", headers={"Authorization": f"Bearer {tokens['accessToken']}"}, timeout=30
    ).json()
    items = {
        "tandem.accessToken": tokens["accessToken"],
        "tandem.refreshToken": tokens["refreshToken"],
    }
    if me["memberships"]:
        items["tandem.orgId"] = me["memberships"][0]["orgId"]
    return {
        "cookies": [],
        "origins": [
            {"origin": url, "localStorage": [{"name": k, "value": v} for k, v in items.items()]}
        ],
    }


def load_once(browser, url: str, state: dict) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, storage_state=state)
    context.add_init_script(WATCH_FIRST_ROW)
    page = context.new_page()
    responses = []
    page.on("requestfinished", lambda request: responses.append(request))
    started = time.perf_counter()
    page.goto(url + "/dashboard", wait_until="commit")
    page.wait_for_selector(FIRST_ROW, timeout=30_000)
    wall_ms = (time.perf_counter() - started) * 1000
    table_ms = page.evaluate("window.__firstRowAt")
    page.wait_for_load_state("networkidle")
    js_wire = js_decoded = total_wire = 0
    scripts = []
    for request in responses:
        response = request.response()
        if response is None:
            continue
        wire = request.sizes()["responseBodySize"]
        total_wire += wire
        if request.resource_type == "script" or response.url.endswith(".js"):
            decoded = len(response.body())
            js_wire += wire
            js_decoded += decoded
            scripts.append(
                {
                    "url": response.url.removeprefix(url),
                    "wire": wire,
                    "decoded": decoded,
                    "encoding": response.headers.get("content-encoding", "identity"),
                }
            )
    context.close()
    return {
        "table_ms": table_ms,
        "wall_ms": wall_ms,
        "js_wire_bytes": js_wire,
        "js_decoded_bytes": js_decoded,
        "all_wire_bytes": total_wire,
        "scripts": scripts,
    }


def built_js_gzip() -> int | None:
    """gzip -9 size of the built JavaScript (the figure Vite prints), for comparison."""
    files = sorted(ASSETS.glob("*.js")) if ASSETS.is_dir() else []
    return sum(len(gzip.compress(f.read_bytes(), 9)) for f in files) if files else None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--url", help="an already running Tandem with the demo data (default: start one)"
    )
    parser.add_argument("--email", default="ada@example.com")
    parser.add_argument("--password", default="tandem-demo")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    server = contextlib.nullcontext(args.url.rstrip("/")) if args.url else demo_server()
    with server as url, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            state = session_storage(url, args.email, args.password)
            load_once(browser, url, state)  # warms the server (imports, caches), not the browser
            runs = [load_once(browser, url, state) for _ in range(args.runs)]
        finally:
            browser.close()

    result = {
        "runs": runs,
        "table_ms_median": statistics.median(r["table_ms"] for r in runs),
        "wall_ms_median": statistics.median(r["wall_ms"] for r in runs),
        "js_wire_kb": runs[-1]["js_wire_bytes"] / 1024,
        "js_decoded_kb": runs[-1]["js_decoded_bytes"] / 1024,
        "all_wire_kb": runs[-1]["all_wire_bytes"] / 1024,
        "built_js_gzip9_kb": (built_js_gzip() or 0) / 1024,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"/dashboard, {args.runs} cold loads (new browser context each, session in localStorage)")
    print(
        "  time to members table: "
        + ", ".join(f"{r['table_ms']:.0f}" for r in runs)
        + f" ms  → median {result['table_ms_median']:.0f} ms"
    )
    print(
        "  goto → first row (driver): "
        + ", ".join(f"{r['wall_ms']:.0f}" for r in runs)
        + f" ms  → median {result['wall_ms_median']:.0f} ms"
    )
    print(
        f"  JavaScript: {result['js_wire_kb']:.1f} KB on the wire "
        f"({', '.join(s['encoding'] for s in runs[-1]['scripts'])}), {result['js_decoded_kb']:.1f} KB decoded; "
        f"built bundle gzip -9: {result['built_js_gzip9_kb']:.1f} KB"
    )
    print(f"  everything the page fetched: {result['all_wire_kb']:.1f} KB on the wire")
    return 0


if __name__ == "__main__":
    sys.exit(main())
