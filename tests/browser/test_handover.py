"""Handover in Chromium, two browser contexts: the user in the widget, an agent in the support console.

A full escalation, the ticket pushed into the console's queue, the agent taking it (the user sees who
joined and the agent typing), a live exchange while the assistant is silent, the hand-back, and the
assistant answering again while the console streams that answer live.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from .helpers import TIMEOUT, answers, ask, escalate, finished_answer, open_widget

pytestmark = pytest.mark.browser


async def test_agent_takes_the_ticket_talks_live_and_hands_back(server: Any, llm_server: Any, new_page: Any,
                                                                  shot: Any) -> None:
    llm_server.llm.set_default({"kind": "stream", "text": "Check the winch brake first.", "ttft": 0, "interval": 0})
    # the agent's console is open before the ticket exists: the ticket must be pushed into its queue
    console = await new_page(width=1280, height=900)
    await console.goto(server.url + "/admin#escalations")
    await console.get_by_role("button", name="Use a development admin token").click()
    await console.get_by_role("tab", name="Escalations").click()
    await expect(console.locator("#esc-live")).to_have_text("Live", timeout=TIMEOUT)

    user = await new_page()
    await open_widget(user, server.url)
    await ask(user, "The winch makes a grinding noise")
    await finished_answer(user)
    _, ticket = await escalate(user)
    await shot(user, "1-escalated")

    item = console.locator(f"#esc-list .esc[data-ticket='{ticket}']")
    await expect(item).to_have_count(1, timeout=TIMEOUT)  # pushed, no reload
    await expect(item).to_have_class(re.compile(r"\bfresh\b"))
    await shot(console, "2-queue-pushed")
    await item.click()
    transcript = console.locator("#esc-detail .transcript")
    await expect(transcript).to_contain_text("grinding noise", timeout=TIMEOUT)
    await expect(transcript).to_contain_text("Check the winch brake first.")

    await console.get_by_role("button", name="Take the conversation").click()
    joined = user.locator(".sys.handover[data-event='joined']")
    await expect(joined).to_have_text("Demo Admin from support has joined the conversation.", timeout=TIMEOUT)
    await expect(console.locator("#esc-controls")).to_contain_text("the assistant is silent")
    await expect(item.locator(".badge")).to_have_text("taken · Demo Admin", timeout=TIMEOUT)

    # typing indicator, then the reply, both live
    await console.locator("#reply-text").press_sequentially("Please stop the winch now.")
    typing = user.locator(".agent-typing")
    await expect(typing).to_be_visible(timeout=TIMEOUT)
    await expect(typing).to_contain_text("Demo Admin is typing")
    await shot(user, "3-agent-joined-typing")
    await console.get_by_role("button", name="Send reply").click()
    await expect(user.locator(".msg.agent")).to_contain_text("Please stop the winch now.", timeout=TIMEOUT)
    await expect(user.locator(".msg.agent .who")).to_have_text("Demo Admin")
    await expect(typing).to_be_hidden()

    # the user's answer reaches the agent live; the assistant stays silent
    chat_calls = len(llm_server.llm.chat_requests())
    await ask(user, "Stopped it. The brake pads look thin.")
    await expect(transcript.locator(".tmsg.user", has_text="The brake pads look thin.")).to_have_count(1, timeout=TIMEOUT)
    await console.locator("#reply-text").fill("Thanks, order part 4411 and replace the pads.")
    await console.get_by_role("button", name="Send reply").click()
    await expect(user.locator(".msg.agent").last).to_contain_text("order part 4411", timeout=TIMEOUT)
    await expect(answers(user)).to_have_count(1)
    assert len(llm_server.llm.chat_requests()) == chat_calls
    await shot(user, "4-live-exchange")
    await shot(console, "5-console-transcript")

    # hand back: the assistant answers again, and the console sees that answer while it is being written
    llm_server.llm.set_default({"kind": "stream", "text": " ".join(f"step{i}" for i in range(120)), "ttft": 0,
                                "interval": 0.05})
    await console.get_by_role("button", name="Hand back to the assistant").click()
    released = user.locator(".sys.handover[data-event='released']")
    await expect(released).to_have_text("Demo Admin has handed the conversation back to the assistant.", timeout=TIMEOUT)
    await ask(user, "How do I replace the pads?")
    live = transcript.locator(".tmsg.assistant.live")
    await expect(live).to_have_count(1, timeout=TIMEOUT)
    await expect(live).to_contain_text("step3", timeout=TIMEOUT)
    await shot(console, "6-console-answer-streaming")
    await finished_answer(user, 1)
    await expect(live).to_have_count(0, timeout=TIMEOUT)
    await expect(transcript.locator(".tmsg.assistant").last).to_contain_text("step119")
    await expect(answers(user)).to_have_count(2)
    await shot(user, "7-assistant-again")
    assert user.errors == [] and console.errors == []  # type: ignore[attr-defined]


async def test_nobody_takes_it_in_time_then_the_agent_closes_the_conversation(widget_settings: Any,
                                                                               running_server: Any, new_page: Any,
                                                                               shot: Any) -> None:
    async with running_server(widget_settings(handover_claim_timeout_seconds=1.0)) as srv:
        user = await new_page()
        await open_widget(user, srv.url)
        await ask(user, "The winch makes a grinding noise")
        await finished_answer(user)
        await user.locator("button.human").click()
        notice = user.locator(".sys.handover[data-event='unclaimed']")
        await expect(notice).to_contain_text("No support technician is free yet", timeout=TIMEOUT)
        await expect(notice).to_contain_text("support@abparts.local")
        await expect(user.locator(".contacts a[href^='mailto:']")).to_have_count(1)
        await shot(user, "1-unclaimed")
        await ask(user, "What can I check meanwhile?")  # the assistant keeps helping
        await finished_answer(user, 1)

        console = await new_page(width=1280, height=900)
        await console.goto(srv.url + "/admin#escalations")
        await console.get_by_role("button", name="Use a development admin token").click()
        await console.get_by_role("tab", name="Escalations").click()
        await console.locator("#esc-list .esc").first.click()
        await expect(console.locator("#esc-detail .transcript")).to_contain_text("grinding noise", timeout=TIMEOUT)
        await console.get_by_role("button", name="Take the conversation").click()
        await expect(user.locator(".sys.handover[data-event='joined']")).to_have_count(1, timeout=TIMEOUT)
        await console.get_by_role("button", name="Close the conversation").click()
        closed = user.locator(".sys.handover[data-event='closed']")
        await expect(closed).to_have_text("Demo Admin has closed this conversation. You can start a new one at any time.",
                                          timeout=TIMEOUT)
        await expect(user.locator("textarea")).to_be_disabled()
        await expect(user.locator(".ro")).to_be_visible()
        await expect(console.locator("#esc-controls")).to_contain_text("Closed", timeout=TIMEOUT)
        await shot(user, "2-closed-read-only")
        await shot(console, "3-console-closed")
        # a new conversation is writable again
        await user.locator(".ib.new").click()
        await expect(user.locator("textarea")).to_be_enabled()
