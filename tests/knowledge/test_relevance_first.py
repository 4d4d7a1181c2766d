"""Relevance first, language second, and one search for the assistant and the admin test search.

An English UPS FAQ next to the AutoBoss V4 manuals in English and Greek: a Greek (or Arabic) question
about the UPS serial cable must get the FAQ, through the conversation engine exactly as through
``KnowledgeBase.search`` with the same filters (what ``/api/kb/search?model=&reader_lang=`` runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from knowledge import KnowledgeBase
from server.engine.conversation import ConversationEngine, DeltaEvent, DoneEvent, Turn
from server.engine.i18n import MESSAGES, language_name
from server.observability import Metrics
from tests.knowledge.conftest import sample

V4 = "AutoBoss V4"
FAQ = b"""# APC UPS frequently asked questions

## Which serial cable connects a Smart-UPS to the computer?

Use the APC smart signalling cable 940-0024C between the UPS serial port and the computer's COM port.
An ordinary straight-through or null-modem serial cable does not work: the UPS may even shut down
when such a cable is plugged in, because pin 5 is wired to the shutdown signal.

## The UPS beeps every 30 seconds

The UPS is running on battery. Check the wall socket and the input fuse of the UPS.

## How long does the battery last?

UPS batteries last three to five years; replace them when the runtime drops below what you need.
"""

QUESTIONS = {
    "el": "Ποιο σειριακό καλώδιο χρειάζομαι για να συνδέσω το APC Smart-UPS στον υπολογιστή;",
    "ar": "ما هو الكابل التسلسلي الذي أحتاجه لتوصيل APC Smart-UPS بالحاسوب؟",
}


@pytest.fixture
async def corpus(kb: KnowledgeBase) -> dict[str, int]:
    ids = {}
    for name, lang in (("autoboss-v4-manual.en.md", "en"), ("autoboss-v4-manual.el.md", "el")):
        ids[name] = (await kb.add_document(sample(name), filename=name, machine_models=[V4], lang=lang, wait=True))["id"]
    ids["faq"] = (await kb.add_document(FAQ, filename="apc-ups-faq.md", lang="en", wait=True))["id"]
    return ids


def engine(kb: KnowledgeBase, settings_factory: Callable[..., Any]) -> ConversationEngine:
    return ConversationEngine(settings=settings_factory(), metrics=Metrics(), llm=None, kb=kb)


@pytest.mark.parametrize("lang", sorted(QUESTIONS))
async def test_the_conversation_retrieves_exactly_what_the_test_search_shows(
        kb: KnowledgeBase, corpus: dict[str, int], settings_factory: Callable[..., Any], lang: str) -> None:
    question = QUESTIONS[lang]
    turn = Turn("s", "a", question, lang, [], machine={"id": "AB-1", "model": V4})
    in_conversation = await engine(kb, settings_factory).retrieve(turn)
    in_test_search = await kb.search_as_assistant(question, k=5, machine_model=V4, reader_lang=lang)
    assert [p.chunk_id for p in in_conversation] == [p.chunk_id for p in in_test_search]
    # the relevant English FAQ answer first, not a Greek manual passage lifted by its language
    assert in_conversation[0].document_id == corpus["faq"]
    assert "940-0024C" in in_conversation[0].text


async def test_a_retrieval_only_answer_in_arabic_cites_the_faq_and_says_it_is_english(
        kb: KnowledgeBase, corpus: dict[str, int], settings_factory: Callable[..., Any]) -> None:
    turn = Turn("s", "a", QUESTIONS["ar"], "ar", [], machine={"id": "AB-1", "model": V4})
    events = [e async for e in engine(kb, settings_factory).run(turn)]
    text = "".join(e.text for e in events if isinstance(e, DeltaEvent))
    done = next(e for e in events if isinstance(e, DoneEvent))
    assert done.mode == "retrieval_only" and done.citations[0]["document_id"] == str(corpus["faq"])
    assert any(text.startswith("*" + MESSAGES[key]["ar"]) for key in ("manuals_only_notice", "retrieval_only_notice"))
    assert MESSAGES["assessment"]["ar"].split("{")[0] in text
    assert MESSAGES["passages_in"]["ar"].format(language=language_name("en", "ar")) in text
