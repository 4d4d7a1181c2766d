"""Automated accessibility checks (axe-core) of the open widget and the admin console."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe

from .helpers import ask, finished_answer, open_widget

pytestmark = pytest.mark.browser


def _problems(results: Any) -> list[str]:
    out = []
    for v in results.response["violations"]:
        if v["impact"] in ("serious", "critical"):
            out.append(f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}")
    return out


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_open_widget_has_no_serious_accessibility_violations(server: Any, new_page: Any, lang: str) -> None:
    page = await new_page()
    await open_widget(page, f"{server.url}/?lang={lang}", pick=None)
    await page.locator(".card.pick button").last.click()
    await ask(page, "Accessibility question")
    await finished_answer(page)
    results = await Axe().run(page, context="#abparts-assistant")
    assert _problems(results) == []
    # the check does look inside the shadow root: an unlabelled button there is reported
    await page.evaluate("document.querySelector('#abparts-assistant').shadowRoot.querySelector('.foot')"
                        ".appendChild(document.createElement('button'))")
    assert any(p.startswith("button-name") for p in _problems(await Axe().run(page, context="#abparts-assistant")))


async def test_admin_console_has_no_serious_accessibility_violations(server: Any, new_page: Any) -> None:
    page = await new_page()
    await page.goto(server.url + "/admin")
    assert _problems(await Axe().run(page)) == []
    await page.get_by_role("button", name="Use a development admin token").click()
    await page.locator("#user-name").wait_for()
    assert _problems(await Axe().run(page)) == []
