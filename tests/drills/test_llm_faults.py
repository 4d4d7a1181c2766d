"""Drill: the LLM provider misbehaves turn after turn (429 storms, requests that never answer, a slow first
token, connection resets mid-stream, streams that stall without closing (silent, or sending only
keep-alive comments), an error event or a garbled event in the stream, before the first token or after it),
on each HTTP transport the service can use under the ``openai`` client (``LLM_HTTP_CLIENT``).

What must hold: every turn ends (answer, fallback model, or retrieval-only answer; or failed with the
partial answer when the stream broke after it started), within the answer deadline, and the ``done``
frame says which: ``mode`` (llm / retrieval_only), ``usage.fallback``, ``usage.reason``, ``error_code``.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from testkit.wsclient import ChatClient

pytestmark = pytest.mark.slow

ANSWER = " ".join(f"tok{i}" for i in range(30))
ROUNDS = 3
FIRST_TOKEN, INTER_TOKEN, DEADLINE = 1.5, 1.5, 6.0


def _script(kind: str) -> list[dict[str, Any]]:
    """The provider's behaviour for one turn (entries are taken in order, per model)."""
    tries = 3  # llm_max_retries=2: three attempts per model
    if kind == "storm_primary":
        return [{"kind": "error", "status": 429, "model": "primary"}] * tries
    if kind == "storm_all":
        return [{"kind": "error", "status": 429, "model": m} for m in ("primary", "fallback") for _ in range(tries)]
    if kind == "server_errors":
        return [{"kind": "error", "status": 503, "model": "primary"}, {"kind": "error", "status": 500, "model": "primary"}]
    if kind == "hang_all":
        return [{"kind": "hang", "model": m} for m in ("primary", "fallback") for _ in range(tries)]
    if kind == "slow_first_token":
        return [{"kind": "stream", "text": ANSWER, "ttft": FIRST_TOKEN + 1.5, "model": "primary"}]
    if kind == "reset_mid_stream":
        return [{"kind": "cut", "text": ANSWER, "after": 4}]
    if kind == "stall_mid_stream":
        return [{"kind": "stall", "text": ANSWER, "after": 4}]
    if kind == "keepalive_mid_stream":  # the bytes keep the connection's reads alive, but no token comes
        return [{"kind": "keepalive", "text": ANSWER, "after": 4, "every": 0.2}]
    if kind == "error_event_mid_stream":
        return [{"kind": "garble", "text": ANSWER, "after": 4, "event": "error"}]
    if kind == "junk_event_mid_stream":
        return [{"kind": "garble", "text": ANSWER, "after": 4, "event": "junk"}]
    if kind == "error_event_first":  # no token yet: worth another attempt, then the fallback model
        return [{"kind": "garble", "text": ANSWER, "after": 0, "event": e, "model": "primary"}
                for e in ("error", "junk", "error")]
    raise AssertionError(kind)


# what the user must see for each: (status, mode, a check of the done frame)
EXPECTED = {
    "storm_primary": ("complete", "llm", lambda d: d["usage"].get("fallback") is True),
    "storm_all": ("complete", "retrieval_only", lambda d: bool(d["usage"].get("reason"))),
    "server_errors": ("complete", "llm", lambda d: d["usage"].get("fallback") is False),
    "hang_all": ("complete", "retrieval_only", lambda d: bool(d["usage"].get("reason"))),
    "slow_first_token": ("complete", "llm", lambda d: True),
    "reset_mid_stream": ("failed", "llm", lambda d: d.get("error_code") == "llm_interrupted"),
    "stall_mid_stream": ("failed", "llm", lambda d: d.get("error_code") == "llm_interrupted"),
    "keepalive_mid_stream": ("failed", "llm", lambda d: d.get("error_code") == "llm_interrupted"),
    "error_event_mid_stream": ("failed", "llm", lambda d: d.get("error_code") == "llm_interrupted"),
    "junk_event_mid_stream": ("failed", "llm", lambda d: d.get("error_code") == "llm_interrupted"),
    "error_event_first": ("complete", "llm", lambda d: d["usage"].get("fallback") is True),
}


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])  # LLM_HTTP_CLIENT: each must bound every wait alike
async def test_every_turn_ends_and_says_how_while_the_provider_misbehaves(transport, llm_settings, llm_server,
                                                                          running_server, make_token, record_figures):
    settings = llm_settings(llm_timeout_seconds=FIRST_TOKEN, llm_inter_token_timeout_seconds=INTER_TOKEN,
                            llm_answer_deadline_seconds=DEADLINE, llm_backoff_seconds=0.05, messages_per_minute=200,
                            llm_http_client=transport)
    kinds = [kind for _ in range(ROUNDS) for kind in EXPECTED]
    random.Random(11).shuffle(kinds)
    durations: dict[str, float] = {}
    async with running_server(settings) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        for kind in kinds:
            llm_server.llm.reset()
            llm_server.llm.set_default({"kind": "stream", "text": ANSWER})
            llm_server.llm.push(*_script(kind))
            started = time.monotonic()
            await client.ask(f"turn with {kind}")
            done = await client.until("done", timeout=40)  # a bound on the wait, not a measurement
            durations[kind] = max(durations.get(kind, 0.0), time.monotonic() - started)
            status, mode, check = EXPECTED[kind]
            assert (done["status"], done["mode"]) == (status, mode), (kind, done)
            assert check(done), (kind, done)
            text = client.answer_text(done["message_id"])
            if status == "failed":
                assert text.startswith("tok0 tok1 tok2 tok3"), (kind, text)  # the partial answer is kept
                errors = [f for f in client.frames if f["type"] == "error" and f.get("message_id") == done["message_id"]]
                assert errors and errors[-1]["code"] == "llm_interrupted"
            elif mode == "llm":
                assert text == ANSWER, kind
            else:
                assert text, kind  # the retrieval-only answer says it is one
        # after all that, a normal question is answered normally
        llm_server.llm.reset()
        await client.ask("and now a normal one")
        done = await client.until("done", timeout=20)
        await client.close()
    assert (done["status"], done["mode"]) == ("complete", "llm")
    record_figures(f"llm_faults_{transport}", {
        "turns": len(kinds), "kinds": sorted(EXPECTED), "longest_turn_seconds_by_kind":
        {k: round(v, 2) for k, v in sorted(durations.items())},
        "llm_timeout_seconds": FIRST_TOKEN, "llm_inter_token_timeout_seconds": INTER_TOKEN,
        "llm_answer_deadline_seconds": DEADLINE,
    })
