"""SIGTERM drain: a replica being stopped tells its clients to reconnect; through nginx they resume on
the other replica and lose nothing, the answer being written included."""

from __future__ import annotations

import asyncio
import signal

import httpx
import websockets

from tests.deploy.conftest import Nginx, TLSChatClient, metric_value, wait_until

ANSWER = " ".join(f"part{i}" for i in range(70))


async def _counts(replicas, http: httpx.AsyncClient) -> list[float]:
    out = []
    for r in replicas:
        out.append(metric_value((await http.get(r.url + "/metrics")).text, "abparts_ws_connections"))
    return out


async def _connect_and_locate(client: TLSChatClient, replicas, http: httpx.AsyncClient, total: int) -> int:
    """Connect through nginx; return the index of the replica that took the connection."""
    before = await _counts(replicas, http)
    await client.connect()

    async def moved() -> tuple[int] | None:
        after = await _counts(replicas, http)
        if sum(after) != total:
            return None
        grown = [i for i in range(len(replicas)) if after[i] == before[i] + 1]
        return (grown[0],) if len(grown) == 1 else None

    return (await wait_until(moved, within=15))[0]


async def test_sigterm_moves_clients_to_the_other_replica_without_loss(nginx_in_front: Nginx, two_replicas,
                                                                         llm_server, make_token):
    llm_server.llm.set_default({"kind": "stream", "text": ANSWER, "interval": 0.04})  # ~3 s of streaming
    ctx = nginx_in_front.tls.client_context()
    clients = [TLSChatClient(nginx_in_front.ws_url, make_token(), ctx) for _ in range(3)]
    talking = clients[0]
    async with httpx.AsyncClient(timeout=5) as http:
        where = [await _connect_and_locate(c, two_replicas, http, i + 1) for i, c in enumerate(clients)]
        victim_index = where[0]
        victim, survivor = two_replicas[victim_index], two_replicas[1 - victim_index]
        moved = [c for c, w in zip(clients, where, strict=True) if w == victim_index]
        stayed = [c for c, w in zip(clients, where, strict=True) if w != victim_index]
        assert stayed, "least_conn spread three clients over both replicas"

        await talking.ask("the net cleaner stops after a minute")
        seen = 0
        while seen < 3:
            seen += (await talking.recv())["type"] == "delta"
        victim.terminate(signal.SIGTERM)

        # clients of the stopped replica are told to go away with 1012 (service restart) ...
        closes = []
        for client in moved:
            try:
                while True:
                    await client.recv(timeout=20)
            except websockets.ConnectionClosed as closed:
                closes.append(closed.rcvd.code if closed.rcvd else None)
            await client.close()
        assert closes == [1012] * len(moved), closes
        # ... and resume through nginx, which now sends them to the survivor
        for client in moved:
            ready = await client.resume()
            assert ready["resumed"] is True
        done = await talking.until("done", timeout=30)
        exit_code = await asyncio.to_thread(victim.wait, 30)
        survivor_conns = (await _counts([survivor], http))[0]
        # the others never noticed; everyone keeps talking to the survivor
        answers = []
        for client in clients[1:]:
            await client.ask("and what about the pump?")
            answers.append(await client.until("done", timeout=30))
        for client in clients:
            await client.close()
    # uvicorn re-raises the SIGTERM it caught once shutdown is complete (exit status 143 in a container)
    assert exit_code in (0, -signal.SIGTERM), victim.log_text()[-3000:]
    log = victim.log_text()
    assert "turns.draining" in log and "app.stopped" in log, "a clean, draining shutdown"
    assert log.index("turns.done") < log.index("app.stopped"), "the running answer finished before exit"
    assert survivor_conns == 3
    assert done["status"] == "complete"
    assert talking.answer_text(done["message_id"]) == ANSWER, "nothing of the answer was lost"
    for client in clients:
        seqs = [f["seq"] for f in client.frames if "seq" in f]
        assert seqs == list(range(1, len(seqs) + 1)), "every frame exactly once, in order"
    assert [a["status"] for a in answers] == ["complete", "complete"]
    assert len(llm_server.llm.chat_requests()) == 3, "the interrupted answer was not generated twice"
