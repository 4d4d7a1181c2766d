"""An English widget, questions typed in Greek, Arabic and Turkish: each answered in its own language.

The demo host page sets the widget's UI language to English (its ``language`` option), which is not
a language the person picked: the widget sends no ``lang`` with the messages, and the server answers
each one in the language it is written in.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from server.engine.i18n import MESSAGES, language_name

from .helpers import TIMEOUT, ask, finished_answer, open_widget

pytestmark = pytest.mark.browser

SAMPLE = Path(__file__).resolve().parents[2] / "knowledge" / "samples" / "autoboss-v4-manual.en.md"
NOTICES = ("manuals_only_notice", "retrieval_only_notice")  # no model set up / the model failing
QUESTIONS = {
    "el": ("Η πίεση του νερού είναι πολύ χαμηλή και βγαίνει σφάλμα E01. Τι να ελέγξω;", "Greek"),
    "ar": ("ضغط الماء منخفض جدا ويظهر الخطأ E01. ماذا أفحص؟", "Arabic"),
    "tr": ("Su basıncı çok düşük ve E01 hatası çıkıyor. Neyi kontrol etmeliyim?", "Turkish"),
}


async def test_each_question_is_answered_in_its_own_language(server: Any, llm_server: Any, new_page: Any,
                                                           shot: Any) -> None:
    page = await new_page()
    await open_widget(page, server.url)
    await expect(page.locator("textarea")).to_have_attribute("placeholder", "Describe the problem…")
    for n, (lang, (question, name)) in enumerate(QUESTIONS.items()):
        await ask(page, question)
        await finished_answer(page, n)
        system = llm_server.llm.chat_requests()[-1]["messages"][0]["content"]
        assert f"Answer in {name}." in system, (lang, system[:400])
        await shot(page, lang)
    # the widget itself stays in English: only the answers follow the questions
    await expect(page.locator(".w")).to_have_attribute("lang", "en")
    assert page.errors == []


async def test_retrieval_only_answers_are_framed_in_the_question_language(
        widget_settings: Any, running_server: Any, make_token: Any, new_page: Any, shot: Any) -> None:
    async with running_server(widget_settings(openai_model="", openai_fallback_model="")) as srv:
        headers = {"Authorization": f"Bearer {make_token(role='admin')}"}
        async with httpx.AsyncClient(base_url=srv.url, timeout=60) as http:
            r = await http.post("/api/kb/documents", headers=headers, data={"model": "AutoBoss V4", "lang": "en"},
                                files={"file": (SAMPLE.name, SAMPLE.read_bytes(), "text/markdown")})
            assert r.status_code in (200, 201, 202), r.text
            doc = r.json()["id"]
            for _ in range(1800):
                status = (await http.get(f"/api/kb/documents/{doc}", headers=headers)).json()["status"]
                if status in ("ready", "failed"):
                    break
                await asyncio.sleep(0.1)
            assert status == "ready"
        page = await new_page()
        await open_widget(page, srv.url)
        for n, (lang, (question, _)) in enumerate(QUESTIONS.items()):
            await ask(page, question)
            answer = await finished_answer(page, n)
            text = await answer.locator(".md").first.inner_text()
            assert any(MESSAGES[key][lang] in text for key in NOTICES), (lang, text[:300])
            assert MESSAGES["assessment"][lang].split("**")[-1].split("{")[0].strip() in text
            assert MESSAGES["passages_in"][lang].format(language=language_name("en", lang)) in text
            assert not any(MESSAGES[key]["en"] in text for key in NOTICES)
            await shot(page, f"retrieval-only-{lang}")
        await expect(page.locator(".msg.bot[data-message-id]")).to_have_count(len(QUESTIONS), timeout=TIMEOUT)
        assert page.errors == []
