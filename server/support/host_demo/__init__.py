"""Builds the machine directory for the running service (``server.app`` calls ``build``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.logs import get_logger
from server.support.machines import DEFAULT_MAPPING, MachineDirectory, SchemaMapping

log = get_logger("server.machines")

HOST_DEMO_DIR = Path(__file__).parent
_DEMO_LOCK = 0x4142_484F_5354  # advisory lock: replicas starting together seed the sample schema once


async def install_host_demo(pool: Any) -> None:
    """Create and seed the sample host schema ``host_demo`` (idempotent)."""
    schema = (HOST_DEMO_DIR / "schema.sql").read_text()
    seed = (HOST_DEMO_DIR / "seed.sql").read_text()
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _DEMO_LOCK)
        try:
            async with conn.transaction():
                await conn.execute(schema)
                await conn.execute(seed)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _DEMO_LOCK)


async def build(services: Any) -> MachineDirectory:
    """The directory over HOST_DATABASE_URL, or over the sample schema in DATABASE_URL when that is empty."""
    settings = services.settings
    mapping = SchemaMapping.load(Path(settings.host_schema_mapping) if settings.host_schema_mapping else DEFAULT_MAPPING)
    dsn = settings.host_database_url
    if not dsn:
        await install_host_demo(services.db)
        dsn = settings.database_url
        if not settings.development:
            log.warning("machines.sample_schema", detail="HOST_DATABASE_URL is empty: machine context comes from the sample schema host_demo")
    directory = MachineDirectory(dsn, mapping, services.metrics)
    services.extra_health.append(directory.health)
    return directory
