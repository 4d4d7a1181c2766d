"""Streaming answers over the WebSocket, through a real server and the scripted provider."""

from __future__ import annotations

import httpx

from testkit.wsclient import ChatClient


async def test_answer_streams_in_numbered_frames(llm_settings, llm_server, running_server, make_token):
    llm_server.llm.set_default({"kind": "stream", "text": "Replace the brush fuse [1]. Then restart.", "interval": 0.05})
    async with running_server(llm_settings()) as srv:
        client = ChatClient(srv.ws_url, make_token())
        ready = await client.connect()
        assert ready["protocol"] == 1 and ready["session_id"]
        await client.ask("The brushes do not turn")
        done = await client.until("done")
        await client.close()
    kinds = [f["type"] for f in client.frames]
    assert kinds[0] == "ready" and "user_message" in kinds and "delta" in kinds
    seqs = [f["seq"] for f in client.frames if "seq" in f]
    assert seqs == list(range(1, len(seqs) + 1))
    deltas = [f for f in client.frames if f["type"] == "delta"]
    # tokens 50 ms apart: one joins the next frame only while a publish takes that long (server/chat/batching.py)
    assert len(deltas) > 3, "the answer should arrive in several chunks"
    assert client.answer_text(done["message_id"]) == "Replace the brush fuse [1]. Then restart."
    assert done["status"] == "complete" and done["mode"] == "llm"
    assert done["usage"]["completion_tokens"] > 0 and done["usage"]["model"] == "primary"
    # the prompt reached the provider through the real openai client
    request = llm_server.llm.chat_requests()[-1]
    assert request["stream"] and request["messages"][-1]["content"] == "The brushes do not turn"


async def test_answer_is_stored_with_usage(llm_settings, llm_server, running_server, make_token):
    token = make_token()
    async with running_server(llm_settings(llm_price_output_per_1k=0.002)) as srv:
        client = ChatClient(srv.ws_url, token)
        await client.connect()
        await client.ask("Why is the robot slow?")
        done = await client.until("done")
        await client.close()
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{srv.url}/api/sessions/{client.session_id}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    messages = r.json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    answer = messages[1]
    assert answer["id"] == done["message_id"] and answer["status"] == "complete"
    assert answer["completion_tokens"] == done["usage"]["completion_tokens"]
    assert done["usage"]["cost_usd"] > 0
