"""Command line: ``python -m server serve|token|migrate|check-config|settings-doc|audit-verify|reencrypt|new-key|access-map``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from core.settings import Settings, SettingsError, render_markdown

if TYPE_CHECKING:
    import uvicorn


@contextlib.contextmanager
def embedded_services(settings: Settings, started: list[Path] | None = None) -> Iterator[Settings]:
    """Start embedded PostgreSQL / Redis for the URLs left empty; yield settings pointing at them.

    The data directory of a PostgreSQL started here is appended to ``started`` (for the shutdown
    watchdog of ``serve``).
    """
    from core.embedded import embedded_postgres, embedded_redis

    with contextlib.ExitStack() as stack:
        changes = {}
        if not settings.database_url:
            changes["database_url"] = stack.enter_context(embedded_postgres(settings.data_path / "pg"))
            if started is not None:
                started.append(settings.data_path / "pg")
        if not settings.redis_url:
            changes["redis_url"] = stack.enter_context(embedded_redis(settings.data_path / "redis"))
        yield settings.replace(**changes) if changes else settings


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import functools

    import uvicorn

    from server.app import create_app

    settings.data_path.mkdir(parents=True, exist_ok=True)
    started: list[Path] = []
    with embedded_services(settings, started) as resolved:
        # a factory: uvicorn builds the app inside the event loop that serves it (the pool binds to it)
        config = uvicorn.Config(
            functools.partial(create_app, resolved), factory=True, **uvicorn_options(resolved), lifespan="on",
            log_config=None, timeout_graceful_shutdown=int(resolved.shutdown_drain_seconds) + 5,
        )
        server = _watched_server(config, ShutdownWatchdog(resolved.shutdown_drain_seconds + SHUTDOWN_MARGIN_SECONDS, started))
        # uvicorn re-raises SIGTERM after its graceful shutdown; exit normally instead so the embedded
        # PostgreSQL and Redis started above are stopped by their context managers
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with contextlib.suppress(SystemExit):
            server.run()
        code = 0 if server.started else 1
    return _leave(code)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The ``uvicorn.Config`` keywords of the listener and its WebSocket transport (also used by the
    idle-connection benchmark's bare baseline, so both are measured with the same transport)."""
    from server.chat.transport import LeanWebSocketProtocol

    return {
        "host": settings.host, "port": settings.port, "root_path": settings.root_path, "proxy_headers": True,
        "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"), "access_log": False,
        # uvicorn's sans-I/O websockets protocol, keeping less per open socket (server/chat/transport.py)
        "ws": LeanWebSocketProtocol,
        "ws_ping_interval": settings.ws_ping_interval_seconds, "ws_ping_timeout": settings.ws_ping_interval_seconds,
        "ws_max_size": max(settings.ws_max_frame_bytes, 1_048_576),
        # permessage-deflate keeps a zlib compressor and decompressor per socket for its whole life (about
        # 42 KiB, idle or not): off unless WS_PER_MESSAGE_DEFLATE asks for it
        "ws_per_message_deflate": settings.ws_per_message_deflate,
    }


def _leave(code: int) -> int:
    """Exit now when a worker thread is still busy (an embedding batch of a cancelled ingestion, which
    cannot be interrupted): the interpreter would otherwise wait for it after everything has stopped."""
    busy = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if not busy:
        return code
    from core.logs import get_logger

    get_logger("server.main").info("serve.exit_leaving_threads", threads=len(busy))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


SHUTDOWN_MARGIN_SECONDS = 15.0  # beyond SHUTDOWN_DRAIN_SECONDS, a shutdown that has not ended is forced


class ShutdownWatchdog:
    """Once the server is asked to stop, the process ends within ``deadline`` seconds.

    The lifespan's shutdown is bounded step by step (answers drain, jobs are cancelled, pools close
    with time-outs); should something still hang, the watchdog stops the embedded PostgreSQL this
    process started (its redis-server ends with its parent by itself) and exits with status 1,
    saying so in the log.
    """

    def __init__(self, deadline: float, postgres: list[Path]) -> None:
        self.deadline = deadline
        self._postgres = postgres
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.deadline, self._overdue)
            self._timer.daemon = True
            self._timer.start()

    def _overdue(self) -> None:
        from core.embedded import pg_ctl
        from core.logs import get_logger

        get_logger("server.main").error("serve.shutdown_overdue", seconds=self.deadline)
        for directory in self._postgres:
            with contextlib.suppress(Exception):
                pg_ctl(directory, "stop", "-m", "fast", "-w", "-t", "5", timeout=8)
        os._exit(1)


