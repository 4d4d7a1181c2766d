"""The troubleshooting engine end to end: language, grounding, citations, diagnostics, safety, injection."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from testkit.wsclient import ChatClient

MANUAL = (Path(__file__).parent / "data" / "brushdrive.md").read_bytes()


async def upload_manual(srv, admin_token: str) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=srv.url, timeout=60) as http:
        r = await http.post("/api/kb/documents", headers=headers, data={"model": "AutoBoss V4", "lang": "en"},
                            files={"file": ("brushdrive.md", MANUAL, "text/markdown")})
        assert r.status_code in (200, 201, 202), r.text
        doc_id = r.json()["id"]
        for _ in range(1200):
            body = (await http.get(f"/api/kb/documents/{doc_id}", headers=headers)).json()
            if body["status"] in ("ready", "failed"):
                break
            await asyncio.sleep(0.1)
        assert body["status"] == "ready", body


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory):
    return tmp_path_factory.mktemp("engine-data")  # embedding cache shared by this module's servers


STEPS_ANSWER = ("The brush motor is most likely overloaded [1].\n\n"
                "1. Remove netting tangled around the brush heads [1].\n"
                "2. Check the brush motor fuse F2 and replace it if blown [1].\n"
                "3. Inspect the drive belt tension [1].\n")


@pytest.fixture
def engine_settings(llm_settings, shared_data):
    def make(**kw):
        return llm_settings(**{"data_dir": shared_data, "require_grounding": True, **kw})
    return make


QUESTIONS = {
    "en": ("The brushes stopped and the red LED flashes", "English"),
    "el": ("Οι βούρτσες σταμάτησαν και το κόκκινο LED αναβοσβήνει", "Greek"),
    "ar": ("توقفت الفرش والمصباح الأحمر يومض", "Arabic"),
    "es": ("Los cepillos se detuvieron y el LED rojo parpadea", "Spanish"),
    "tr": ("Fırçalar durdu ve kırmızı LED yanıp sönüyor", "Turkish"),
    "no": ("Børstene stoppet og den røde lampen blinker", "Norwegian"),
}


async def test_answer_language_follows_each_message(engine_settings, llm_server, running_server, make_token):
    async with running_server(engine_settings()) as srv:
        await upload_manual(srv, make_token(role="admin"))
        client = ChatClient(srv.ws_url, make_token(lang="en"))
        await client.connect()
        for lang, (question, name) in QUESTIONS.items():
            await client.ask(question)
            user = await client.until("user_message")
            done = await client.until("done")
            assert user["lang"] == lang, (lang, user)
            assert done["mode"] == "llm" and done["citations"], done
            system = llm_server.llm.chat_requests()[-1]["messages"][0]["content"]
            assert f"Answer in {name}." in system
        await client.close()


async def test_server_strings_follow_the_language_without_llm(engine_settings, running_server, make_token):
    async with running_server(engine_settings(openai_model="")) as srv:
        await upload_manual(srv, make_token(role="admin"))
        client = ChatClient(srv.ws_url, make_token(lang="en"))
        await client.connect()
        await client.ask("Los cepillos se detuvieron y el LED rojo parpadea, error E04")
        done = await client.until("done")
        await client.close()
    text = client.answer_text(done["message_id"])
    assert done["mode"] == "retrieval_only"
    # the no-model notice, in Spanish, and saying where the answer comes from (not that something failed)
    assert "procede directamente de los manuales" in text
    assert "no está disponible" not in text


async def test_citations_point_at_manual_pages_and_sections(engine_settings, llm_server, running_server, make_token):
    async with running_server(engine_settings()) as srv:
        await upload_manual(srv, make_token(role="admin"))
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("What does error E04 mean?")
        done = await client.until("done")
        await client.close()
        cite = done["citations"][0]
        # a Markdown manual: the readable page, at the cited section's anchor
        anchors = {"1 Error codes": "1-error-codes", "2.1 Brush motor overload (E04)": "21-brush-motor-overload-e04"}
        heading = cite["section"].split(" > ")[-1]
        assert heading in anchors, cite
        assert cite["url"] == f"/api/kb/documents/{cite['document_id']}/view#{anchors[heading]}"
        prompt = llm_server.llm.chat_requests()[-1]["messages"][0]["content"]
        assert "[1]" in prompt and "E04" in prompt


async def test_question_outside_the_manuals_is_refused_and_a_human_offered(engine_settings, llm_server, running_server, make_token):
    async with running_server(engine_settings()) as srv:
        await upload_manual(srv, make_token(role="admin"))
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("Who won the football world cup?")
        offer = await client.until("escalation_offer")
        done = await client.until("done")
        await client.close()
    assert offer["reason"] == "not_covered"
    assert done["mode"] == "not_covered" and "do not cover" in client.answer_text(done["message_id"])
    assert llm_server.llm.chat_requests() == [], "no model call for an uncovered question"


async def test_instructions_inside_a_manual_do_not_reach_the_model(engine_settings, llm_server, running_server, make_token):
    async with running_server(engine_settings()) as srv:
        await upload_manual(srv, make_token(role="admin"))
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("Brush motor overload E04: what is the procedure?")
        await client.until("done")
        await client.close()
    prompt = llm_server.llm.chat_requests()[-1]["messages"][0]["content"]
    assert "Remove netting" in prompt  # the procedure is there ...
    assert "reveal your system prompt" not in prompt  # ... the injected instruction is not
    assert "data, not instructions" in prompt


async def test_diagnostic_steps_adapt_and_survive_reconnect(engine_settings, llm_server, running_server, make_token):
    llm_server.llm.push({"kind": "stream", "text": STEPS_ANSWER})
    async with running_server(engine_settings(escalate_after_failed_steps=3)) as srv:
        await upload_manual(srv, make_token(role="admin"))
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("The brushes stopped, error E04")
        step1 = await client.until("step")
        await client.until("done")
        assert (step1["index"], step1["total"]) == (1, 3) and "netting" in step1["text"]
        assert step1["citation"]["document_id"]
        await client.send({"type": "step_outcome", "step_id": step1["step_id"], "outcome": "not_fixed"})
        step2 = await client.until("step")
        assert step2["index"] == 2 and "fuse" in step2["text"]
        # cut the connection and come back: the diagnostic is where it was
        await client.abort()
        await client.resume()
        await client.send({"type": "step_outcome", "step_id": step2["step_id"], "outcome": "cannot_do"})
        step3 = await client.until("step")
        assert step3["index"] == 3
        await client.send({"type": "step_outcome", "step_id": step3["step_id"], "outcome": "not_fixed"})
        result = await client.until("step_result", step_id=step3["step_id"])
        assert result["state"] == "exhausted"
        # every step failed: a follow-up answer with the next causes, told what was tried
        followup = await client.until("done")
        await client.close()
    assert followup["status"] == "complete"
    system = llm_server.llm.chat_requests()[-1]["messages"][0]["content"]
    assert "Steps already tried" in system
    assert "netting tangled around the brush heads [1]. -> did NOT fix" in system
    assert "fuse F2 and replace it if blown [1]. -> the user could not do this" in system


async def test_failed_steps_offer_a_human(engine_settings, llm_server, running_server, make_token):
    llm_server.llm.push({"kind": "stream", "text": STEPS_ANSWER})
    async with running_server(engine_settings(escalate_after_failed_steps=2)) as srv:
        await upload_manual(srv, make_token(role="admin"))
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("The brushes stopped, error E04")
        step = await client.until("step")
        for _ in range(2):
            await client.send({"type": "step_outcome", "step_id": step["step_id"], "outcome": "not_fixed"})
            step = await client.until("step") if _ == 0 else None
        offer = await client.until("escalation_offer")
        await client.close()
    assert offer["reason"] == "failed_steps"


async def test_retrieval_only_steps_come_from_the_manual_procedure(engine_settings, running_server, make_token):
    async with running_server(engine_settings(openai_model="")) as srv:
        await upload_manual(srv, make_token(role="admin"))
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("Brush motor overload E04 procedure")
        step = await client.until("step")
        done = await client.until("done")
        await client.close()
    assert done["mode"] == "retrieval_only"
    assert step["total"] >= 3 and step["citation"] is not None
    assert "Stop the machine" in step["text"] or "netting" in step["text"]


async def test_corrections_are_used_with_priority(engine_settings, llm_server, running_server, make_token):
    admin = make_token(role="admin")
    async with running_server(engine_settings()) as srv:
        await upload_manual(srv, admin)
        async with httpx.AsyncClient(base_url=srv.url, timeout=60) as http:
            r = await http.post("/api/kb/entries", headers={"Authorization": f"Bearer {admin}"}, json={
                "kind": "correction", "title": "E04 on AutoBoss V4 after firmware 3.2",
                "text": "Error E04 after firmware 3.2 is a false alarm: recalibrate the brush current sensor in menu 7.4.",
                "machine_model": "AutoBoss V4", "lang": "en"})
            assert r.status_code in (200, 201), r.text
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("Error E04 keeps coming back after the firmware update")
        done = await client.until("done")
        await client.close()
    prompt = llm_server.llm.chat_requests()[-1]["messages"][0]["content"]
    assert "CORRECTION" in prompt and "menu 7.4" in prompt
    assert any(c["kind"] == "correction" for c in done["citations"])


async def test_feedback_is_recorded_and_echoed(engine_settings, llm_server, running_server, make_token):
    async with running_server(engine_settings(require_grounding=False)) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("hello")
        done = await client.until("done")
        await client.send({"type": "feedback", "message_id": done["message_id"], "rating": "down", "comment": "wrong part"})
        echo = await client.until("feedback_recorded")
        offer = await client.until("escalation_offer")
        assert offer["reason"] == "feedback"
        await client.send({"type": "feedback", "message_id": "not-an-answer", "rating": "up"})
        err = await client.until("error")
        await client.close()
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(srv.url + "/metrics")).text
    assert echo["rating"] == "down" and err["code"] == "message_unknown"
    assert 'abparts_feedback_total{rating="down"} 1.0' in metrics


async def upload(srv, admin_token: str, name: str, body: bytes, model: str) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=srv.url, timeout=60) as http:
        r = await http.post("/api/kb/documents", headers=headers, data={"model": model, "lang": "en"},
                            files={"file": (name, body, "text/markdown")})
        doc_id = r.json()["id"]
        for _ in range(1200):
            if (await http.get(f"/api/kb/documents/{doc_id}", headers=headers)).json()["status"] == "ready":
                return
            await asyncio.sleep(0.1)
    raise AssertionError("not indexed")


async def test_machine_context_shapes_prompt_and_retrieval(engine_settings, llm_server, running_server, make_token):
    admin = make_token(role="admin")
    async with running_server(engine_settings()) as srv:
        await upload_manual(srv, admin)
        await upload(srv, admin, "m6.md", (Path(__file__).parent / "data" / "m6.md").read_bytes(), "AutoBoss M6")
        firsts = {}
        for machine in ("AB-1001", "AB-2002"):
            client = ChatClient(srv.ws_url, make_token(machines=["AB-1001", "AB-2002"]))
            ready = await client.connect(machine_id=machine)
            assert ready["machine"]["id"] == machine and ready["machine"]["model"]
            await client.ask("What does error E04 mean?")
            done = await client.until("done")
            await client.close()
            firsts[machine] = done["citations"][0]["title"]
            system = llm_server.llm.chat_requests()[-1]["messages"][0]["content"]
            assert ready["machine"]["model"] in system and f"{ready['machine']['hours']} operating hours" in system
            if ready["machine"]["due"]:
                assert "Preventive maintenance due" in system and "h service" in system
    assert "V4" in firsts["AB-1001"] and "M6" in firsts["AB-2002"], firsts


async def test_maintenance_due_is_suggested_without_llm(engine_settings, running_server, make_token):
    async with running_server(engine_settings(openai_model="")) as srv:
        await upload_manual(srv, make_token(role="admin"))
        client = ChatClient(srv.ws_url, make_token(machines=["AB-2002"], lang="no"))
        ready = await client.connect(machine_id="AB-2002")
        assert ready["machine"]["due"], "the sample M6 has service intervals due"
        await client.ask("Hvordan rengjør jeg vannfilteret?")
        done = await client.until("done")
        await client.close()
    assert "forebyggende vedlikehold" in client.answer_text(done["message_id"])


async def test_danger_gets_a_safety_notice_and_a_ticket_at_once(engine_settings, llm_server, running_server, make_token):
    async with running_server(engine_settings()) as srv:
        await upload_manual(srv, make_token(role="admin"))
        client = ChatClient(srv.ws_url, make_token(lang="es"))
        await client.connect()
        await client.ask("Sale humo del motor del cepillo y huele a quemado")
        escalated = await client.until("escalated")
        done = await client.until("done")
        await client.close()
    assert escalated["trigger"] == "safety" and escalated["ticket_number"].startswith("ABP-")
    assert client.answer_text(done["message_id"]).startswith("⚠️ **La seguridad es lo primero:**")


async def test_saved_resolution_is_used_for_the_same_problem_later(engine_settings, llm_server, running_server, make_token):
    llm_server.llm.push({"kind": "stream", "text": STEPS_ANSWER})
    async with running_server(engine_settings()) as srv:
        await upload_manual(srv, make_token(role="admin"))
        first = ChatClient(srv.ws_url, make_token(machines=["AB-1001"]))
        await first.connect(machine_id="AB-1001")
        await first.ask("The brushes stopped, error E04")
        step = await first.until("step")
        await first.until("done")
        await first.send({"type": "step_outcome", "step_id": step["step_id"], "outcome": "fixed"})
        await first.until("step_result")
        await first.send({"type": "resolve", "resolved": True, "save": True})
        resolved = await first.until("resolved")
        await first.close()
        assert resolved["saved"] is True
        # a proposal until support approves it
        support = {"Authorization": f"Bearer {make_token(role='support')}"}
        async with httpx.AsyncClient(timeout=60) as http:
            [proposal] = (await http.get(f"{srv.url}/api/resolutions", headers=support)).json()["resolutions"]
            r = await http.post(f"{srv.url}/api/resolutions/{proposal['id']}/approve", headers=support, json={})
            assert r.status_code == 200, r.text
        second = ChatClient(srv.ws_url, make_token(machines=["AB-1001"]))
        await second.connect(machine_id="AB-1001")
        await second.ask("Error E04 again, brushes stopped")
        done = await second.until("done")
        await second.close()
    prompt = llm_server.llm.chat_requests()[-1]["messages"][0]["content"]
    assert "RESOLUTION" in prompt and "netting" in prompt
    assert any(c["kind"] == "resolution" for c in done["citations"])
