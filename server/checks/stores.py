"""The service's own stores: PostgreSQL (with pgvector) and Redis."""

from __future__ import annotations

from core.settings import Settings
from server.checks.results import CHECK_TIMEOUT_SECONDS, CheckResult, Outcome, describe, redact_url


async def check_postgres(settings: Settings) -> list[CheckResult]:
    """Connect, report the server version and whether the pgvector extension can be used."""
    if not settings.database_url:
        return [CheckResult("postgres", Outcome.SKIP, "DATABASE_URL empty: embedded PostgreSQL under DATA_DIR (development only)")]
    return [await _postgres_one("postgres", settings.database_url, need_vector=True)]  # the host database: targets.py


async def _postgres_one(name: str, dsn: str, *, need_vector: bool) -> CheckResult:
    import asyncpg

    where = redact_url(dsn)
    try:
        conn = await asyncpg.connect(dsn, timeout=CHECK_TIMEOUT_SECONDS)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError, ValueError) as exc:
        return CheckResult(name, Outcome.FAIL, f"cannot connect to {where}: {describe(exc)}")
    try:
        version = await conn.fetchval("SHOW server_version")
        if not need_vector:
            return CheckResult(name, Outcome.OK, f"PostgreSQL {version} at {where}")
        row = await conn.fetchrow(
            "SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'vector'")
        if row is None:
            return CheckResult(name, Outcome.FAIL,
                               f"PostgreSQL {version} at {where} has no pgvector extension available "
                               "(install pgvector on the server, e.g. use the pgvector/pgvector image)")
        if row["installed_version"]:
            return CheckResult(name, Outcome.OK, f"PostgreSQL {version} at {where}, pgvector {row['installed_version']} installed")
        can_create = await conn.fetchval(
            "SELECT has_database_privilege(current_database(), 'CREATE') OR "
            "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)")
        if not can_create:
            return CheckResult(name, Outcome.FAIL,
                               f"PostgreSQL {version} at {where}: pgvector {row['default_version']} available but not "
                               "installed, and this user may not CREATE EXTENSION (ask a superuser: CREATE EXTENSION vector)")
        return CheckResult(name, Outcome.OK,
                           f"PostgreSQL {version} at {where}, pgvector {row['default_version']} available "
                           "(created by `migrate`)")
    except (asyncpg.PostgresError, OSError) as exc:
        return CheckResult(name, Outcome.FAIL, f"query failed on {where}: {describe(exc)}")
    finally:
        await conn.close(timeout=2)


async def check_redis(settings: Settings) -> list[CheckResult]:
    if not settings.redis_url:
        return [CheckResult("redis", Outcome.SKIP, "REDIS_URL empty: private redis-server under DATA_DIR (development only)")]
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    where = redact_url(settings.redis_url)
    client = aioredis.from_url(settings.redis_url, socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
                               socket_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        await client.ping()
        info = await client.info("server")
        persistence = await client.info("persistence")
    except (RedisError, OSError) as exc:
        return [CheckResult("redis", Outcome.FAIL, f"cannot reach {where}: {describe(exc)}")]
    finally:
        await client.aclose()
    detail = f"Redis {info.get('redis_version', '?')} at {where}"
    if settings.env == "production" and not int(persistence.get("aof_enabled", 0)):
        return [CheckResult("redis", Outcome.WARN, detail + ": append-only file off (replay buffers lost on restart)")]
    return [CheckResult("redis", Outcome.OK, detail)]
