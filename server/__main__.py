"""Command line: ``python -m server serve|token|migrate|check-config|settings-doc``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator

from core.settings import Settings, SettingsError, render_markdown


@contextlib.contextmanager
def embedded_services(settings: Settings) -> Iterator[Settings]:
    """Start embedded PostgreSQL / Redis for the URLs left empty; yield settings pointing at them."""
    from core.embedded import embedded_postgres, embedded_redis

    with contextlib.ExitStack() as stack:
        changes = {}
        if not settings.database_url:
            changes["database_url"] = stack.enter_context(embedded_postgres(settings.data_path / "pg"))
        if not settings.redis_url:
            changes["redis_url"] = stack.enter_context(embedded_redis(settings.data_path / "redis"))
        yield settings.replace(**changes) if changes else settings


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import functools

    import uvicorn

    from server.app import create_app

    settings.data_path.mkdir(parents=True, exist_ok=True)
    with embedded_services(settings) as resolved:
        # a factory: uvicorn builds the app inside the event loop that serves it (the pool binds to it)
        config = uvicorn.Config(
            functools.partial(create_app, resolved), factory=True, host=resolved.host, port=resolved.port, root_path=resolved.root_path,
            proxy_headers=True, forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
            ws_ping_interval=resolved.ws_ping_interval_seconds, ws_ping_timeout=resolved.ws_ping_interval_seconds,
            ws_max_size=max(resolved.ws_max_frame_bytes, 1_048_576), lifespan="on", log_config=None,
            timeout_graceful_shutdown=int(resolved.shutdown_drain_seconds) + 5, access_log=False,
        )
        server = uvicorn.Server(config)
        # uvicorn re-raises SIGTERM after its graceful shutdown; exit normally instead so the embedded
        # PostgreSQL and Redis started above are stopped by their context managers
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        server.run()
        return 0 if server.started else 1


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    from core.languages import LANGUAGES
    from server.auth import ROLES, mint_token

    if args.role not in ROLES:
        print(f"error: --role must be one of {', '.join(ROLES)}", file=sys.stderr)
        return 2
    if args.lang not in LANGUAGES:
        print(f"error: --lang must be one of {', '.join(LANGUAGES)}", file=sys.stderr)
        return 2
    machines = [m for m in (args.machines or "").split(",") if m]
    print(mint_token(settings, user_id=args.user, name=args.name or args.user, role=args.role, lang=args.lang,
                     machines=machines, ttl_seconds=args.ttl))
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from core.db import migrate, open_pool
    from server.storage.schema import MIGRATIONS

    async def run(dsn: str) -> list[str]:
        pool = await open_pool(dsn, min_size=1, max_size=2)
        try:
            return await migrate(pool, MIGRATIONS)
        finally:
            await pool.close()

    with embedded_services(settings.replace(redis_url=settings.redis_url or "unused")) as resolved:
        applied = asyncio.run(run(resolved.database_url))
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


def cmd_check_config(settings: Settings, args: argparse.Namespace) -> int:
    from server.checks import main as check_main

    return check_main(settings, ["--skip", args.skip] if args.skip else [])


def cmd_settings_doc(settings: Settings | None, args: argparse.Namespace) -> int:
    sys.stdout.write(render_markdown())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description="ABParts AI Assistant")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the service (embedded PostgreSQL/Redis when their URLs are empty)")
    tok = sub.add_parser("token", help="print a host token signed with JWT_SECRET (development and scripts)")
    tok.add_argument("--user", required=True)
    tok.add_argument("--name", default="")
    tok.add_argument("--role", default="operator")
    tok.add_argument("--lang", default="en")
    tok.add_argument("--machines", default="", help="comma-separated machine ids the user may pick")
    tok.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    sub.add_parser("migrate", help="apply database migrations once")
    check = sub.add_parser("check-config", help="check the configuration and every dependency, one line each")
    check.add_argument("--skip", default="", help="comma-separated checks to skip (e.g. port,smtp)")
    sub.add_parser("settings-doc", help="print docs/configuration.md")
    args = parser.parse_args(argv)
    if args.command == "settings-doc":
        return cmd_settings_doc(None, args)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from core.logs import configure_logging
    from server.tracing import add_trace_ids

    configure_logging(settings.log_level, settings.log_format, extra_processors=[add_trace_ids])
    handler = {"serve": cmd_serve, "token": cmd_token, "migrate": cmd_migrate, "check-config": cmd_check_config}
    return handler[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())
