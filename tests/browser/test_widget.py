"""The chat widget in a real Chromium against the real server, with the scripted LLM as the only double."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import WebSocketRoute, expect

from tests.support.scripted_llm import DEFAULT_TEXT

from .helpers import TIMEOUT, answers, ask, finished_answer, open_widget, shadow_eval

pytestmark = pytest.mark.browser

WIDGET = Path(__file__).resolve().parents[2] / "widget" / "widget.js"
BUDGET_GZIP_BYTES = 30 * 1024


def test_widget_script_fits_the_size_budget() -> None:
    size = len(gzip.compress(WIDGET.read_bytes(), compresslevel=9))
    print(f"widget.js: {WIDGET.stat().st_size} bytes, {size} bytes gzipped (budget {BUDGET_GZIP_BYTES})")
    assert size <= BUDGET_GZIP_BYTES


async def test_widget_is_served_with_cache_headers_and_etag(server: Any) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        r = await client.get("/widget.js", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/javascript")
        assert "max-age" in r.headers["cache-control"]
        assert r.headers.get("content-encoding") == "gzip"  # the app's GZip middleware
        assert r.content == WIDGET.read_bytes()
        again = await client.get("/widget.js", headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304


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
        const md = [...root.querySelectorAll('.msg.bot[data-message-id] .md')].pop();
        return {
          elements: [...md.querySelectorAll('*')].map(e => e.tagName.toLowerCase()),
          hrefs: [...md.querySelectorAll('a')].map(a => a.getAttribute('href')),
          rels: [...md.querySelectorAll('a')].map(a => a.rel),
          text: md.textContent,
        };""")
    print(found)
    assert not {"img", "script", "iframe"} & set(found["elements"])
    assert found["hrefs"] == ["https://example.com/manual"]
    assert all("noopener" in r for r in found["rels"])
    assert "<img src=x onerror=" in found["text"] and "<script>" in found["text"]  # shown as text
    assert "strong" in found["elements"] and "code" in found["elements"] and "li" in found["elements"]
    await expect(answer.locator("code")).to_have_text("<b>code</b>")
    await shot(page, "hostile")
    assert page.errors == []  # no alert() dialog, no script error


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


async def test_loading_twice_is_harmless_and_only_one_global(server: Any, new_page: Any) -> None:
    page = await new_page()
    before = await page.evaluate("Object.keys(window)")
    await page.goto(server.url)
    await page.locator(".launch").wait_for()
    await page.evaluate("""new Promise(r => { const s = document.createElement('script'); s.src = 'widget.js';
                           s.onload = r; document.body.appendChild(s); })""")
    assert await page.evaluate("document.querySelectorAll('#abparts-assistant').length") == 1
    added = await page.evaluate("Object.keys(window)")
    new_globals = set(added) - set(before)
    assert "ABPartsAssistant" in new_globals
    assert await page.evaluate("typeof window.ABPartsAssistant.init") == "function"
    assert page.errors == []


async def test_host_css_does_not_leak_into_the_widget(server: Any, new_page: Any) -> None:
    page = await new_page(bypass_csp=True)  # the demo page's own CSP forbids the inline style injected here
    await page.goto(server.url)
    await page.add_style_tag(content="button, textarea, div { background: red !important; font-family: serif !important; }")
    await page.locator(".launch").click()
    bg = await shadow_eval(page, "return getComputedStyle(root.querySelector('.launch')).backgroundColor;")
    assert bg == "rgb(11, 92, 173)"


async def test_demo_routes_exist_only_in_development(widget_settings: Any, running_server: Any) -> None:
    async with running_server(widget_settings(env="production")) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as client:
            assert (await client.get("/demo/token?role=admin")).status_code == 404
            assert (await client.get("/")).status_code == 404
            assert (await client.get("/widget.js")).status_code == 200
            assert (await client.get("/admin")).status_code == 200


async def test_demo_token_endpoint_mints_a_token_the_server_accepts(server: Any) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        r = await client.get("/demo/token", params={"user": "ana", "role": "admin", "lang": "es"})
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        token = r.json()["token"]
        me = (await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})).json()
        assert me["id"] == "ana" and me["role"] == "admin" and me["lang"] == "es"
        assert me["machines"] == ["AB-1001", "AB-2002"]
        assert (await client.get("/demo/token", params={"role": "root"})).status_code == 400



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
