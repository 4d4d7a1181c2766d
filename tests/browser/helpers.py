"""Small steps shared by the browser tests (Playwright CSS locators pierce the widget's open shadow root)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Locator, Page, expect

TIMEOUT = 20_000


async def open_widget(page: Page, url: str, *, pick: str | None = "General question") -> None:
    """Load the demo host page, open the assistant and wait until it is connected."""
    await page.goto(url)
    await page.locator(".launch").click()
    await expect(page.locator(".panel")).to_be_visible()
    await expect(page.locator(".dot.on")).to_have_count(1, timeout=TIMEOUT)
    if pick:
        await page.locator(".card.pick button", has_text=pick).click()


async def ask(page: Page, text: str) -> None:
    box = page.locator("textarea")
    await box.fill(text)
    await box.press("Enter")


def answers(page: Page) -> Locator:
    return page.locator(".msg.bot[data-message-id]:not(.agent)")


async def finished_answer(page: Page, index: int = -1) -> Locator:
    """The answer at ``index`` once its done frame arrived (aria-busy turns false)."""
    loc = answers(page).nth(index) if index >= 0 else answers(page).last
    await expect(loc).to_have_attribute("aria-busy", "false", timeout=TIMEOUT)
    return loc


async def escalate(page: Page, *, wait_ms: int = TIMEOUT) -> tuple[Locator, str]:
    """Press "Talk to a human" and wait for the ticket card; returns the card and its ticket number."""
    await page.locator("button.human").click()
    card = page.locator(".card.ok[data-ticket]")
    await expect(card).to_have_count(1, timeout=wait_ms)
    return card, await card.get_attribute("data-ticket") or ""


async def shadow_eval(page: Page, script: str) -> Any:
    """Evaluate ``script`` with ``root`` bound to the widget's shadow root."""
    return await page.evaluate(f"(() => {{ const root = document.querySelector('#abparts-assistant').shadowRoot; {script} }})()")
