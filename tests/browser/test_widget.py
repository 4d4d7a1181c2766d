"""The chat widget in a real Chromium against the real server, with the scripted LLM as the only double."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest
from playwright.async_api import expect

from testkit.scripted_llm import DEFAULT_TEXT

from .helpers import TIMEOUT, answers, ask, finished_answer, open_widget, shadow_eval

pytestmark = pytest.mark.browser


async def test_ask_and_see_the_streamed_answer(server: Any, llm_server: Any, new_page: Any, shot: Any) -> None:
    page = await new_page()
    await open_widget(page, server.url)
    await shot(page, "1-open")
    await ask(page, "The brushes stop turning after five minutes")
    await expect(page.locator(".msg.user", has_text="The brushes stop turning")).to_have_count(1)
    answer = await finished_answer(page)
    await expect(answer.locator(".md")).to_have_text(DEFAULT_TEXT)
    # citation markers become superscript references; the answer gets feedback and read-aloud buttons
    assert await answer.locator("sup.ref").count() == 2
    await expect(answer.locator("button.up")).to_be_visible()
    await expect(page.locator(".typing")).to_be_hidden()
    await shot(page, "2-answer")
    asked = [m["content"] for r in llm_server.llm.chat_requests() for m in r["messages"] if m["role"] == "user"]
    assert any("brushes stop turning" in c for c in asked)
    assert page.errors == []


async def test_feedback_is_recorded(server: Any, new_page: Any, database_url: str, shot: Any) -> None:
    page = await new_page()
    await open_widget(page, server.url)
    await ask(page, "Pump pressure alarm")
    answer = await finished_answer(page)
    await answer.locator("button.down").click()
    await expect(answer).to_have_attribute("data-feedback", "down", timeout=TIMEOUT)
    await expect(answer.locator("button.down")).to_have_attribute("aria-pressed", "true")
    await expect(answer.locator(".acts .note")).to_have_text("Thank you for your feedback.")
    await shot(page, "feedback")
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT message_id, data FROM analytics_events WHERE kind = 'feedback'")
    finally:
        await conn.close()
    assert len(rows) == 1
    assert rows[0]["message_id"] == await answer.get_attribute("data-message-id")
    data = rows[0]["data"] if isinstance(rows[0]["data"], dict) else json.loads(rows[0]["data"])
    assert data["rating"] == "down"


HOSTILE = (
    "Try this: <img src=x onerror=\"alert('img')\"> <script>alert('script')</script>\n\n"
    "[click me](javascript:alert('link')) and [data](data:text/html,<script>alert(1)</script>) "
    "and [ok](https://example.com/manual) <a href=\"javascript:alert(2)\">raw</a>\n\n"
    "- **bold** item\n- `<b>code</b>` item\n\n<iframe src=\"javascript:alert(3)\"></iframe>"
)


async def test_hostile_markdown_stays_inert(server: Any, llm_server: Any, new_page: Any, shot: Any) -> None:
    llm_server.llm.set_default({"kind": "stream", "text": HOSTILE, "ttft": 0.0, "interval": 0.0})
    page = await new_page()
    await open_widget(page, server.url)
    await ask(page, "show me something")
    answer = await finished_answer(page)
    await page.wait_for_timeout(300)
    found = await shadow_eval(page, """
        const answer = [...root.querySelectorAll('.msg.bot[data-message-id]')].pop();
        const md = answer.querySelector(':scope > div');  // the answer's text and step cards
        return {
          elements: [...md.querySelectorAll('*')].map(e => e.tagName.toLowerCase()),
          hrefs: [...md.querySelectorAll('a')].map(a => a.getAttribute('href')),
          rels: [...md.querySelectorAll('a')].map(a => a.rel),
          text: md.textContent,
        };""")
    assert not {"img", "script", "iframe"} & set(found["elements"])
    assert found["hrefs"] == ["https://example.com/manual"]
    assert all("noopener" in r for r in found["rels"])
    assert "<img src=x onerror=" in found["text"] and "<script>" in found["text"]  # shown as text
    assert "strong" in found["elements"] and "code" in found["elements"] and "li" in found["elements"]
    await expect(answer.locator("code")).to_have_text("<b>code</b>")
    await shot(page, "hostile")
    assert page.errors == []  # no alert() dialog, no script error


async def test_arabic_is_right_to_left_and_language_can_be_switched(server: Any, new_page: Any, shot: Any) -> None:
    page = await new_page()
    await open_widget(page, server.url + "/?lang=ar", pick="سؤال عام")
    root = page.locator(".w")
    await expect(root).to_have_attribute("dir", "rtl")
    await expect(root).to_have_attribute("lang", "ar")
    await expect(page.locator("h2#abpa-title")).to_have_text("مساعد ABParts")
    await expect(page.locator("textarea")).to_have_attribute("placeholder", "صِف المشكلة…")
    await ask(page, "المضخة لا تعمل")
    await finished_answer(page)
    user_box = await page.locator(".msg.user").bounding_box()
    bot_box = await answers(page).last.bounding_box()
    assert user_box and bot_box and user_box["x"] < bot_box["x"]  # mirrored: the user's bubble is on the left
    await shot(page, "arabic")
    await page.locator(".bar select").select_option("el")
    await expect(root).to_have_attribute("dir", "ltr")
    await expect(page.locator("h2#abpa-title")).to_have_text("Βοηθός ABParts")
    await expect(page.locator("button.human")).to_have_text("Μιλήστε με άνθρωπο")


async def test_phone_viewport_is_full_screen(server: Any, new_page: Any, shot: Any) -> None:
    page = await new_page(width=390, height=844, is_mobile=True, has_touch=True, device_scale_factor=2)
    await open_widget(page, server.url)
    box = await page.locator(".panel").bounding_box()
    assert box == {"x": 0, "y": 0, "width": 390, "height": 844}
    await ask(page, "Net cleaner vibrates")
    await finished_answer(page)
    await shot(page, "phone")
    await page.locator("button[aria-label='Close']").click()
    await expect(page.locator(".panel")).to_be_hidden()
    await expect(page.locator(".launch")).to_be_visible()


async def test_minimise_maximise_and_close_keep_the_conversation(server: Any, new_page: Any, shot: Any) -> None:
    page = await new_page()
    await open_widget(page, server.url)
    await ask(page, "Keep me")
    await finished_answer(page)
    panel = page.locator(".panel")
    await page.locator(".maxb").click()
    await expect(panel).to_have_class("panel max")
    await shot(page, "maximised")
    await page.locator("button[aria-label='Minimise']").click()
    await expect(page.locator(".log")).to_be_hidden()
    await page.locator("button[aria-label='Restore']").first.click()
    await page.locator("button[aria-label='Close']").click()
    await page.locator(".launch").click()
    await expect(page.locator(".msg.user", has_text="Keep me")).to_have_count(1)
    await expect(answers(page)).to_have_count(1)


async def test_keyboard_only(server: Any, new_page: Any, shot: Any) -> None:
    page = await new_page()
    await page.goto(server.url)
    await page.locator(".launch").wait_for()

    async def focused() -> str:
        return await shadow_eval(page, "const a = root.activeElement; return a ? a.className || a.tagName : '';")

    # the launcher is the last stop in the page's tab order: Shift+Tab from the top reaches it
    await page.keyboard.press("Shift+Tab")
    assert "launch" in await focused()
    await expect(page.locator(".dot.on")).to_have_count(1, timeout=TIMEOUT)
    await page.keyboard.press("Enter")
    await expect(page.locator(".panel")).to_be_visible()
    # the session starts with the machine question, which takes the focus; Tab reaches "General question"
    picker = page.locator(".card.pick button")
    assert await focused() == "btn"
    assert await shadow_eval(page, "return root.activeElement.dataset.machineId;") == "AB-1001"
    for _ in range(await picker.count() - 1):
        await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    assert await focused() == "TEXTAREA"
    await page.keyboard.type("Keyboard question")
    await page.keyboard.press("Enter")
    answer = await finished_answer(page)
    await page.locator("textarea").focus()
    await page.keyboard.press("Shift+Tab")
    assert (await focused()).startswith("ib")  # the last answer's read-aloud / feedback buttons
    await page.keyboard.press("Tab")
    await page.keyboard.press("Escape")
    await expect(page.locator(".panel")).to_be_hidden()
    assert "launch" in await focused()
    assert await answer.count() == 1
    await shot(page, "keyboard")
    # focus is visible: a focus-visible outline is drawn on the launcher
    outline = await shadow_eval(page, "return getComputedStyle(root.querySelector('.launch')).outlineStyle;")
    assert outline == "solid"


async def test_dark_theme_and_brand_colour(server: Any, new_page: Any, shot: Any) -> None:
    page = await new_page()
    await open_widget(page, server.url + "/?theme=dark&color=%23f2a900")
    await expect(page.locator(".w")).to_have_attribute("data-theme", "dark")
    await ask(page, "Dark mode question")
    await finished_answer(page)
    header_bg = await shadow_eval(page, "return getComputedStyle(root.querySelector('.head')).backgroundColor;")
    header_fg = await shadow_eval(page, "return getComputedStyle(root.querySelector('.head')).color;")
    assert header_bg == "rgb(242, 169, 0)"
    assert header_fg == "rgb(17, 17, 17)"  # dark text on a light brand colour, for contrast
    await shot(page, "dark")


RICH = """## Likely causes

