"""Conversations across tabs and devices in Chromium: the list of earlier conversations, continuing the open
one from a second browser context while its answer is still being written, and a finished one reopened
read-only with its step outcomes, rating and resolution. Citation chips keep "[n]" on one line."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from server.chat.sessions import stream_key

from .helpers import TIMEOUT, answers, ask, finished_answer, open_widget, shadow_eval
from .test_admin import _admin_token, _upload_via_api

pytestmark = pytest.mark.browser

STEPS = "Try these steps:\n\n1. Check fuse F3 in the control cabinet.\n2. Clean the brush motor contacts.\n3. Replace the brush motor."
SLOW = " ".join(f"w{i}" for i in range(160))


async def test_second_device_lists_conversations_and_continues_the_live_one(redis_client: Any, server: Any,
                                                                           llm_server: Any, new_page: Any,
                                                                           shot: Any) -> None:
    llm_server.llm.set_default({"kind": "stream", "text": STEPS, "ttft": 0, "interval": 0})
    first = await new_page()
    await open_widget(first, server.url)
    # conversation 1: a step outcome, a rating, then "solved"
    await ask(first, "The brushes do not turn")
    answer = await finished_answer(first)
    await answer.locator(".step button[data-outcome='not_fixed']").first.click()
    await expect(answer.locator(".step")).to_have_count(2, timeout=TIMEOUT)
    await answer.locator(".acts .ib.up").click()
    await expect(answer).to_have_attribute("data-feedback", "up", timeout=TIMEOUT)
    await first.locator("button.solved").click()
    await expect(first.locator(".card.ok.resolved")).to_have_count(1, timeout=TIMEOUT)

    # conversation 2: its answer is still being written when the second device opens it
    await first.locator(".ib.new").click()
    await expect(first.locator(".dot.on")).to_have_count(1, timeout=TIMEOUT)
    llm_server.llm.set_default({"kind": "stream", "text": SLOW, "ttft": 0, "interval": 0.06})
    await ask(first, "The winch is slow")
    await expect(answers(first).last).to_contain_text("w3", timeout=TIMEOUT)

    second = await new_page()
    await open_widget(second, server.url)
    await second.locator(".ib.histb").click()
    items = second.locator(".hist .hi")
    await expect(items).to_have_count(2, timeout=TIMEOUT)
    await expect(items.nth(0).locator(".ht")).to_have_text("The winch is slow")
    await expect(items.nth(0).locator(".hs")).to_have_text("Open · answer being written")
    await expect(items.nth(1).locator(".ht")).to_have_text("The brushes do not turn")
    await expect(items.nth(1).locator(".hs")).to_have_text("Resolved")
    await expect(items.nth(1).locator(".hm")).to_contain_text("General question")
    await shot(second, "1-history-list")

    await items.nth(0).click()
    await expect(second.locator(".msg.user")).to_contain_text("The winch is slow", timeout=TIMEOUT)
    live = answers(second).last
    await expect(live).to_have_attribute("aria-busy", "true", timeout=TIMEOUT)  # joined while it is written
    await shot(second, "2-continued-while-streaming")
    await expect(live).to_have_attribute("aria-busy", "false", timeout=60_000)
    await expect(live).to_contain_text("w159")
    assert (await live.inner_text()).count("w42 ") == 1  # replayed once, never doubled

    # the second device continues the conversation; the first sees it live
    llm_server.llm.set_default({"kind": "stream", "text": "Grease the winch bearings.", "ttft": 0, "interval": 0})
    await expect(second.locator("textarea")).to_be_enabled()
    await ask(second, "And after that?")
    await expect(answers(second).last).to_contain_text("Grease the winch bearings.", timeout=TIMEOUT)
    await expect(first.locator(".msg.user", has_text="And after that?")).to_have_count(1, timeout=TIMEOUT)
    await expect(answers(first).last).to_contain_text("Grease the winch bearings.", timeout=TIMEOUT)

    # the finished conversation reopens read-only, with its outcome, rating and resolution, from the stored
    # record (its frames are dropped from Redis first, as after their retention)
    await second.locator(".ib.histb").click()
    await expect(items).to_have_count(2, timeout=TIMEOUT)
    resolved = second.locator(".hist .hi[data-status='resolved']")
    await redis_client.delete(stream_key(await resolved.get_attribute("data-session-id")))
    await resolved.click()
    await expect(second.locator(".msg.user")).to_contain_text("The brushes do not turn", timeout=TIMEOUT)
    old = await finished_answer(second, 0)
    await expect(old.locator(".step button[data-outcome='not_fixed'][aria-pressed='true']")).to_have_count(1)
    await expect(old.locator(".acts .ib.up")).to_have_attribute("aria-pressed", "true", timeout=TIMEOUT)
    await expect(second.locator(".card.ok.resolved")).to_have_count(1)
    await expect(second.locator("textarea")).to_be_disabled()
    await expect(second.locator(".ro")).to_have_text("This conversation is closed. Start a new conversation to ask again.")
    await shot(second, "3-reopened-read-only")
    assert first.errors == [] and second.errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [320, 390, 1280])
async def test_citation_chip_keeps_its_number_on_one_line(width: int, server: Any, llm_server: Any, new_page: Any,
                                                          shot: Any) -> None:
    await _upload_via_api(server, await _admin_token(server))
    llm_server.llm.set_default({"kind": "stream", "text": "Check the oil level first [1].", "ttft": 0, "interval": 0})
    page = await new_page(width=width, height=700)
    await open_widget(page, server.url)
    await ask(page, "Alarm E-17 pump pressure low")
    # the first search of a fresh server loads the embedder: on a busy machine that takes a while
    await expect(answers(page)).to_have_count(1, timeout=90_000)
    answer = await finished_answer(page)
    await expect(answer.locator(".cites .chip").first).to_contain_text("[1]")
    lines = await shadow_eval(page, """
        return [...root.querySelectorAll('.cites .chip b')].map(b => {
          const r = document.createRange(); r.selectNodeContents(b);
          return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size;
        });""")
    assert lines and all(n == 1 for n in lines), lines
    await shot(page, f"chips-{width}")
