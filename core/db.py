"""PostgreSQL: the connection pool and the runner of versioned SQL migrations.

Each package that owns tables keeps its SQL files in a folder of its own (``server/storage/migrations``,
``knowledge/migrations``); the runner applies the files of the folders it is given in file-name order.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncpg
from asyncpg.pool import Pool
from pgvector.asyncpg import register_vector

from core.errors import DependencyUnavailable
from core.logs import get_logger

_MIGRATION_LOCK = 0x4142_5041_5254  # advisory lock id: replicas never race a migration
MIGRATION_LOCK_TIMEOUT = 600.0  # seconds a replica waits for another one's migrations before it fails to start

log = get_logger("core.db")


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=_json_dumps, decoder=_json_loads, schema="pg_catalog")
    try:
        await register_vector(conn)
    except ValueError:
        # the vector extension is created by the first migration; connections opened before it exist
        # without the codec and are recycled after migrate() (see open_pool)
        pass


def _json_dumps(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json_loads(value: str) -> object:
    import json

    return json.loads(value)


OnTimeout = Callable[[str], None]  # called with the pool's name when an acquire times out
CLOSE_TIMEOUT = 5.0  # seconds a closing pool waits for its connections to come back


class BoundedPool(Pool):  # type: ignore[misc]  # asyncpg ships no type information
    """An asyncpg pool whose every acquire has a time-out.

    Every way of using the pool goes through ``acquire`` (``pool.fetch`` and the other shortcuts
    call it too), so no caller can wait forever for a connection: after ``acquire_timeout``
    seconds the wait becomes ``DependencyUnavailable("postgres", ...)`` (503 on HTTP, an error frame
    on the socket), counted through ``on_timeout`` and logged. A PostgreSQL that refuses
    connections (restarting, down) becomes the same error at once instead of an OSError.
    """

    def __init__(self, *args: Any, name: str, acquire_timeout: float, on_timeout: OnTimeout | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = name
        self.acquire_timeout = acquire_timeout
        self._on_timeout = on_timeout

    async def close(self) -> None:
        """Close gracefully, waiting at most ``CLOSE_TIMEOUT`` seconds for connections still in use;
        then close them at once (a shutdown never waits on a stuck query)."""
        try:
            await asyncio.wait_for(super().close(), CLOSE_TIMEOUT)
        except TimeoutError:
            log.warning("db.pool_close_timeout", pool=self.name, seconds=CLOSE_TIMEOUT)
            self.terminate()

    def acquire(self, *, timeout: float | None = None) -> _Acquire:
        return _Acquire(self, self.acquire_timeout if timeout is None else timeout)

    async def acquire_bounded(self, seconds: float) -> asyncpg.Connection:
        """A connection within ``seconds``, or ``DependencyUnavailable``."""
        timeout = seconds
        started = time.monotonic()
        try:
            return await super().acquire(timeout=timeout)
        except TimeoutError as exc:
            if self._on_timeout is not None:
                self._on_timeout(self.name)
            log.warning("db.pool_timeout", pool=self.name, timeout=timeout, size=self.get_size(),
                        idle=self.get_idle_size(), waited=round(time.monotonic() - started, 3))
            raise DependencyUnavailable(
                "postgres", f"no PostgreSQL connection free in the {self.name} pool within {timeout:g} s") from exc
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError,
                asyncpg.InterfaceError) as exc:
            log.warning("db.connect_failed", pool=self.name, error=type(exc).__name__, detail=str(exc)[:300])
            raise DependencyUnavailable("postgres", f"PostgreSQL is not reachable: {type(exc).__name__}") from exc


class _Acquire:
    """``async with pool.acquire() as conn`` and ``conn = await pool.acquire()``, both bounded."""

    __slots__ = ("_pool", "_timeout", "_conn")

    def __init__(self, pool: BoundedPool, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        self._conn = await self._pool.acquire_bounded(self._timeout)
        return self._conn

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._pool.release(conn)

    def __await__(self) -> Generator[Any, None, asyncpg.Connection]:
        return self._pool.acquire_bounded(self._timeout).__await__()


def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10, name: str = "main", acquire_timeout: float = 5.0,
                on_timeout: OnTimeout | None = None) -> BoundedPool:
    """A pool whose connections know jsonb and pgvector's ``vector`` type, not yet connected.

    Every acquire waits at most ``acquire_timeout`` seconds (see ``BoundedPool``). No I/O:
    ``async with pool`` (or ``await pool``) connects it. Create it inside the event loop that will
    use it (asyncpg binds a pool to the loop current at creation).
    """
    return BoundedPool(dsn, name=name, acquire_timeout=acquire_timeout, on_timeout=on_timeout,
                       connection_class=asyncpg.Connection, record_class=asyncpg.Record, init_size=None,
                       min_size=min_size, max_size=max_size, max_queries=50000,
                       max_inactive_connection_lifetime=300.0, loop=None, connect=None, setup=None,
                       init=_init_connection, reset=None, command_timeout=60)


async def open_pool(dsn: str, *, min_size: int = 2, max_size: int = 10, name: str = "main",
                    acquire_timeout: float = 5.0, on_timeout: OnTimeout | None = None) -> BoundedPool:
    """A connected pool (see ``create_pool``)."""
    pool = create_pool(dsn, min_size=min_size, max_size=max_size, name=name, acquire_timeout=acquire_timeout,
                       on_timeout=on_timeout)
    await pool
    return pool


def migration_files(directories: Sequence[Path]) -> list[Path]:
    """The ``*.sql`` files of every folder, in file-name order (the names are the versions)."""
    return sorted((p for d in directories for p in d.glob("*.sql")), key=lambda p: p.name)


async def migrate(pool: asyncpg.Pool, directories: Sequence[Path]) -> list[str]:
    """Apply every migration not yet applied, each in its own transaction, under an advisory lock.

    Returns the names applied. A migration whose file changed after it was applied is reported
    (logged) but not re-run: migrations are append-only.
    """
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        # bounded like every wait: another replica migrating holds the lock for as long as it takes
        await conn.execute(f"SET lock_timeout = '{int(MIGRATION_LOCK_TIMEOUT * 1000)}ms'")
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        await conn.execute("RESET lock_timeout")
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
            for path in migration_files(directories):
                sql = path.read_text()
                checksum = hashlib.sha256(sql.encode()).hexdigest()
                if path.name in done:
                    if done[path.name] != checksum:
                        log.warning("db.migration_changed", migration=path.name)
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", path.name, checksum)
                applied_now.append(path.name)
                log.info("db.migration_applied", migration=path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    if applied_now:
        # connections opened before the vector type existed lack its codec
        await pool.expire_connections()
    return applied_now
