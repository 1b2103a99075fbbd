"""The bench server of the Kanban workloads: bench/tandem_server.py (one process, the real app
under uvicorn, the seeded organization, READY on stdout), on its temporary SQLite database or,
with `--database URL`, on a PostgreSQL schema of the run's own, created before the migrations and
dropped at exit (its `?search_path=` names it, else the run makes one up). Every other argument
is tandem_server.py's.

    python bench/kanban_server.py --port 3100 --users 60 --info /tmp/info.json \
        [--database 'postgresql+asyncpg://postgres@127.0.0.1:5432/test']
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import tandem_server
from tandem_app import configure_environment
from tandem_workers import create_schema

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """SIGTERM this server when the bench script that started it ends: a script that hangs is
    ended at its deadline by faulthandler, which skips its own cleanup (stopping the server)."""
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it ended before the request took
        os.kill(os.getpid(), signal.SIGTERM)


def main() -> int:
    # uvicorn re-raises the SIGTERM that stopped it: leave through the `finally` below instead.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    die_with_parent()
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--database", default="", help="a PostgreSQL URL; default: temporary SQLite")
    known, rest = pre.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    args = tandem_server.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="tandem-kanban-db-"))
    configure_environment(data_dir, args)
    # The login limit would refuse the bench's own people signing in one after another.
    os.environ["TANDEM_LOGIN_IP_LIMIT_PER_MINUTE"] = "0"
    os.environ["TANDEM_LOGIN_LIMIT_PER_MINUTE"] = "0"
    schema = ""
    base_url, _, query = known.database.partition("?")
    try:
        if base_url:
            named = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("search_path")
            schema = named or f"bench_kanban_{os.getpid()}_{secrets.token_hex(3)}"
            os.environ["TANDEM_DATABASE_URL"] = f"{base_url}?search_path={schema}"
            asyncio.run(create_schema(base_url, schema))
        from tandem.cli import migrate

        migrate()
        import uvloop

        uvloop.run(tandem_server.serve(args, data_dir))
    except KeyboardInterrupt:
        pass
    finally:
        if schema:
            asyncio.run(create_schema(base_url, schema, drop=True))
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
