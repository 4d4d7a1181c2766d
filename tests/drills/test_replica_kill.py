"""Drill: the replica running an answer is SIGKILLed mid-answer; its client reconnects to another replica.

What must hold: the client gets, without asking again, a clear end of that answer (``failed``,
``interrupted``) once the dead replica's lease has expired, with the text streamed so far kept in the
record; never an endless wait. The session then works normally on the surviving replica.
"""

from __future__ import annotations

import signal
import time

import asyncpg
import pytest

from testkit.wsclient import ChatClient

pytestmark = pytest.mark.slow

ANSWER = " ".join(f"part{i}" for i in range(300))
RUNS = 2


@pytest.mark.parametrize("run", range(RUNS))
async def test_sigkill_of_the_answering_replica_ends_the_turn_clearly(run, llm_settings, llm_server, running_server,
                                                                      make_token, database_url, record_figures):
    llm_server.llm.set_default({"kind": "stream", "text": ANSWER, "interval": 0.05})
    settings = llm_settings()
    async with running_server(settings.replace(port=0)) as a, running_server(settings.replace(port=0)) as b:
        client = ChatClient(a.ws_url, make_token())
        await client.connect()
        await client.ask("a long answer, please")
        for _ in range(5):
            await client.until("delta")
        a.terminate(signal.SIGKILL)
        killed = time.monotonic()
        await client.abort()
        client.ws_url = b.ws_url
        ready = await client.resume()
        assert ready["resumed"]
        done = await client.until("done", timeout=45)
        takeover = time.monotonic() - killed
        assert done["status"] == "failed" and done["error_code"] == "interrupted"
        streamed = client.answer_text(done["message_id"])
        # the session goes on: a new question on the surviving replica is answered in full
        llm_server.llm.set_default({"kind": "stream", "text": "short answer", "interval": 0.0})
        await client.ask("again")
        done2 = await client.until("done", timeout=30)
        await client.close()
    assert streamed and ANSWER.startswith(streamed.strip()), "the partial answer was kept as streamed"
    assert done2["status"] == "complete"
    seqs = [f["seq"] for f in client.frames if f.get("seq") is not None]
    assert seqs == list(range(1, len(seqs) + 1))
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT status, error_code, text FROM messages WHERE id = $1", done["message_id"])
    finally:
        await conn.close()
    assert row["status"] == "failed" and row["error_code"] == "interrupted"
    assert row["text"] == streamed
    record_figures(f"replica_kill_{run}", {
        "seconds_from_sigkill_to_done": round(takeover, 2), "lease_seconds": settings.turn_lease_seconds,
        "heartbeat_seconds": settings.turn_heartbeat_seconds, "partial_chars_kept": len(streamed),
    })
