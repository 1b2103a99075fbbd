"""Serves the compiled web client: assets, and index.html for every page route (deep links work on reload)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from tandem.kit.errors import NotFound

STATIC_DIR = Path(__file__).parent / "static"

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Tandem</title>
<p>The web client is not built. Run <code>make run</code> (or <code>npm ci && npm run build</code> in
<code>web/</code>).</p>"""


def mount_web(app: FastAPI) -> None:
    assets = STATIC_DIR / "assets"
    if assets.is_dir():
        app.mount("/assets", StaticFiles(directory=assets), name="assets")

    @app.get("/{path:path}", include_in_schema=False)
    async def page(path: str):
        if path.startswith(("api/", "socket.io")) or path == "api":
            raise NotFound("no such endpoint")
        candidate = (STATIC_DIR / path).resolve()
        if path and candidate.is_file() and STATIC_DIR.resolve() in candidate.parents:
            return FileResponse(candidate)
        index = STATIC_DIR / "index.html"
        if not index.exists():
            return HTMLResponse(NOT_BUILT, status_code=503)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
