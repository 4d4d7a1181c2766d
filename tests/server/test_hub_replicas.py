"""Two server processes sharing PostgreSQL and Redis: a client moves between them mid-answer."""

from __future__ import annotations

import asyncio
import signal

from testkit.wsclient import ChatClient

ANSWER = " ".join(f"part{i}" for i in range(80))


async def test_client_moves_to_other_replica_in_the_middle_of_an_answer(llm_settings, llm_server, running_server, make_token):
    llm_server.llm.set_default({"kind": "stream", "text": ANSWER, "interval": 0.02})
    settings = llm_settings()
    async with running_server(settings.replace(port=0)) as a, running_server(settings.replace(port=0)) as b:
        client = ChatClient(a.ws_url, make_token())
        await client.connect()
        await client.ask("start on A")
        for _ in range(10):
            await client.until("delta")
        await client.abort()
        client.ws_url = b.ws_url  # reconnect to the other replica; the turn keeps running on A
        ready = await client.resume()
        assert ready["resumed"]
        done = await client.until("done")
        # a second question asked on B runs on B, and cancel from B reaches B's turn
        await client.ask("now on B")
        done2 = await client.until("done")
        await client.close()
    assert client.answer_text(done["message_id"]) == ANSWER
    assert client.answer_text(done2["message_id"]) == ANSWER
    seqs = [f["seq"] for f in client.frames if "seq" in f]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_cancel_reaches_a_turn_running_on_another_replica(llm_settings, llm_server, running_server, make_token):
    llm_server.llm.set_default({"kind": "stream", "text": ANSWER * 4, "interval": 0.03})
    settings = llm_settings()
    async with running_server(settings.replace(port=0)) as a, running_server(settings.replace(port=0)) as b:
        client = ChatClient(a.ws_url, make_token())
        await client.connect()
        await client.ask("long one")
        await client.until("delta")
        await client.abort()
        client.ws_url = b.ws_url
        await client.resume()
        await client.send({"type": "cancel"})
        done = await client.until("done")
        await client.close()
    assert done["status"] == "cancelled"
    assert llm_server.llm.chat_requests()[-1]["cancelled"]


async def test_sigterm_drains_and_clients_resume_elsewhere(llm_settings, llm_server, running_server, make_token):
    llm_server.llm.set_default({"kind": "stream", "text": ANSWER, "interval": 0.03})
    settings = llm_settings(shutdown_drain_seconds=20)
    async with running_server(settings.replace(port=0)) as a, running_server(settings.replace(port=0)) as b:
        client = ChatClient(a.ws_url, make_token())
        await client.connect()
        await client.ask("question during a deploy")
        await client.until("delta")
        a.terminate(signal.SIGTERM)
        # the replica tells its clients to reconnect (1012) ...
        closed_code = None
        try:
            while True:
                await client.recv(10)
        except Exception:
            closed_code = client.ws.close_code if client.ws else None
        assert closed_code == 1012
        client.ws_url = b.ws_url
        await client.resume()
        done = await client.until("done", timeout=30)
        await client.close()
        # ... and finished the answer before exiting cleanly (uvicorn re-raises SIGTERM after its shutdown)
        assert await asyncio.to_thread(a.wait, 30) in (0, -signal.SIGTERM)
        log = a.log_text()
        assert "turns.draining" in log and "app.stopped" in log
    assert done["status"] == "complete"
    assert client.answer_text(done["message_id"]) == ANSWER