1. **Fuse F3** blown
   - check with a multimeter
   - replace with *10 A* only
2. Worn belt

> Switch the machine off first.

```
reset --all <now>
```

See [the manual](https://example.com/m.pdf) or https://example.com/help. Use `E-17` codes.
---
"""


async def test_markdown_renders_structure(server: Any, llm_server: Any, new_page: Any, shot: Any) -> None:
    llm_server.llm.set_default({"kind": "stream", "text": RICH, "ttft": 0.0, "interval": 0.0})
    page = await new_page()
    await open_widget(page, server.url)
    await ask(page, "What can it be?")
    answer = await finished_answer(page)
    md = answer.locator(".md")
    await expect(md.locator("h3")).to_have_text("Likely causes")
    await expect(md.locator("ol > li")).to_have_count(2)
    await expect(md.locator("ol > li").first.locator("strong")).to_have_text("Fuse F3")
    await expect(md.locator("ol > li ul > li")).to_have_count(2)
    await expect(md.locator("ol > li ul em")).to_have_text("10 A")
    await expect(md.locator("blockquote")).to_have_text("Switch the machine off first.")
    await expect(md.locator("pre code")).to_have_text("reset --all <now>")
    await expect(md.locator("a")).to_have_count(2)
    assert await md.locator("a").nth(0).get_attribute("href") == "https://example.com/m.pdf"
    assert await md.locator("a").nth(1).get_attribute("href") == "https://example.com/help"
    await expect(md.locator("p code")).to_have_text("E-17")
    await shot(page, "markdown")


async def test_machine_picker_selects_the_machine(server: Any, new_page: Any) -> None:
    page = await new_page()
    await open_widget(page, server.url, pick="AutoBoss M6")
    chip = page.locator("button.mach")
    await expect(chip).to_have_text("AutoBoss M6 (AB-2002)")
    await expect(page.locator(".card.pick button[data-machine-id='AB-2002']")).to_have_attribute("aria-pressed", "true")
    # the server confirms the choice for the session: after a reload the chip still shows it
    await ask(page, "Is the M6 ok?")
    await finished_answer(page)
    await page.reload()
    await expect(page.locator(".dot.on")).to_have_count(1, timeout=TIMEOUT)
    await expect(chip).to_have_text("AutoBoss M6 (AB-2002)")
    # the ask-about-this-machine button of the host page switches the machine through the API
    await page.locator(".machine", has_text="AutoBoss V4").get_by_role("button").click()
    await expect(chip).to_have_text("AutoBoss V4 (AB-1001)")
