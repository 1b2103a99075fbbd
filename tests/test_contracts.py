"""The generated contract files are fresh, and generating them has no side effects (STYLE §4).

`tandem contracts --check` compares the TypeScript event types, the AsyncAPI document and the
OpenAPI document with what the server's models make of them now; web/src/sdk/api.gen.test.ts
does the same for the client's REST types, generated from docs/openapi.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tandem.cli import ROOT, main

ARTIFACTS = [
    "--ts",
    "web/src/sdk/events.gen.ts",
    "--asyncapi",
    "docs/asyncapi.json",
    "--openapi",
    "docs/openapi.json",
]


def tandem_contracts(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    return subprocess.run(
        [sys.executable, "-m", "tandem.cli", "contracts", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_generated_contract_files_are_fresh() -> None:
    result = tandem_contracts("--check", *ARTIFACTS)
    assert result.returncode == 0, result.stderr + "\nrun `make contracts` and commit the result"


def test_check_names_each_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ts").write_text(
        (ROOT / "web/src/sdk/events.gen.ts").read_text().replace("string", "number", 1)
    )
    (tmp_path / "asyncapi").write_text((ROOT / "docs/asyncapi.json").read_text() + " ")
    (tmp_path / "openapi").write_text((ROOT / "docs/openapi.json").read_text())  # fresh
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            ["contracts", "--check", "--ts", "ts", "--asyncapi", "asyncapi", "--openapi", "openapi"]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "stale generated contract files" in err
    assert "ts, asyncapi" in err and "openapi" not in err


def test_openapi_schema_names_are_stable() -> None:
    """Two models with one name get module-qualified names (`tandem__auth__schemas__…`), which the
    client's aliases of components['schemas'][…] would then depend on: give each a name of its own."""
    schemas = json.loads((ROOT / "docs/openapi.json").read_text())["components"]["schemas"]
    assert [name for name in schemas if "__" in name] == []


AUDIT = textwrap.dedent(
    """
    import json, os, sys, threading

    seen = []
    WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    WATCHED = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.chmod", "shutil.rmtree",
               "socket.connect", "socket.bind", "subprocess.Popen", "os.system", "os.fork",
               "os.posix_spawn", "_thread.start_new_thread", "sqlite3.connect"}

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if (isinstance(mode, str) and set(mode) & set("wax+")) or (isinstance(flags, int) and flags & WRITE):
                seen.append(f"open {path} {mode}")
        elif event == "socket.bind" and args[1] == ("::1", 0):
            pass  # urllib3's IPv6 probe, at import (engineio imports requests when installed)
        elif event in WATCHED:
            seen.append(f"{event} {args!r:.200}")

    sys.addaudithook(hook)  # before the imports: importing the app must not act either
    threads = set(threading.enumerate())
    from tandem.realtime.contracts import render_openapi

    document = render_openapi()
    new_threads = [t.name for t in set(threading.enumerate()) - threads]
    print(json.dumps({"seen": seen, "threads": new_threads, "document": document}))
    """
)


def test_rendering_the_openapi_document_starts_nothing_and_touches_no_file(tmp_path: Path) -> None:
    """`create_app` only wires objects: no database file or connection, no Redis, no task or thread,
    no secret key written, whatever the environment says (its TANDEM_* variables do not leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env.update(
        PYTHONDONTWRITEBYTECODE="1",
        TANDEM_DATA_DIR=str(tmp_path / "data"),
        TANDEM_REDIS_URL="redis://127.0.0.1:1/0",
        TANDEM_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'env.db'}",
    )
    (tmp_path / ".env").write_text("TANDEM_SERVE_WEB=true\n")
    result = subprocess.run(
        [sys.executable, "-c", AUDIT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["seen"] == []
    assert report["threads"] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]
    assert report["document"] == (ROOT / "docs/openapi.json").read_text()
