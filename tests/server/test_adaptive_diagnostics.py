"""Diagnostics adapt to each outcome, over the real WebSocket: without a model (the manual's next
cause, steps depending on one the user cannot do skipped, a retrieval-only follow-up in the user's
language retrieving with their problem) and with one (the next step planned with the outcome, as
structured output); every step and answer ends up in the ticket."""

from __future__ import annotations

import json

import asyncpg
import pytest

from server.engine.i18n import t
from testkit.wsclient import ChatClient

from .test_engine import engine_settings, shared_data, upload_manual  # noqa: F401  (fixtures and helper)

pytestmark = pytest.mark.timeout(600)

PROBLEM_TR = "Fırçalar durdu, E04 hatası var ve kırmızı LED yanıp sönüyor"


async def _ticket_steps(database_url: str) -> list[dict]:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT snapshot FROM escalations ORDER BY id DESC LIMIT 1")
    finally:
        await conn.close()
    assert row is not None
    snapshot = row["snapshot"] if isinstance(row["snapshot"], dict) else json.loads(row["snapshot"])
    return snapshot["steps"]


async def test_without_a_model_cannot_do_skips_dependents_and_the_follow_up_is_in_the_user_language(
        engine_settings, running_server, make_token, database_url):  # noqa: F811
    async with running_server(engine_settings(openai_model="", openai_fallback_model="",
                                              escalate_after_failed_steps=5)) as srv:
        await upload_manual(srv, make_token(role="admin"))
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask(PROBLEM_TR)
        first = await client.until("step")
        done = await client.until("done")
        assert done["mode"] == "retrieval_only" and done["lang"] == "tr"
        total = first["total"]
        assert total >= 3
        # the user cannot do the first step of the procedure: its later steps are skipped too
        step = first
        outcomes = []
        while True:
            outcome = "cannot_do" if "Stop the machine" in step["text"] else "not_fixed"
            outcomes.append((step["text"], outcome))
            await client.send({"type": "step_outcome", "step_id": step["step_id"], "outcome": outcome,
                               "comment": "makinede durdurma düğmesi yok" if outcome == "cannot_do" else None})
            result = await client.until("step_result", step_id=step["step_id"])
            if result["state"] == "exhausted":
                break
            step = await client.until("step")
            assert "Remove netting" not in step["text"] or outcome != "cannot_do"
        assert any(o == "cannot_do" for _, o in outcomes)
        assert len(outcomes) < total  # dependent steps were never proposed
        offer = await client.until("escalation_offer")
        assert offer["reason"] == "failed_steps"
        # the follow-up: retrieval-only, in Turkish, told what was tried
        followup = await client.until("done")
        await client.send({"type": "escalate", "reason": "yardım"})
        await client.until("escalated")
        await client.close()
    assert followup["mode"] == "retrieval_only" and followup["lang"] == "tr"
    steps = await _ticket_steps(database_url)
    cannot = [s for s in steps if s["outcome"] == "cannot_do"]
    assert cannot and cannot[0]["comment"] == "makinede durdurma düğmesi yok"
    assert any(s.get("skipped") for s in steps)
    assert [s["text"] for s in steps if s["outcome"]] == [text for text, _ in outcomes]


async def test_with_a_model_the_next_step_is_planned_with_the_outcome(
        engine_settings, llm_server, running_server, make_token, database_url):  # noqa: F811
    answer = ("The brush motor is overloaded [1].\n\n1. Remove netting tangled around the brush heads [1].\n"
              "2. Check the brush motor fuse F2 [1].\n")
    plan = json.dumps({"action": "step", "step": "Fırça motoru sigortası F2'yi kontrol edin ve atmışsa değiştirin.",
                       "passage": 1})
    llm_server.llm.push({"kind": "stream", "text": answer}, {"kind": "stream", "text": plan})
    async with running_server(engine_settings(escalate_after_failed_steps=5)) as srv:
        await upload_manual(srv, make_token(role="admin"))
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask(PROBLEM_TR)
        first = await client.until("step")
        await client.until("done")
        await client.send({"type": "step_outcome", "step_id": first["step_id"], "outcome": "cannot_do",
                           "comment": "fırçalara ulaşamıyorum"})
        planned = await client.until("step")
        await client.send({"type": "escalate", "reason": ""})
        await client.until("escalated")
        await client.close()
    assert planned["text"] == "Fırça motoru sigortası F2'yi kontrol edin ve atmışsa değiştirin."
    assert planned["index"] == 2 and planned["citation"] is not None
    request = llm_server.llm.chat_requests()[-1]
    assert request["response_format"]["type"] == "json_schema"
    system = request["messages"][0]["content"]
    assert "Write the step in Turkish" in system and "fırçalara ulaşamıyorum" in system
    assert PROBLEM_TR in system and "the user could not do this" in system
    steps = await _ticket_steps(database_url)
    assert [s["text"] for s in steps][:2] == ["Remove netting tangled around the brush heads [1].", planned["text"]]
    assert steps[0]["comment"] == "fırçalara ulaşamıyorum"


def test_the_follow_up_request_exists_in_every_language() -> None:
    assert t("followup_request", "tr") != t("followup_request", "en")


async def test_while_the_next_step_is_planned_the_socket_keeps_answering(
        engine_settings, llm_server, running_server, make_token):  # noqa: F811
    """Planning waits on the model (up to LLM_TIMEOUT_SECONDS); ping and cancel must not wait behind it."""
    answer = "The brush motor is overloaded [1].\n\n1. Remove netting around the brush heads [1].\n2. Check fuse F2 [1].\n"
    plan = json.dumps({"action": "step", "step": "Check the brush motor fuse F2.", "passage": 1})
    llm_server.llm.push({"kind": "stream", "text": answer}, {"kind": "stream", "text": plan, "ttft": 3.0})
    async with running_server(engine_settings(escalate_after_failed_steps=5, llm_timeout_seconds=10)) as srv:
        await upload_manual(srv, make_token(role="admin"))
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("The brushes stopped and the red LED blinks")
        first = await client.until("step")
        await client.until("done")
        await client.send({"type": "step_outcome", "step_id": first["step_id"], "outcome": "not_fixed"})
        await client.send({"type": "ping"})
        await client.until("pong", timeout=2.5)  # the plan is still 3 s away
        assert not [f for f in client.frames if f["type"] == "step_result"]
        planned = await client.until("step", timeout=20)
        await client.close()
    assert planned["text"] == "Check the brush motor fuse F2."
    results = [f for f in client.frames if f["type"] == "step_result"]
    assert [r["step_id"] for r in results] == [first["step_id"]]
