"""Prompt building and the retrieval-only answer text."""

from __future__ import annotations

import dataclasses

from server.engine.conversation import Turn, build_messages, describe_due, retrieval_only_text
from server.engine.diagnostics import DiagnosticState, Step


@dataclasses.dataclass(frozen=True)
class Passage:
    text: str
    title: str = "AutoBoss V4 manual"
    page: int | None = 12
    section: str | None = "4.2 Error codes"
    kind: str = "manual"


def turn(**kw: object) -> Turn:
    base: dict[str, object] = {"session_id": "s", "message_id": "a", "text": "E04 on the brush drive", "lang": "el",
                               "history": []}
    base.update(kw)
    return Turn(**base)  # type: ignore[arg-type]


def test_system_prompt_has_language_passages_and_the_question_last() -> None:
    messages = build_messages(turn(), [Passage("E04 means overload."), Passage("Call us", kind="expert", page=None)])
    system = messages[0]["content"]
    assert messages[0]["role"] == "system" and "Answer in Greek." in system
    assert "[1] (AutoBoss V4 manual, page 12, section 4.2 Error codes)\nE04 means overload." in system
    assert "[2] EXPERT (AutoBoss V4 manual, section 4.2 Error codes)\nCall us" in system
    assert messages[-1] == {"role": "user", "content": "E04 on the brush drive"}


def test_no_passages_says_none_found() -> None:
    assert "<passages>\n(none found)\n</passages>" in build_messages(turn(lang="xx"), [])[0]["content"]
    assert "Answer in English." in build_messages(turn(lang="xx"), [])[0]["content"]


def test_history_keeps_the_last_six_with_roles() -> None:
    history = [{"role": "user" if i % 2 == 0 else "assistant", "text": f"m{i}"} for i in range(8)]
    history[-1] = {"role": "support", "text": "from support"}
    messages = build_messages(turn(history=history), [])
    assert [m["content"] for m in messages[1:-1]] == ["m2", "m3", "m4", "m5", "m6", "from support"]
    assert messages[-2]["role"] == "assistant"


def test_tried_steps_and_machine_are_in_the_prompt() -> None:
    diagnostic = DiagnosticState.start("a0", [Step("s1", "Check fuse F3")], None).apply("s1", "not_fixed").state
    machine = {"id": "AB-1", "model": "AutoBoss V4", "serial": "123", "hours": 1240,
               "due": [{"interval_hours": 250, "task": "Replace brush bearings", "hours_remaining": -12}]}
    system = build_messages(turn(diagnostic=diagnostic, machine=machine), [])[0]["content"]
    assert "- Check fuse F3 -> did NOT fix the problem" in system
    assert "machine AB-1: AutoBoss V4, serial 123, 1240 operating hours" in system
    assert "250 h service: Replace brush bearings (overdue by 12 h)" in system


def test_describe_due() -> None:
    assert describe_due([{"interval_hours": 500, "task": "Oil", "hours_remaining": 20}]) == "500 h service: Oil (due in 20 h)"


def test_retrieval_only_text_quotes_the_passages() -> None:
    text = retrieval_only_text("en", [Passage("E04   means\n overload.")], "not_configured")
    assert text.startswith("*No AI model is configured for this assistant, so this answer comes straight from the manuals:*")
    failing = retrieval_only_text("en", [Passage("E04 means overload.")], "llm_unavailable")
    assert failing.startswith("*The AI assistant is not available right now")  # a model that fails, said as such
    assert "**[1] AutoBoss V4 manual, page 12 — 4.2 Error codes**\n\nE04 means overload." in text
    assert retrieval_only_text("es", [], "not_configured").startswith("Los manuales no cubren")
    assert retrieval_only_text("en", [], "no_manuals").startswith("No manuals are indexed yet")


def test_resolutions_are_past_cases_that_never_override_the_manuals() -> None:
    system = build_messages(turn(), [Passage("Reset it.", kind="resolution", page=None)])[0]["content"]
    assert "[1] RESOLUTION (AutoBoss V4 manual, section 4.2 Error codes)\nReset it." in system
    assert "EXPERT, CORRECTION or RESOLUTION" not in system
    assert "RESOLUTION are past cases" in system and "follow the manual" in system
