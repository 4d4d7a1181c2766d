"""Calls of many tasks in one round trip: Redis pipelines (server/chat/redis_batch.py) and PostgreSQL
batches (core/batching.py), against the real servers.

Each test fails if the batching stops batching (one round trip per call again), mixes up whose reply
is whose, lets one bad call fail the others, or leaves a caller waiting when the server is away.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import asyncpg
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, ResponseError

from core.batching import RowBatcher, WriteBatcher
from core.db import create_pool
from core.errors import DependencyUnavailable
from server.chat.redis_batch import RedisBatcher
from server.storage.store import Store, TextCipher


async def test_concurrent_redis_calls_share_pipelines_and_each_gets_its_own_reply(redis_client):
    batch = RedisBatcher(redis_client)
    script = redis_client.register_script("return {KEYS[1], redis.call('INCR', KEYS[1])}")
    await redis_client.script_flush()  # the batcher loads it itself
    keys = [f"t:batch:{i % 50}" for i in range(1000)]
    replies = await asyncio.gather(*[batch.script(script, [key], []) for key in keys])
    assert [r[0].decode() for r in replies] == keys  # each caller its own reply
    for i in range(50):  # every call ran once, in the order queued
        counts = [int(r[1]) for key, r in zip(keys, replies, strict=True) if key == f"t:batch:{i}"]
        assert counts == list(range(1, 21))
    assert batch.commands == 1000 and batch.pipelines <= 100, (batch.pipelines, batch.commands)

    # one caller's error reply is its own; the others in the same pipeline get theirs
    await redis_client.set("t:batch:text", "x")
    good = [asyncio.create_task(batch.call(lambda p: p.incr("t:batch:n"))) for _ in range(10)]
    bad = asyncio.create_task(batch.call(lambda p: p.set("t:batch:k", 1).lpush("t:batch:text", 1), 2))
    assert sorted(await asyncio.gather(*good)) == list(range(1, 11))
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await bad

    # an argument redis-py cannot encode fails its own call, not the others sent with it
    others = [asyncio.create_task(batch.call(lambda p: p.incr("t:batch:m"))) for _ in range(5)]
    spoilt = asyncio.create_task(batch.call(lambda p: p.set("t:batch:d", {"not": "encodable"})))
    assert sorted(await asyncio.gather(*others)) == list(range(1, 6))
    with pytest.raises(DataError):
        await spoilt

    # Redis forgot the script (a restart): it is loaded again and the call goes through
    await redis_client.script_flush()
    key, count = await batch.script(script, ["t:batch:0"], [])
    assert int(count) == 21


async def test_a_redis_that_is_away_fails_each_batched_call_in_time():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        f"redis://127.0.0.1:{port}/0", max_connections=4, timeout=2, socket_timeout=1, socket_connect_timeout=1))
    batch = RedisBatcher(client)
    started = time.monotonic()
    results = await asyncio.wait_for(
        asyncio.gather(*[batch.call(lambda p: p.get("k")) for _ in range(50)], return_exceptions=True), 30)
    assert all(isinstance(r, RedisConnectionError) for r in results), results[:3]
    assert time.monotonic() - started < 30
    await client.aclose()


async def test_concurrent_writes_share_a_transaction_and_a_bad_row_fails_alone(database_url):
    pool = create_pool(database_url, min_size=1, max_size=2, name="test")
    await pool
    try:
        await pool.execute("CREATE TABLE t_batch (id int PRIMARY KEY, note text NOT NULL)")
        writes = WriteBatcher(pool, "INSERT INTO t_batch (id, note) VALUES ($1, $2)")
        await asyncio.gather(*[writes.execute(i, f"n{i}") for i in range(300)])
        assert await pool.fetchval("SELECT count(*) FROM t_batch") == 300
        assert writes.calls == 300 and writes.batches <= 30, (writes.batches, writes.calls)

        # a duplicate id in the middle of a batch: only it fails, the rest of the batch is written
        results = await asyncio.gather(*[writes.execute(i, "again") for i in (1000, 1001, 5, 1002)],
                                       return_exceptions=True)
        assert [type(r) for r in results] == [type(None), type(None), asyncpg.UniqueViolationError, type(None)]
        assert await pool.fetchval("SELECT count(*) FROM t_batch WHERE id >= 1000") == 3

        rows = RowBatcher(pool, "SELECT i.ord, repeat(i.v, 2) AS twice FROM unnest($1::text[]) WITH ORDINALITY AS i(v, ord)"
                                " WHERE i.v <> ''")
        got = await asyncio.gather(*[rows.fetchrow(str(i) if i % 7 else "") for i in range(1, 201)])
        for i, row in enumerate(got, start=1):
            assert (row is None) if i % 7 == 0 else row["twice"] == str(i) * 2
    finally:
        await pool.close()


async def test_a_postgres_with_no_free_connection_fails_each_batched_call_in_time(database_url):
    pool = create_pool(database_url, min_size=1, max_size=1, name="test", acquire_timeout=0.5)
    await pool
    writes = WriteBatcher(pool, "SELECT $1::int")
    try:
        async with pool.acquire():  # the only connection, held
            results = await asyncio.wait_for(
                asyncio.gather(*[writes.execute(i) for i in range(20)], return_exceptions=True), 10)
        assert all(isinstance(r, DependencyUnavailable) for r in results), results[:3]
        await writes.execute(1)  # free again: the next call goes through
    finally:
        await pool.close()


async def test_turns_opened_together_each_get_their_own_rows_and_context(database_url):
    pool = create_pool(database_url, min_size=1, max_size=4, name="test")
    await pool
    try:
        store = Store(pool, TextCipher("", ()))
        sessions = [await store.create_session(uuid.uuid4().hex, f"u{i}", "Ann", "en", None) for i in range(60)]
        for s in sessions[:30]:  # half of them have a history already
            await store.insert_user_message(uuid.uuid4().hex, s.id, uuid.uuid4().hex, f"earlier in {s.id}", "en")
        gone = sessions[7]
        await pool.execute("DELETE FROM sessions WHERE id = $1", gone.id)  # erased meanwhile: its turn fails alone

        async def open_one(s):
            return await store.open_turn(uuid.uuid4().hex, uuid.uuid4().hex, s.id, "c-" + s.id, f"question of {s.id}",
                                         "el" if s.user_id.endswith("3") else "en", relang=s.user_id.endswith("3"))

        results = await asyncio.gather(*[open_one(s) for s in sessions], return_exceptions=True)
        assert isinstance(results[7], asyncpg.ForeignKeyViolationError)
        for i, (s, ctx) in enumerate(zip(sessions, results, strict=True)):
            if i == 7:
                continue
            assert ctx.inserted and ctx.found
            assert [h["text"] for h in ctx.history] == ([f"earlier in {s.id}"] if i < 30 else [])
        stored = await pool.fetch("SELECT session_id, role, text, status FROM messages WHERE client_id LIKE 'c-%'"
                                  " OR reply_to IS NOT NULL ORDER BY session_id, created_at")
        assert len(stored) == 2 * 59
        langs = dict(await pool.fetch("SELECT id, lang FROM sessions"))
        assert all(langs[s.id] == ("el" if s.user_id.endswith("3") else "en") for s in sessions if s is not gone)
        again = await open_one(sessions[0])  # the same client_id: nothing stored twice
        assert not again.inserted
    finally:
        await pool.close()
