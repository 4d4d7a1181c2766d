"""Every acquire of a pooled PostgreSQL connection is bounded: a pool that stays full gives a clear,
counted ``postgres_unavailable`` error instead of a wait without end."""

from __future__ import annotations

import asyncio

import pytest

from core.db import open_pool
from core.errors import DependencyUnavailable


async def test_a_full_pool_gives_postgres_unavailable_after_its_time_out_and_counts_it(database_url: str):
    timeouts: list[str] = []
    # the assembly passes the Prometheus counter abparts_db_pool_timeouts_total as on_timeout
    pool = await open_pool(database_url, min_size=1, max_size=1, name="request", acquire_timeout=0.2,
                           on_timeout=timeouts.append)
    try:
        async with pool.acquire() as held:
            assert await held.fetchval("SELECT 1") == 1
            for use in (lambda: pool.fetchval("SELECT 2"), lambda: pool.execute("SELECT 3")):
                with pytest.raises(DependencyUnavailable) as refused:
                    await asyncio.wait_for(use(), 10)
                assert refused.value.status == 503 and refused.value.code == "postgres_unavailable"
                assert "request pool" in refused.value.message
            with pytest.raises(DependencyUnavailable):
                await asyncio.wait_for(pool.acquire(), 10)  # the awaitable form too
        assert timeouts == ["request", "request", "request"]
        assert await pool.fetchval("SELECT 4") == 4  # free again: served at once
    finally:
        await pool.close()


async def test_an_unreachable_postgres_is_postgres_unavailable_at_once(tmp_path):
    pool = await open_pool(f"postgresql://postgres@/nothing?host={tmp_path}", min_size=0, max_size=1, acquire_timeout=5)
    try:
        with pytest.raises(DependencyUnavailable) as refused:
            await asyncio.wait_for(pool.fetchval("SELECT 1"), 10)
        assert refused.value.code == "postgres_unavailable"
    finally:
        await pool.close()
