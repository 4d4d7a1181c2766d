"""Escalation end to end: the operator asks for a human, support answers live from the admin console."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from .helpers import ask, escalate, finished_answer, open_widget

pytestmark = pytest.mark.browser

FRAME_TIMEOUT = 8_000


async def test_escalate_shows_ticket_and_contacts_then_support_replies_live(server: Any, new_page: Any,
                                                                            shot: Any) -> None:
    page = await new_page()
    await open_widget(page, server.url)
    await ask(page, "The winch makes a grinding noise")
    await finished_answer(page)
    card, ticket = await escalate(page, wait_ms=FRAME_TIMEOUT)
    assert ticket and re.fullmatch(r"ABP-\d+", ticket)
    await expect(card).to_contain_text(f"Support ticket {ticket} has been created")
    await expect(card.locator("a[href^='mailto:']")).to_have_text(re.compile(r"E-mail\s*support@abparts\.local"))
    await expect(card.locator("a[href^='tel:']")).to_have_count(1)
    await shot(page, "escalated")

    admin = await new_page(width=1280, height=900)
    await admin.goto(server.url + "/admin#escalations")
    await admin.get_by_role("button", name="Use a development admin token").click()
    await admin.get_by_role("tab", name="Escalations").click()
    item = admin.locator("#esc-list .esc", has_text=ticket)
    await expect(item).to_have_count(1, timeout=FRAME_TIMEOUT)
    await item.click()
    await expect(admin.locator("#esc-detail .transcript")).to_contain_text("grinding noise", timeout=FRAME_TIMEOUT)
    await admin.locator("#reply-text").fill("Hello, this is support. Please send a photo of the winch.")
    await admin.get_by_role("button", name="Send reply").click()
    await shot(admin, "console")

    reply = page.locator(".msg.agent")
    await expect(reply).to_contain_text("Please send a photo of the winch.", timeout=FRAME_TIMEOUT)
    await shot(page, "support-reply")


async def test_not_covered_question_offers_a_human(widget_settings: Any, running_server: Any, new_page: Any,
                                                   shot: Any) -> None:
    async with running_server(widget_settings(require_grounding=True)) as srv:  # nothing in the manuals
        page = await new_page()
        await open_widget(page, srv.url)
        await ask(page, "How do I repaint the hull of the boat?")
        await finished_answer(page)
        offer = page.locator(".card.offer")
        await expect(offer).to_contain_text("Would you like to talk to a support technician?", timeout=FRAME_TIMEOUT)
        await shot(page, "offer")
        await offer.get_by_role("button", name="Talk to a human").click()
        await expect(page.locator(".card.ok[data-ticket]")).to_have_count(1, timeout=FRAME_TIMEOUT)
