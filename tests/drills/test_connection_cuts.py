"""Drill: 1,000 random connection cuts (TCP dropped without a close) across 50 concurrent sessions on two
replicas, in the middle of streaming answers; each client resumes with its last seq, on either replica.

What must hold: zero frames lost and zero doubled (every session's seqs are 1..n in order, every answer's
text is whole and appears once).
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from testkit.wsclient import ChatClient

pytestmark = pytest.mark.slow

SESSIONS = 50
CUTS = 1000
ANSWER = " ".join(f"w{i}" for i in range(40))


async def test_a_thousand_cuts_lose_and_double_nothing(llm_settings, llm_server, running_server, make_token,
                                                       record_figures):
    llm_server.llm.set_default({"kind": "stream", "text": ANSWER, "interval": 0.01})
    settings = llm_settings(messages_per_minute=1000)
    cuts_per_session = CUTS // SESSIONS
    async with running_server(settings.replace(port=0)) as a, running_server(settings.replace(port=0)) as b:
        urls = [a.ws_url, b.ws_url]
        started = time.monotonic()

        refused = {"hellos": 0}

        async def session(n: int) -> tuple[ChatClient, list[str], int]:
            rng = random.Random(n)
            client = ChatClient(rng.choice(urls), make_token())
            await client.connect()
            answers: list[str] = []
            cuts = 0
            while cuts < cuts_per_session:
                await client.ask(f"question {len(answers)} of session {n}")
                while True:
                    done = None
                    for _ in range(rng.randint(1, 6)):
                        frame = await client.recv(30)
                        if frame["type"] == "done":
                            done = frame
                            break
                    if done is not None:
                        answers.append(done["message_id"])
                        break
                    await client.abort()  # a cut in the middle of the answer
                    cuts += 1
                    client.ws_url = rng.choice(urls)
                    # a busy replica may answer "try again" (1013), as to any client: the widget retries
                    refused["hellos"] += (await client.resume_retrying(timeout=60))[1]
            await client.close()
            return client, answers, cuts

        results = await asyncio.gather(*(session(n) for n in range(SESSIONS)))
        elapsed = time.monotonic() - started
    total_cuts = sum(cuts for _, _, cuts in results)
    lost = doubled = 0
    for client, answers, _ in results:
        seqs = [f["seq"] for f in client.frames if f.get("seq") is not None]
        expected = list(range(1, len(seqs) + 1))
        lost += len(set(expected) - set(seqs))
        doubled += len(seqs) - len(set(seqs))
        for message_id in answers:
            assert client.answer_text(message_id) == ANSWER
        assert seqs == expected
    assert total_cuts >= CUTS
    record_figures("connection_cuts", {
        "sessions": SESSIONS, "cuts": total_cuts, "answers": sum(len(a) for _, a, _ in results),
        "frames_checked": sum(len(c.frames) for c, _, _ in results), "frames_lost": lost, "frames_doubled": doubled,
        "seconds": round(elapsed, 1), "hellos_refused_try_again": refused["hellos"],
    })
