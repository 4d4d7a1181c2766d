"""Interactive troubleshooting steps in the widget: one step card at a time, outcomes sent to the server."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest
from playwright.async_api import expect

from .helpers import TIMEOUT, ask, finished_answer, open_widget

pytestmark = pytest.mark.browser

ANSWER = "Most likely a blown fuse.\n\n1. Check fuse F3 in the control cabinet.\n2. Inspect the drive belt for wear.\n"


async def test_step_cards_send_outcomes_and_the_next_step_follows(server: Any, llm_server: Any, new_page: Any,
                                                                  database_url: str, shot: Any) -> None:
    llm_server.llm.set_default({"kind": "stream", "text": ANSWER, "ttft": 0.0, "interval": 0.0})
    page = await new_page()
    await open_widget(page, server.url)
    await ask(page, "The brushes do not turn")
    answer = await finished_answer(page)
    first = answer.locator(".step").nth(0)
    await expect(first.locator(".sh")).to_have_text("Step 1 of 2", timeout=TIMEOUT)
    await expect(first.locator(".md")).to_have_text("Check fuse F3 in the control cabinet.")
    await expect(first.locator(".q")).to_have_text("Did that help?")
    await expect(answer.locator(".step")).to_have_count(1)  # one step at a time
    await first.get_by_role("button", name="Not fixed", exact=True).click()
    await expect(first.locator("button[data-outcome=not_fixed]")).to_have_attribute("aria-pressed", "true")
    await expect(first.locator("button[data-outcome=fixed]")).to_be_disabled()
    second = answer.locator(".step").nth(1)
    await expect(second.locator(".sh")).to_have_text("Step 2 of 2", timeout=TIMEOUT)
    await expect(second.locator(".md")).to_have_text("Inspect the drive belt for wear.")
    await shot(page, "steps")
    await second.get_by_role("button", name="Fixed", exact=True).click()
    await expect(second.locator("button[data-outcome=fixed]")).to_have_attribute("aria-pressed", "true")
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(50):
            rows = await conn.fetch("SELECT data FROM analytics_events WHERE kind = 'step_outcome' ORDER BY id")
            if len(rows) == 2:
                break
            await page.wait_for_timeout(100)
    finally:
        await conn.close()
    outcomes = [(r["data"] if isinstance(r["data"], dict) else json.loads(r["data"]))["outcome"] for r in rows]
    assert outcomes == ["not_fixed", "fixed"]
    # a reload shows the answered steps with their outcomes
    await page.reload()
    again = await finished_answer(page)
    await expect(again.locator(".step")).to_have_count(2, timeout=TIMEOUT)
    await expect(again.locator(".step").nth(0).locator("button[data-outcome=not_fixed]")).to_have_attribute("aria-pressed", "true")


async def test_problem_solved_is_confirmed_by_the_server(server: Any, new_page: Any) -> None:
    page = await new_page()
    await open_widget(page, server.url)
    await ask(page, "Brushes do not turn")
    await finished_answer(page)
    await page.get_by_role("button", name="Problem solved").click()
    await expect(page.locator(".card.resolved")).to_have_text("Marked as solved. Thank you!", timeout=TIMEOUT)
