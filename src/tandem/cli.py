"""tandem serve | migrate | demo | flags | contracts"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from tandem.config import get_settings

ROOT = Path(__file__).resolve().parents[2]
SHUTDOWN_GRACE_SECONDS = 2


def _alembic_config():
    from alembic.config import Config

    ini = ROOT / "alembic.ini"
    if ini.exists():
        cfg = Config(str(ini))
    else:  # installed as a package: migrations ship beside the code
        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def migrate(url: str | None = None) -> None:
    from alembic import command

    settings = get_settings()
    if settings.is_sqlite and not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    cfg = _alembic_config()
    cfg.attributes["url"] = url or settings.effective_database_url
    command.upgrade(cfg, "head")


async def _demo(only_if_empty: bool) -> int:
    from tandem.db import Database
    from tandem.demo import DEMO_PASSWORD, load_demo

    settings = get_settings()
    db = Database(settings.effective_database_url)
    try:
        async with db.unit_of_work() as session:
            printed = await load_demo(session)
    finally:
        await db.dispose()
    if not printed:
        if not only_if_empty:
            print("The demo organization is already loaded.")
        return 0
    print("Demo data loaded. Everyone's password is", repr(DEMO_PASSWORD))
    for org, name, email, role in printed:
        print(f"  {org:20} {role:7} {name:20} {email}")
    return 0


async def _flags(args: argparse.Namespace) -> int:
    from tandem.db import Database
    from tandem.flags import repository
    from tandem.flags import service as flags
    from tandem.kit.clock import iso

    settings = get_settings()
    db = Database(settings.effective_database_url)
    try:
        async with db.unit_of_work() as session:
            if args.flags_command == "audit":
                changes = await repository.audit(session, args.org, args.limit)
            elif args.flags_command == "set":
                enabled = {"on": True, "off": False}.get(args.state) if args.state else None
                allow = [o for o in args.allow.split(",") if o] if args.allow is not None else None
                await flags.set_rule(
                    session,
                    args.phase,
                    enabled=enabled,
                    allow_orgs=allow,
                    rollout_percent=args.rollout,
                    reason="tandem flags set",
                )
            elif args.flags_command == "org":
                state = None if args.state == "default" else args.state
                await flags.set_org_state(
                    session, args.phase, args.org, state, reason="tandem flags org"
                )
            rules = await flags.rules(session)
            overrides = await flags.overrides(session)
    finally:
        await db.dispose()
    if args.flags_command == "audit":
        print(f"{'at':24} {'phase':10} {'org':20} {'before':>14} -> {'after':14} by / why")
        for change, name in changes:
            who = "automatic" if change.automatic else (name or change.actor_id or "terminal")
            print(
                f"{iso(change.at):24} {change.phase:10} {change.org_id or '(global rule)':20} "
                f"{change.before:>14} -> {change.after:14} {who}: {change.reason or '-'}"
            )
        if not changes:
            print("(no changes yet)")
        return 0
    print(f"{'phase':10} {'state':5} {'rollout':>7}  allow-list")
    for rule in rules:
        print(
            f"{rule.phase:10} {'on' if rule.enabled else 'off':5} {rule.rollout_percent:>6}%  "
            f"{', '.join(rule.allow_orgs) or '-'}"
        )
    for phase, org, state in overrides:
        print(f"override: {phase} {state} for {org}")
    if args.flags_command != "show":
        print("(running instances pick the change up within 2 seconds)")
    return 0


def _worker_logging() -> None:
    """A worker process that uvicorn spawned (`--workers` > 1) starts with no logging of Tandem's own;
    in the serving process itself, `serve` has already configured it."""
    from tandem import logs

    if not logging.getLogger("tandem").handlers:
        settings = get_settings()
        logs.configure(settings.log_level, settings.json_logs)


def paced_app():
    """uvicorn's factory in each worker of `tandem serve`: the app, with the collector paced
    (accel/gc_pacing.py: full collections examine only what is new since the last one) unless that
    accelerator is off."""
    from tandem import accel
    from tandem.accel import gc_pacing
    from tandem.app import create_app

    _worker_logging()
    app = create_app()
    if accel.enabled(gc_pacing.NAME):
        gc_pacing.install()
    return app


def stock_app():
    """uvicorn's factory for `tandem serve --gc stock`: the app, with Python's collector as it comes."""
    from tandem.app import create_app

    _worker_logging()
    return create_app()


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from tandem import accel, logs
    from tandem.accel.uvicorn_wsproto import uvicorn_ws
    from tandem.connections import GuardedHttp

    settings = get_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    repeats = logs.configure(settings.log_level, settings.json_logs)
    accel.log_table()  # one warning for each accelerator whose library version differs, then which are on
    if workers > 1 and settings.is_sqlite:
        print(
            "Several workers need PostgreSQL and Redis (TANDEM_DATABASE_URL, TANDEM_REDIS_URL).",
            file=sys.stderr,
        )
        return 2
    print(f"Tandem is serving on http://{host}:{port}", flush=True)
    factory = "tandem.cli:paced_app" if args.gc == "paced" else "tandem.cli:stock_app"
    try:
        uvicorn.run(
            factory,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http=GuardedHttp,
            ws=uvicorn_ws(args.ws),
            ws_per_message_deflate=False,
            backlog=settings.listen_backlog,
            # Tandem's own message limit: uvicorn's default (16 MiB) lets one frame cost that much
            # memory before engine.io's check runs.
            ws_max_size=settings.max_socket_payload,
            # engine.io pings every connection itself: no second keepalive (and its timer) per socket
            ws_ping_interval=None,
            log_level="warning",
            access_log=False,
            lifespan="on",
            # Long-polls (GET /api/events, Socket.IO's polling transport) wait up to 25 s for events: at
            # SIGTERM they are cut after this grace, and their clients reconnect elsewhere and replay.
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )
    finally:
        repeats.flush()  # the summary of lines still held back
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tandem", description="Tandem: a self-hosted real-time team workspace"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the app (REST, Socket.IO and the web client)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--workers", type=int)
    s.add_argument(
        "--ws",
        default="wsproto",
        choices=["wsproto", "wsproto-stock", "websockets-sansio", "websockets"],
        help="uvicorn's WebSocket implementation; wsproto (Tandem's subclass of uvicorn's, "
        "accel/uvicorn_wsproto.py, unless accelerators are off) holds the least per connection",
    )
    s.add_argument(
        "--gc",
        default="paced",
        choices=["paced", "stock"],
        help="paced: full garbage collections examine only what is new since the last one, and "
        "everything every 10 minutes (short pauses with many connections); stock: CPython's own",
    )
    sub.add_parser("migrate", help="apply database migrations")
    d = sub.add_parser("demo", help="load the demo organization")
    d.add_argument("--if-empty", action="store_true", help="say nothing when it is already loaded")
    f = sub.add_parser("flags", help="show or change the per-phase feature flags")
    fsub = f.add_subparsers(dest="flags_command")
    fsub.add_parser("show")
    fs = fsub.add_parser("set", help="change a phase's global rule")
    fs.add_argument("phase")
    fs.add_argument("state", nargs="?", choices=["on", "off"])
    fs.add_argument("--allow", help="comma-separated org ids always on (empty string clears)")
    fs.add_argument("--rollout", type=int, help="percentage of orgs on (0-100)")
    fo = fsub.add_parser("org", help="override a phase for one organization")
    fo.add_argument("phase")
    fo.add_argument("org")
    fo.add_argument(
        "state",
        choices=["on", "off", "soak", "default"],
        help="soak: live, while clients verify against snapshots; default: the global rule",
    )
    fa = fsub.add_parser("audit", help="the flag changes, newest first")
    fa.add_argument("--org", help="only this organization's changes (and the global rules')")
    fa.add_argument("--limit", type=int, default=100)
    c = sub.add_parser(
        "contracts", help="generate the contract artifacts (event types, AsyncAPI, OpenAPI)"
    )
    c.add_argument("--ts", help="write the TypeScript event types here")
    c.add_argument("--asyncapi", help="write the AsyncAPI document here")
    c.add_argument("--openapi", help="write the OpenAPI document of the REST API here")
    c.add_argument(
        "--check", action="store_true", help="fail if the files differ instead of writing"
    )
    args = parser.parse_args(argv)

    if args.command == "serve":
        return serve(args)
    if args.command == "migrate":
        migrate()
        print("Database is up to date.")
        return 0
    if args.command == "demo":
        return asyncio.run(_demo(args.if_empty))
    if args.command == "flags":
        from tandem.kit.errors import AppError

        args.flags_command = args.flags_command or "show"
        try:
            return asyncio.run(_flags(args))
        except AppError as exc:  # a bad phase or percentage: say so, without a traceback
            print(f"tandem flags: {exc.message}", file=sys.stderr)
            return 2
    if args.command == "contracts":
        from tandem.realtime.contracts import write_artifacts

        return write_artifacts(
            ts=args.ts, asyncapi=args.asyncapi, openapi=args.openapi, check=args.check
        )
    return 2


if __name__ == "__main__":
    sys.exit(main())
