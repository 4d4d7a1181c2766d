"""Small helpers shared by the escalation tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx

from server.engine.diagnostics import DiagnosticState, Step


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def eventually(check: Callable[[], Awaitable[Any]], *, within: float = 30, interval: float = 0.2,
                     what: str = "condition") -> Any:
    """Call ``check`` until it returns something truthy; fail with ``what`` after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: Any = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


async def ticket(http: httpx.AsyncClient, base: str, token: str, ticket_id: int) -> dict[str, Any]:
    r = await http.get(f"{base}/api/escalations/{ticket_id}", headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()


async def set_diagnostic(database_url: str, session_id: str, steps: list[dict[str, Any]], **extra: Any) -> None:
    """Record diagnostic steps and answers in the session, as the conversation engine stores them."""
    diagnostic = DiagnosticState(steps=tuple(Step(**step) for step in steps))
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE sessions SET state = state || $2::jsonb WHERE id = $1", session_id,
                           json.dumps({**diagnostic.session_patch(), **extra}))
    finally:
        await conn.close()


async def fetch(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()