async def _cancel_all(tasks: set[asyncio.Task[object]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _watched_server(config: uvicorn.Config, watchdog: ShutdownWatchdog) -> uvicorn.Server:
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            watchdog.arm()
            super().handle_exit(sig, frame)

        def run(self, sockets: list[socket.socket] | None = None) -> None:
            """``asyncio.run`` without its wait for the default executor's threads: the lifespan has
            stopped everything by then, and a thread still embedding must not hold up the exit."""
            factory = self.config.get_loop_factory()
            loop = factory() if factory is not None else asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.serve(sockets=sockets))
            finally:
                try:
                    loop.run_until_complete(_cancel_all(asyncio.all_tasks(loop)))
                    loop.run_until_complete(loop.shutdown_asyncgens())
                finally:
                    loop.close()  # shuts the default executor down without waiting for it

    return Server(config)


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


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    """Recompute the audit log's hash chain; exit 1 naming the first row that breaks it."""
    from core.db import open_pool
    from server.storage.audit import verify_chain

    async def run(dsn: str) -> int:
        pool = await open_pool(dsn, min_size=1, max_size=2)
        try:
            report = await verify_chain(pool)
        finally:
            await pool.close()
        if report.ok:
            print(f"audit log: {report.rows} rows, hash chain intact")
            return 0
        print(f"audit log: chain broken at row {report.first_bad_id}: {report.problem}", file=sys.stderr)
        return 1

    with embedded_services(settings.replace(redis_url=settings.redis_url or "unused")) as resolved:
        return asyncio.run(run(resolved.database_url))


def cmd_reencrypt(settings: Settings, args: argparse.Namespace) -> int:
    """Re-seal everything sealed with a previous key under CONVERSATION_ENCRYPTION_KEY."""
    from core.db import open_pool
    from server.crypto.rotation import reencrypt
    from server.storage.store import TextCipher

    cipher = TextCipher(settings.conversation_encryption_key, settings.conversation_encryption_previous_keys)
    if not cipher.enabled:
        print("error: CONVERSATION_ENCRYPTION_KEY is empty: nothing to re-encrypt under", file=sys.stderr)
        return 2

    async def run(dsn: str) -> int:
        pool = await open_pool(dsn, min_size=1, max_size=2)
        try:
            found = await reencrypt(pool, cipher)
        finally:
            await pool.close()
        where = ", ".join(f"{table} {count}" for table, count in sorted(found.tables.items())) or "none"
        print(f"re-sealed under the current key: {found.rotated} value(s) ({where})")
        if found.unreadable:
            print(f"warning: {found.unreadable} sealed value(s) open with none of the configured keys",
                  file=sys.stderr)
            return 1
        print("every sealed value is under the current key: CONVERSATION_ENCRYPTION_PREVIOUS_KEYS can be removed"
              " once the Redis streams they sealed have expired (SESSION_TTL_SECONDS)")
        return 0

    with embedded_services(settings.replace(redis_url=settings.redis_url or "unused")) as resolved:
        return asyncio.run(run(resolved.database_url))


def cmd_access_map(args: argparse.Namespace) -> int:
    """Print the route-and-frame map of docs/security.md, from the routes and frame handler tables."""
    from server.app import create_app
    from server.http.access import render_access_map, served

    # every route, the development-only ones included; the URLs are never connected (no I/O here)
    settings = Settings(env="development", database_url="postgresql://unused/unused", redis_url="redis://unused:6379/0")
    sys.stdout.write(render_access_map(served(create_app(settings).routes), settings))
    return 0


def cmd_new_key(args: argparse.Namespace) -> int:
    """Print a fresh random key: a Fernet key, or (--webhook) a Standard Webhooks secret."""
    if args.webhook:
        import base64
        import secrets

        print("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
    else:
        from cryptography.fernet import Fernet

        print(Fernet.generate_key().decode())
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
    sub.add_parser("audit-verify", help="verify the audit log's hash chain (exit 1 when a row was changed or removed)")
    sub.add_parser("reencrypt", help="re-seal stored conversation text under the current CONVERSATION_ENCRYPTION_KEY"
                                     " (after a key rotation)")
    sub.add_parser("access-map", help="print the route-and-frame map of docs/security.md")
    new_key = sub.add_parser("new-key", help="print a new random CONVERSATION_ENCRYPTION_KEY (or --webhook secret)")
    new_key.add_argument("--webhook", action="store_true", help="a WEBHOOK_SECRET (whsec_...) instead")
    args = parser.parse_args(argv)
    if args.command == "settings-doc":
        return cmd_settings_doc(None, args)
    if args.command == "new-key":
        return cmd_new_key(args)
    if args.command == "access-map":
        return cmd_access_map(args)
    try:
        # check-config reads what it can and reports every other problem as a FAIL line
        settings = Settings.from_env(os.environ, strict=args.command != "check-config")
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from core.logs import configure_logging
    from server.tracing import add_trace_ids

    configure_logging(settings.log_level, settings.log_format, extra_processors=[add_trace_ids])
    handler = {"serve": cmd_serve, "token": cmd_token, "migrate": cmd_migrate, "check-config": cmd_check_config,
               "audit-verify": cmd_audit_verify, "reencrypt": cmd_reencrypt}
    return handler[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())
