"""Resume after cuts, idempotent resends, cancel, provider failures."""

from __future__ import annotations

import asyncio
import random

from testkit.wsclient import ChatClient

ANSWER = " ".join(f"word{i}" for i in range(60))


async def test_reconnect_at_random_points_loses_and_doubles_nothing(llm_settings, llm_server, running_server, make_token):
    llm_server.llm.set_default({"kind": "stream", "text": ANSWER, "interval": 0.01})
    rng = random.Random(7)
    async with running_server(llm_settings()) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        for _ in range(3):
            await client.ask("question")
            done = None
            while done is None:
                # read a random number of frames, then cut the connection without a close handshake
                for _ in range(rng.randint(1, 12)):
                    frame = await client.recv()
                    if frame["type"] == "done":
                        done = frame
                        break
                if done is None:
                    await client.abort()
                    await asyncio.sleep(rng.random() * 0.1)
                    ready = await client.resume()
                    assert ready["resumed"] is True
            assert client.answer_text(done["message_id"]) == ANSWER
        await client.close()
    seqs = [f["seq"] for f in client.frames if "seq" in f]
    assert seqs == list(range(1, len(seqs) + 1)), "every frame exactly once, in order"


async def test_resend_with_same_client_id_is_answered_once(llm_settings, llm_server, running_server, make_token):
    async with running_server(llm_settings()) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        cid = await client.ask("first try")
        await client.until("done")
        await client.ask("first try", client_id=cid)
        ack = await client.until("ack", client_id=cid)
        assert ack["duplicate"] is True
        await client.send({"type": "ping"})
        await client.until("pong")
        await client.close()
    assert sum(1 for f in client.frames if f["type"] == "user_message") == 1
    assert sum(1 for f in client.frames if f["type"] == "done") == 1
    assert len(llm_server.llm.chat_requests()) == 1


async def test_cancel_stops_generation_upstream(llm_settings, llm_server, running_server, make_token):
    llm_server.llm.set_default({"kind": "stream", "text": ANSWER * 3, "interval": 0.05})
    async with running_server(llm_settings()) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("long answer please")
        await client.until("delta")
        await client.send({"type": "cancel"})
        done = await client.until("done")
        await client.close()
        await asyncio.sleep(0.3)
    assert done["status"] == "cancelled"
    assert len(client.answer_text(done["message_id"])) < len(ANSWER * 3)
    request = llm_server.llm.chat_requests()[-1]
    assert request["cancelled"] and not request["completed"], "the provider's stream must be closed"


async def test_rate_limit_then_success_is_retried(llm_settings, llm_server, running_server, make_token):
    llm_server.llm.push({"kind": "error", "status": 429}, {"kind": "error", "status": 503})
    async with running_server(llm_settings()) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("hello")
        done = await client.until("done")
        await client.close()
    assert done["status"] == "complete" and done["mode"] == "llm" and done["usage"]["model"] == "primary"
    assert [r["model"] for r in llm_server.llm.chat_requests()] == ["primary"] * 3


async def test_primary_down_falls_back(llm_settings, llm_server, running_server, make_token):
    llm_server.llm.push(*[{"kind": "error", "status": 500, "model": "primary"}] * 3)
    async with running_server(llm_settings()) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("hello")
        done = await client.until("done")
        await client.close()
    assert done["status"] == "complete" and done["usage"]["model"] == "fallback" and done["usage"]["fallback"]
    assert [r["model"] for r in llm_server.llm.chat_requests()] == ["primary"] * 3 + ["fallback"]


async def test_everything_down_gives_retrieval_only_answer(llm_settings, llm_server, running_server, make_token):
    llm_server.llm.set_default({"kind": "error", "status": 500})
    async with running_server(llm_settings(llm_max_retries=1)) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("hello")
        done = await client.until("done")
        await client.close()
    assert done["status"] == "complete" and done["mode"] == "retrieval_only"
    assert client.answer_text(done["message_id"]).strip()


async def test_failure_mid_stream_ends_with_marked_partial_answer(llm_settings, llm_server, running_server, make_token):
    llm_server.llm.push({"kind": "cut", "text": ANSWER, "after": 5})
    async with running_server(llm_settings()) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("hello")
        error = await client.until("error", timeout=30)
        done = await client.until("done", timeout=30)
        await client.close()
    assert error["code"] == "llm_interrupted" and error["message_id"] == done["message_id"]
    text = client.answer_text(done["message_id"])
    assert done["status"] == "failed" and done["error_code"] == "llm_interrupted"
    assert text.startswith("word0 word1") and "interrupted" in text


async def test_no_llm_configured_answers_retrieval_only(settings_factory, running_server, make_token):
    async with running_server(settings_factory()) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("hello")
        done = await client.until("done")
        await client.close()
    assert done["mode"] == "retrieval_only" and client.answer_text(done["message_id"])
