"""Handover to a person: an agent takes the ticket, the assistant is silent, the agent hands back or closes;
the live queue; nobody taking the ticket in time; outcomes, ratings and authors kept with the messages."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from server.chat.sessions import stream_key
from testkit.wsclient import ChatClient

from .helpers import bearer, eventually, fetch


async def _escalated(srv: Any, operator: str, llm_server: Any, question: str = "The winch makes a grinding noise"
                     ) -> tuple[ChatClient, dict[str, Any]]:
    llm_server.llm.set_default({"kind": "stream", "text": "Check the winch brake.", "interval": 0.005})
    client = ChatClient(srv.ws_url, operator)
    await client.connect(machine_id="AB-2002")
    await client.ask(question)
    await client.until("done")
    await client.send({"type": "escalate", "reason": "grinding gets worse"})
    return client, await client.until("escalated")


async def _queue_events(http: httpx.AsyncClient, url: str, token: str, out: list[dict[str, Any]],
                        ready: asyncio.Event) -> None:
    """Follow the support queue's event stream, appending each ticket event to ``out``."""
    async with http.stream("GET", f"{url}/api/escalations/events", headers=bearer(token), timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        kind = ""
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
                if kind == "ready":
                    ready.set()
            elif line.startswith("data: ") and kind == "ticket":
                out.append(json.loads(line[6:]))


def _seen(events: list[dict[str, Any]], kind: str) -> Any:
    async def check() -> list[dict[str, Any]]:
        return [e for e in events if e["event"] == kind]
    return check


async def test_claim_silences_the_assistant_and_hand_back_restores_it(esc_settings, llm_server, running_server,
                                                                       make_token, database_url):
    operator = make_token("op-h1", name="Nikos", lang="el", machines=["AB-2002"])
    support = make_token("sup-h1", role="support", name="Maria")
    other = make_token("sup-h2", role="support", name="Petter")
    async with running_server(esc_settings()) as srv, httpx.AsyncClient(timeout=20) as http:
        events: list[dict[str, Any]] = []
        ready = asyncio.Event()
        follower = asyncio.create_task(_queue_events(http, srv.url, support, events, ready))
        try:
            await asyncio.wait_for(ready.wait(), 20)
            # an idle stream outlives the Redis socket time-out (5 s): each read blocks for less than that
            await asyncio.sleep(6)
            assert not follower.done()
            client, escalated = await _escalated(srv, operator, llm_server, "Το βαρούλκο κάνει θόρυβο τριβής")
            tid = escalated["ticket_id"]
            created = await eventually(_seen(events, "created"), what="created event")
            assert created[0]["ticket"]["id"] == tid and created[0]["ticket"]["user_name"] == "Nikos"

            # the agent's console follows the session over the same hub, with a support token
            agent = ChatClient(srv.ws_url, support)
            await agent.connect(session_id=client.session_id, last_seq=0)

            r = await http.post(f"{srv.url}/api/escalations/{tid}/claim", headers=bearer(support))
            assert r.status_code == 200, r.text
            joined = await client.until("handover")
            assert joined["event"] == "joined" and joined["mode"] == "human" and joined["agent"] == "Maria"
            assert joined["text"] == "Ο/Η Maria από την υποστήριξη συμμετέχει πλέον στη συνομιλία."
            await eventually(_seen(events, "claimed"), what="claimed event")

            # another agent cannot take it nor hand it back
            r = await http.post(f"{srv.url}/api/escalations/{tid}/claim", headers=bearer(other))
            assert r.status_code == 409 and r.json()["error"]["code"] == "escalation_taken"
            r = await http.post(f"{srv.url}/api/escalations/{tid}/release", headers=bearer(other))
            assert r.status_code == 409

            # typing reaches the user; an operator may not send typing
            await agent.send({"type": "typing", "active": True})
            typing = await client.until("agent_typing")
            assert typing["active"] is True and typing["agent"] == "Maria" and "Maria" in typing["text"]
            await client.send({"type": "typing", "active": True})
            refused = await client.until("error")
            assert refused["code"] == "typing_forbidden"

            # in human mode the user's message reaches the agent live and the assistant stays silent
            calls = len(llm_server.llm.requests)
            await client.ask("Ναι, σταμάτησα το βαρούλκο")
            # the agent's socket replays the session from the start, then gets this message live
            seen = await agent.until("user_message", text="Ναι, σταμάτησα το βαρούλκο")
            assert seen["seq"] > joined["seq"]
            r = await http.post(f"{srv.url}/api/escalations/{tid}/reply", headers=bearer(support),
                                json={"text": "Thank you, a technician is on the way."})
            assert r.status_code == 201
            reply = await client.until("support_message")
            assert reply["agent"] == "Maria"
            kinds = [f["type"] for f in client.frames if f.get("seq", 0) > joined["seq"]]
            assert "delta" not in kinds and "done" not in kinds
            assert len(llm_server.llm.requests) == calls

            # the record: the support message with its author, for any replica and device
            history = (await http.get(f"{srv.url}/api/sessions/{client.session_id}", headers=bearer(operator))).json()
            support_msgs = [m for m in history["messages"] if m["role"] == "support"]
            assert [(m["author"], m["text"]) for m in support_msgs] == [("Maria", "Thank you, a technician is on the way.")]
            assert history["messages"][-2]["role"] == "user"

            # hand back: the assistant answers again
            r = await http.post(f"{srv.url}/api/escalations/{tid}/release", headers=bearer(support))
            assert r.status_code == 200, r.text
            back = await client.until("handover", event="released")
            assert back["mode"] == "assistant"
            await client.ask("Πώς ελέγχω το φρένο;")
            done = await client.until("done")
            assert done["status"] == "complete"
            assert len(llm_server.llm.requests) > calls
            await eventually(_seen(events, "released"), what="released event")

            # close: the conversation is read-only
            await http.post(f"{srv.url}/api/escalations/{tid}/claim", headers=bearer(support))
            r = await http.post(f"{srv.url}/api/escalations/{tid}/close", headers=bearer(support))
            assert r.status_code == 200, r.text
            closed = await client.until("handover", event="closed")
            assert closed["mode"] == "assistant"
            cid = await client.ask("Άλλη μια ερώτηση")
            error = await client.until("error", client_id=cid)
            assert error["code"] == "session_closed"
            [row] = await fetch(database_url, "SELECT status FROM sessions WHERE id = $1", client.session_id)
            assert row["status"] == "closed"
            r = await http.post(f"{srv.url}/api/escalations/{tid}/claim", headers=bearer(support))
            assert r.status_code == 409 and r.json()["error"]["code"] == "escalation_closed"
            r = await http.post(f"{srv.url}/api/escalations/424242/claim", headers=bearer(support))
            assert r.status_code == 404
            r = await http.post(f"{srv.url}/api/escalations/{tid}/claim", headers=bearer(operator))
            assert r.status_code == 403
            await client.close()
            await agent.close()
        finally:
            follower.cancel()


async def test_nobody_claims_in_time_the_user_is_told_with_contacts(esc_settings, llm_server, running_server,
                                                                     make_token):
    operator = make_token("op-h3", name="Ana", lang="es", machines=["AB-2002"])
    async with running_server(esc_settings(handover_claim_timeout_seconds=1.0, support_email="help@abparts.test",
                                           support_phone="+34 900 000 000")) as srv:
        client, escalated = await _escalated(srv, operator, llm_server, "El cabrestante hace un ruido de roce")
        notice = await client.until("handover", timeout=30)
        assert notice["event"] == "unclaimed" and notice["mode"] == "assistant"
        assert escalated["ticket_number"] in notice["text"] and "help@abparts.test" in notice["text"]
        assert notice["text"].startswith("Todavía no hay ningún técnico de soporte libre")
        assert notice["contact"] == {"email": "help@abparts.test", "phone": "+34 900 000 000"}
        # meanwhile the assistant keeps answering
        await client.ask("¿Qué hago mientras tanto?")
        done = await client.until("done")
        assert done["status"] == "complete"
        # told once only
        await asyncio.sleep(2.5)
        assert [f for f in client.frames if f["type"] == "handover"] == [notice]
        await client.close()
        # the console still reads the ticket, with when the user was told
        async with httpx.AsyncClient(timeout=20) as http:
            r = await http.get(f"{srv.url}/api/escalations/{escalated['ticket_id']}",
                               headers=bearer(make_token("sup-h3", role="support")))
            assert r.status_code == 200, r.text
            assert r.json()["unclaimed_notice_at"] and r.json()["claimed_at"] is None


async def test_outcomes_ratings_and_resolution_come_back_on_another_device(redis_client, esc_settings, llm_server,
                                                                            running_server, make_token):
    steps_text = "1. Switch the machine off.\n2. Check the brake pads.\n3. Replace the fuse."
    llm_server.llm.set_default({"kind": "stream", "text": steps_text, "interval": 0.002})
    operator = make_token("op-h4", name="Kari", machines=["AB-2002"])
    async with running_server(esc_settings()) as srv, httpx.AsyncClient(timeout=20) as http:
        client = ChatClient(srv.ws_url, operator)
        await client.connect(machine_id="AB-2002")
        await client.ask("The brushes stop")
        step = await client.until("step")  # the first step comes before the answer's done frame
        done = await client.until("done")
        await client.send({"type": "step_outcome", "step_id": step["step_id"], "outcome": "not_fixed"})
        await client.until("step_result")
        await client.send({"type": "feedback", "message_id": done["message_id"], "rating": "up"})
        await client.until("feedback_recorded")
        await client.send({"type": "resolve", "resolved": True})
        await client.until("resolved")
        await client.close()

        listing = (await http.get(f"{srv.url}/api/sessions", headers=bearer(operator))).json()["sessions"]
        assert [(s["id"], s["status"], s["first_question"]) for s in listing] == [
            (client.session_id, "resolved", "The brushes stop")]
        record = (await http.get(f"{srv.url}/api/sessions/{client.session_id}", headers=bearer(operator))).json()
        answer = [m for m in record["messages"] if m["id"] == done["message_id"]][0]
        assert answer["feedback"] == "up"
        assert answer["steps"][0]["outcome"] == "not_fixed" and answer["steps"][1]["outcome"] is None
        assert record["status"] == "resolved"

        # another device after Redis lost the frames: the history frame comes from the record, with all of it
        await redis_client.delete(stream_key(client.session_id))
        other = ChatClient(srv.ws_url, operator)
        await other.connect(session_id=client.session_id, last_seq=0)
        history = await other.until("history")
        assert history["status"] == "resolved"
        replayed = [m for m in history["messages"] if m["id"] == done["message_id"]][0]
        assert replayed["feedback"] == "up" and replayed["steps"][0]["outcome"] == "not_fixed"
        await other.close()


MANUAL = b"""# AutoBoss V4 service manual

## Winch

### Winch makes a grinding noise

1. Stop the winch and switch the machine off.
2. Check the winch brake pads for wear.
3. Grease the winch bearings.
"""


async def test_without_a_model_the_answer_says_it_comes_straight_from_the_manuals(esc_settings, running_server,
                                                                                   make_token):
    admin = make_token("adm-h5", role="admin")
    async with running_server(esc_settings(openai_model="", openai_base_url="", require_grounding=False)) as srv, \
            httpx.AsyncClient(timeout=20) as http:
        r = await http.post(f"{srv.url}/api/kb/documents", headers=bearer(admin),
                            files={"file": ("v4.md", MANUAL, "text/markdown")}, data={"model": "AutoBoss V4", "lang": "en"})
        assert r.status_code in (200, 202), r.text
        doc = r.json()["id"]

        async def ready() -> bool:
            d = (await http.get(f"{srv.url}/api/kb/documents/{doc}", headers=bearer(admin))).json()
            assert d["status"] != "failed", d
            return d["status"] == "ready"

        await eventually(ready, within=120, what="the manual indexed")
        client = ChatClient(srv.ws_url, make_token("op-h5"))
        await client.connect()
        await client.ask("The winch makes a grinding noise")
        done = await client.until("done", timeout=60)
        text = client.answer_text(done["message_id"])
        assert done["mode"] == "retrieval_only" and done["usage"]["reason"] == "not_configured"
        assert text.startswith("*No AI model is configured for this assistant, so this answer comes straight from the manuals:*")
        assert "not available right now" not in text and "brake pads" in text
        await client.close()


async def test_while_manuals_are_indexed_the_user_is_told_so_with_the_progress(esc_settings, running_server,
                                                                              make_token, database_url):
    async with running_server(esc_settings(require_grounding=True)) as srv:
        # a manual waiting to be indexed (as right after the first start, before the worker reaches it)
        await fetch(database_url, """WITH d AS (INSERT INTO kb_documents (title, filename) VALUES ('V4 manual', 'v4.md')
                                                RETURNING id)
                                     INSERT INTO kb_versions (document_id, sha256, content_type, byte_size, storage_key, title)
                                     SELECT id, 'x', 'text/markdown', 1, 'nowhere', 'V4 manual' FROM d RETURNING id""")
        client = ChatClient(srv.ws_url, make_token("op-h6", lang="es"))
        await client.connect()
        await client.ask("El cabrestante hace un ruido de roce")
        done = await client.until("done", timeout=60)
        text = client.answer_text(done["message_id"])
        assert done["mode"] == "indexing"
        assert text == ("Los manuales todavía se están indexando (0 de 1 listos), así que aún no puedo responder a "
                        "partir de ellos. Vuelva a preguntar en un minuto.")
        assert not [f for f in client.frames if f["type"] == "escalation_offer"]
        await client.close()
