"""The admin console and manual citations in Chromium against the real server and knowledge base."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from .helpers import TIMEOUT, ask, finished_answer, open_widget

pytestmark = pytest.mark.browser

MANUAL = """# AutoBoss V4 service manual

## Hydraulic pump

### Alarm E-17: pump pressure low

When alarm E-17 appears the hydraulic pump pressure is below 80 bar.

1. Check the hydraulic oil level in the sight glass.
2. Inspect the suction filter and replace it if it is clogged.
3. Restart the pump and read the pressure gauge.

## Brush motor

The brush motor is protected by fuse F3 in the control cabinet.
"""


async def _admin_token(server: Any) -> str:
    async with httpx.AsyncClient(base_url=server.url) as client:
        r = await client.get("/demo/token", params={"user": "demo-admin", "role": "admin"})
        return r.json()["token"]


async def _upload_via_api(server: Any, token: str) -> int:
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
        r = await client.post("/api/kb/documents", files={"file": ("v4-manual.md", MANUAL.encode(), "text/markdown")},
                              data={"model": "AutoBoss V4", "lang": "en"})
        assert r.status_code in (200, 202), r.text
        doc_id = r.json()["id"]
        for _ in range(300):
            d = (await client.get(f"/api/kb/documents/{doc_id}")).json()
            if d["status"] in ("ready", "failed"):
                break
            await asyncio.sleep(0.2)
        assert d["status"] == "ready", d
        return int(doc_id)


async def test_admin_login_upload_with_progress_and_search(server: Any, new_page: Any, shot: Any) -> None:
    page = await new_page(width=1280, height=900)
    await page.goto(server.url + "/admin")
    await page.get_by_role("button", name="Use a development admin token").click()
    await expect(page.locator("#user-name")).to_have_text("Demo Admin · admin")
    await expect(page.get_by_role("tab", name="Manuals")).to_have_attribute("aria-selected", "true")
    # record every stage the progress label goes through
    await page.evaluate("""window.__stages = [];
        new MutationObserver(() => window.__stages.push(document.getElementById('upload-stage').textContent))
          .observe(document.getElementById('upload-stage'), {childList: true, characterData: true, subtree: true});""")
    form = page.locator("#upload-form")
    await form.locator("input[type=file]").set_input_files(
        files=[{"name": "v4-manual.md", "mimeType": "text/markdown", "buffer": MANUAL.encode()}])
    await form.locator("input[name=model]").fill("AutoBoss V4")
    await form.get_by_role("button", name="Upload").click()
    await expect(page.locator("#upload-stage")).to_contain_text("Ready: v4-manual.md", timeout=60_000)
    assert await page.locator("#upload-bar").get_attribute("value") == "100"
    stages = await page.evaluate("window.__stages")
    assert any(s.startswith("Uploading v4-manual.md") for s in stages)
    row = page.locator("#docs tbody tr", has_text="v4-manual")
    await expect(row.locator(".badge")).to_have_text("ready", timeout=TIMEOUT)
    await expect(row).to_contain_text("AutoBoss V4")
    await shot(page, "manuals")

    await page.get_by_role("tab", name="Search test").click()
    await page.locator("#search-form input[name=q]").fill("E-17 pump pressure low")
    await page.locator("#search-form").get_by_role("button", name="Search").click()
    first = page.locator("#results .result").first
    await expect(first.locator(".passage")).to_contain_text("80 bar", timeout=TIMEOUT)
    # a Markdown manual: the link opens the readable page at the passage's section
    await expect(first.locator(".result-head a")).to_have_attribute("href", "api/kb/documents/1/view#alarm-e-17-pump-pressure-low")
    await shot(page, "search")

    await page.get_by_role("tab", name="Expert knowledge").click()
    entry = page.locator("#entry-form")
    await entry.locator("select[name=kind]").select_option("correction")
    await entry.locator("input[name=title]").fill("E-17 on V4 after a filter change")
    await entry.locator("textarea[name=text]").fill("Bleed the air from the pump <b>before</b> restarting.")
    await entry.get_by_role("button", name="Save entry").click()
    item = page.locator("#entries .entry", has_text="E-17 on V4 after a filter change")
    await expect(item).to_have_count(1, timeout=TIMEOUT)
    await expect(item.locator(".passage")).to_contain_text("<b>before</b>")  # shown as text, not markup
    await shot(page, "knowledge")
    assert page.errors == []


async def test_admin_refuses_an_operator_token(server: Any, new_page: Any) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        token = (await client.get("/demo/token", params={"role": "operator"})).json()["token"]
    page = await new_page()
    await page.goto(server.url + "/admin")
    await page.locator("#token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#login-error")).to_contain_text("admin or support is needed")
    await expect(page.locator("#tabs")).to_be_hidden()


async def test_answer_cites_the_manual_and_the_chip_opens_it(server: Any, llm_server: Any, new_page: Any,
                                                             shot: Any) -> None:
    await _upload_via_api(server, await _admin_token(server))
    llm_server.llm.set_default({"kind": "stream", "text": "Check the oil level first [1].", "ttft": 0, "interval": 0})
    page = await new_page()
    await open_widget(page, server.url)
    await ask(page, "Alarm E-17 pump pressure low")
    answer = await finished_answer(page)
    chip = answer.locator(".cites a.chip").first
    await expect(chip).to_contain_text("[1]")
    href = await chip.get_attribute("href")
    # a Markdown manual: the citation opens the readable page at the cited section's anchor
    assert href and href.startswith(server.url + "/api/kb/documents/") and href.endswith("/view#alarm-e-17-pump-pressure-low")
    assert await chip.get_attribute("rel") == "noopener noreferrer"
    await shot(page, "citations")
    async with page.context.expect_page() as popup_info:
        await chip.click()
    popup = await popup_info.value
    cited = popup.locator("section:target")
    await expect(cited).to_contain_text("Alarm E-17", timeout=TIMEOUT)
    await expect(cited).to_contain_text("suction filter")
    await expect(cited).not_to_contain_text("fuse F3")  # the next section is not the cited one
    assert popup.url.startswith("blob:") and popup.url.endswith("#alarm-e-17-pump-pressure-low")
    # highlighted (marked: the blob takes on the demo page's style policy, so no inline style applies) and
    # scrolled to: the section's top is inside the window; nothing outside it is marked
    await expect(cited.locator("mark").first).to_be_visible()
    assert await popup.locator("mark").count() == await cited.locator("mark").count() > 0
    assert await cited.evaluate("e => e.getBoundingClientRect().top < window.innerHeight")
    await shot(popup, "citation-opened")
