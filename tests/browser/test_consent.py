"""CONSENT_REQUIRED in a real Chromium: the widget asks once, in the user's language, before anything is stored."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from playwright.async_api import expect

from server.privacy.consent import DEFAULT_TEXT

from .helpers import TIMEOUT, ask, finished_answer

pytestmark = pytest.mark.browser


async def _rows(database_url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def test_the_widget_asks_for_consent_once_then_connects(widget_settings: Any, running_server: Any,
                                                             new_page: Any, database_url: str, shot: Any) -> None:
    async with running_server(widget_settings(consent_required=True, consent_version="7")) as srv:
        page = await new_page()
        await page.goto(srv.url + "/?lang=es")  # a Spanish-speaking user
        await page.locator(".launch").click()
        card = page.locator(".card.consent")
        await expect(card).to_be_visible(timeout=TIMEOUT)
        await expect(card.locator(".consent-text")).to_have_text(DEFAULT_TEXT["es"])
        await shot(page, "consent-asked")
        assert await _rows(database_url, "SELECT id FROM sessions") == []  # nothing stored before the answer

        await card.locator("button", has_text="Acepto").click()
        await expect(card).to_have_count(0, timeout=TIMEOUT)
        await expect(page.locator(".dot.on")).to_have_count(1, timeout=TIMEOUT)
        [consent] = await _rows(database_url, "SELECT granted, version FROM user_consents")
        assert consent["granted"] is True and consent["version"] == "7"
        await page.locator(".card.pick button").last.click()
        await ask(page, "La bomba hace ruido")
        await finished_answer(page)

        # another visit: the decision is the server's, so the widget connects without asking again
        again = await new_page()
        await again.goto(srv.url + "/?lang=es")
        await again.locator(".launch").click()
        await expect(again.locator(".dot.on")).to_have_count(1, timeout=TIMEOUT)
        await expect(again.locator(".card.consent")).to_have_count(0)
        assert page.errors == [] and again.errors == []


async def test_declining_stores_nothing_and_offers_to_change_ones_mind(widget_settings: Any, running_server: Any,
                                                                        new_page: Any, database_url: str) -> None:
    async with running_server(widget_settings(consent_required=True)) as srv:
        page = await new_page()
        await page.goto(srv.url)
        await page.locator(".launch").click()
        card = page.locator(".card.consent")
        await card.locator("button", has_text="No thanks").click()
        declined = page.locator(".consent-declined")
        await expect(declined).to_be_visible(timeout=TIMEOUT)
        [consent] = await _rows(database_url, "SELECT granted FROM user_consents")
        assert consent["granted"] is False
        assert await _rows(database_url, "SELECT id FROM sessions") == []
        await declined.locator("button", has_text="I agree").click()
        await page.locator(".card.consent button", has_text="I agree").click()
        await expect(page.locator(".dot.on")).to_have_count(1, timeout=TIMEOUT)
        assert len(await _rows(database_url, "SELECT id FROM sessions")) == 1
