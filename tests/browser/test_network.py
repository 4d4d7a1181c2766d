"""The widget on a bad network: drops mid-answer, offline queue, reloads, messages during an answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import WebSocketRoute, expect

from testkit.scripted_llm import DEFAULT_TEXT

from .helpers import TIMEOUT, answers, ask, finished_answer, open_widget, shadow_eval

pytestmark = pytest.mark.browser


async def test_socket_dropped_mid_answer_completes_without_lost_or_doubled_text(
        server: Any, llm_server: Any, new_page: Any, shot: Any) -> None:
    words = [f"word{i:02d}" for i in range(60)]
    text = " ".join(words)
    llm_server.llm.set_default({"kind": "stream", "text": text, "ttft": 0.0, "interval": 0.04})
    page = await new_page()
    state: dict[str, Any] = {"connections": 0, "deltas": 0, "hellos": [], "dropped": False}

    async def route(ws: WebSocketRoute) -> None:
        state["connections"] += 1
        first = state["connections"] == 1
        upstream = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            if isinstance(message, str) and '"hello"' in message:
                state["hellos"].append(json.loads(message))
            upstream.send(message)

        async def from_server(message: str | bytes) -> None:
            if state["dropped"] and first:
                return
            ws.send(message)
            if first and isinstance(message, str) and '"delta"' in message:
                state["deltas"] += 1
                if state["deltas"] == 8:  # the network goes away in the middle of the answer
                    state["dropped"] = True
                    await ws.close(code=4000, reason="network drop")
                    await upstream.close()

        ws.on_message(from_page)
        upstream.on_message(from_server)

    await page.route_web_socket("**/ws", route)
    await open_widget(page, server.url)
    await ask(page, "tell me sixty words")
    answer = await finished_answer(page)
    await expect(answer.locator(".md")).to_have_text(text)
    assert state["dropped"] and state["connections"] >= 2
    resume = state["hellos"][-1]
    assert state["hellos"][0]["session_id"] is None and resume["session_id"]
    stored = await page.evaluate("Object.keys(sessionStorage).filter(k => k.endsWith(':session')).map(k => sessionStorage[k])")
    assert stored == [json.dumps(resume["session_id"])]
    assert resume["last_seq"] >= 8
    assert len(llm_server.llm.chat_requests()) == 1  # resumed, not asked again
    await shot(page, "resumed")


async def test_offline_banner_and_queued_message(server: Any, llm_server: Any, new_page: Any, shot: Any) -> None:
    page = await new_page()
    await open_widget(page, server.url)
    await page.context.set_offline(True)
    banner = page.locator(".banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("You are offline")
    await ask(page, "Message typed while offline")
    pending = page.locator(".msg.user.pending", has_text="Message typed while offline")
    await expect(pending).to_be_visible()
    await expect(pending.locator(".meta")).to_have_text("Waiting to send…")
    stored = await page.evaluate("Object.keys(sessionStorage).filter(k => k.endsWith(':outbox')).map(k => sessionStorage[k])")
    assert len(stored) == 1 and "Message typed while offline" in stored[0]
    await shot(page, "offline")
    await page.context.set_offline(False)
    await expect(banner).to_be_hidden(timeout=TIMEOUT)
    await expect(pending).to_have_count(0, timeout=TIMEOUT)
    await finished_answer(page)
    assert await page.locator(".msg.user", has_text="Message typed while offline").count() == 1
    asked = [m["content"] for r in llm_server.llm.chat_requests() for m in r["messages"] if m["role"] == "user"]
    assert sum("Message typed while offline" in c for c in asked) >= 1
    assert len(llm_server.llm.chat_requests()) == 1
    await shot(page, "back-online")


async def test_reload_resumes_the_conversation(server: Any, new_page: Any) -> None:
    page = await new_page()
    await open_widget(page, server.url)
    await ask(page, "First question")
    await finished_answer(page)
    await page.reload()
    await expect(page.locator(".panel")).to_be_visible()  # it stays open across the reload
    await expect(page.locator(".dot.on")).to_have_count(1, timeout=TIMEOUT)
    answer = await finished_answer(page)
    await expect(answer.locator(".md")).to_have_text(DEFAULT_TEXT)
    assert await page.locator(".msg.user", has_text="First question").count() == 1
    assert await answers(page).count() == 1


async def test_message_typed_during_an_answer_is_sent_after_it(server: Any, llm_server: Any, new_page: Any) -> None:
    slow = " ".join(f"part{i}" for i in range(30))
    llm_server.llm.set_default({"kind": "stream", "text": slow, "ttft": 0.0, "interval": 0.03})
    page = await new_page()
    await open_widget(page, server.url)
    await ask(page, "first question")
    await expect(answers(page)).to_have_count(1, timeout=TIMEOUT)  # streaming has started
    await ask(page, "second question")
    await expect(answers(page)).to_have_count(2, timeout=TIMEOUT)
    await finished_answer(page, 1)
    for i in range(2):
        await expect(answers(page).nth(i).locator(".md")).to_have_text(slow)
    assert await page.locator(".msg.user.failed").count() == 0
    assert await page.locator(".msg.user.pending").count() == 0
    assert len(llm_server.llm.chat_requests()) == 2
    order = await shadow_eval(page, "return [...root.querySelectorAll('.log > .msg')].map(e => e.classList.contains('user') ? 'u' : 'a').join('');")
    assert order.endswith("uaua")


async def test_typing_indicator_while_the_model_thinks(server: Any, llm_server: Any, new_page: Any, shot: Any) -> None:
    llm_server.llm.set_default({"kind": "stream", "text": "Slow start.", "ttft": 2.5, "interval": 0.0})
    page = await new_page()
    await open_widget(page, server.url)
    await ask(page, "Why is it slow?")
    typing = page.locator(".typing")
    await expect(typing).to_be_visible(timeout=TIMEOUT)
    await expect(typing).to_contain_text("The assistant is thinking…")
    await expect(typing.get_by_role("button", name="Stop")).to_be_visible()
    await shot(page, "thinking")
    answer = await finished_answer(page)
    await expect(answer.locator(".md")).to_have_text("Slow start.")
    await expect(typing).to_be_hidden()


async def test_new_conversation_starts_a_fresh_session(server: Any, new_page: Any) -> None:
    page = await new_page()
    await open_widget(page, server.url)
    await ask(page, "Old topic")
    await finished_answer(page)
    key = "Object.keys(sessionStorage).filter(k => k.endsWith(':session')).map(k => sessionStorage[k])[0]"
    old = await page.evaluate(key)
    await page.locator("button.new").click()
    await expect(page.locator(".card.pick")).to_have_count(1, timeout=TIMEOUT)  # the new session asks again
    await expect(page.locator(".msg.user")).to_have_count(0)
    await expect(page.locator(".dot.on")).to_have_count(1, timeout=TIMEOUT)
    new = await page.evaluate(key)
    assert new and new != old


async def test_stop_button_cancels_the_answer(server: Any, llm_server: Any, new_page: Any) -> None:
    llm_server.llm.set_default({"kind": "stream", "text": " ".join(f"w{i}" for i in range(200)), "ttft": 0.0,
                                "interval": 0.05})
    page = await new_page()
    await open_widget(page, server.url)
    await ask(page, "A long answer please")
    answer = answers(page).last
    await expect(answer.locator(".md")).to_contain_text("w5", timeout=TIMEOUT)
    await page.locator(".typing").get_by_role("button", name="Stop").click()
    await expect(answer).to_have_attribute("aria-busy", "false", timeout=TIMEOUT)
    await expect(answer.locator("div.note")).to_have_text("Answer stopped.")
    assert "w199" not in (await answer.locator(".md").text_content() or "")


async def test_reload_after_the_replay_buffer_moved_on_renders_the_stored_history(
        widget_settings: Any, running_server: Any, new_page: Any, llm_server: Any) -> None:
    # Redis trims the stream approximately (whole nodes of ~100 entries): well over 100 frames are needed
    text = " ".join(f"chunk{i}" for i in range(160))
    llm_server.llm.set_default({"kind": "stream", "text": text, "ttft": 0.0, "interval": 0.01})
    async with running_server(widget_settings(replay_max_frames=5)) as srv:  # the answer's frames do not fit
        page = await new_page()
        await open_widget(page, srv.url)
        await ask(page, "Long answer")
        await finished_answer(page)
        await page.reload()
        answer = await finished_answer(page)
        await expect(answer).to_have_attribute("data-history", "true", timeout=TIMEOUT)
        await expect(answer.locator(".md")).to_have_text(text)
        await expect(page.locator(".msg.user", has_text="Long answer")).to_have_count(1)
        await expect(answers(page)).to_have_count(1)
