"""The sample host schema ``host_demo``: machine context when no HOST_DATABASE_URL is configured.

The app installs it into its own database at start-up when HOST_DATABASE_URL is empty, and reads
machine context from it through ``mapping.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg

HOST_DEMO_DIR = Path(__file__).parent
_DEMO_LOCK = 0x4142_484F_5354  # advisory lock: replicas starting together seed the sample schema once


async def install_host_demo(pool: asyncpg.Pool) -> None:
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
