"""PostgreSQL: the connection pool and the runner of versioned SQL migrations.

Each package that owns tables keeps its SQL files in a folder of its own (``server/storage/migrations``,
``knowledge/migrations``); the runner applies the files of the folders it is given in file-name order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import asyncpg
from pgvector.asyncpg import register_vector

from core.logs import get_logger

_MIGRATION_LOCK = 0x4142_5041_5254  # advisory lock id: replicas never race a migration

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


def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections know jsonb and pgvector's ``vector`` type, not yet connected.

    No I/O: ``async with pool`` (or ``await pool``) connects it. Create it inside the event loop
    that will use it (asyncpg binds a pool to the loop current at creation).
    """
    return asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60)


async def open_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    """A connected pool (see ``create_pool``)."""
    pool = await create_pool(dsn, min_size=min_size, max_size=max_size)
    assert pool is not None
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
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
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
