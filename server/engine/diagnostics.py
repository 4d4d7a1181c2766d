"""Interactive diagnostics: steps taken from an answer, their outcomes, and what comes next.

With an LLM the answer is asked to end in numbered steps (most likely cause first); without one
the steps come from the numbered procedures and troubleshooting rows of the retrieved manual
passages. The state lives in ``sessions.state["diagnostic"]`` (PostgreSQL), so it survives
reconnects and restarts: ``{"message_id", "steps": [{"step_id", "text", "citation", "outcome"}],
"current", "failed"}``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

_NUMBERED = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+(?:\*\*)?(.+?)\s*$")
_CITE = re.compile(r"\[(\d{1,2})\]")
MAX_STEPS = 6


def extract_steps(text: str, citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Numbered (or bulleted, when there are no numbers) lines of an answer as steps."""
    numbered = [m.group(1) for line in text.splitlines() if (m := re.match(r"^\s*\d{1,2}[.)]\s+(.+?)\s*$", line))]
    lines = numbered or [m.group(1) for line in text.splitlines() if (m := _NUMBERED.match(line))]
    steps = []
    by_n = {c["n"]: c for c in citations}
    for line in lines[:MAX_STEPS]:
        clean = line.replace("**", "").strip()
        if len(clean) < 4:
            continue
        cite = next((by_n[int(n)] for n in _CITE.findall(clean) if int(n) in by_n), None)
        steps.append({"step_id": uuid.uuid4().hex[:12], "text": clean, "citation": cite, "outcome": None})
    return steps


def steps_from_passages(passages: list[Any], citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Retrieval-only steps: the numbered procedure (or table rows) of the best passage that has one."""
    for i, p in enumerate(passages):
        found = extract_steps(p.text, [])
        if len(found) >= 2:
            for step in found:
                step["citation"] = citations[i] if i < len(citations) else None
            return found
    return []


def new_state(message_id: str, steps: list[dict[str, Any]], previous: dict[str, Any] | None) -> dict[str, Any]:
    tried = list((previous or {}).get("tried", []))
    if previous:
        tried += [s for s in previous.get("steps", []) if s.get("outcome")]
    return {"message_id": message_id, "steps": steps, "current": 0, "failed": (previous or {}).get("failed", 0),
            "tried": tried[-20:], "state": "active" if steps else "none"}


def apply_outcome(state: dict[str, Any], step_id: str, outcome: str) -> dict[str, Any]:
    """Record the outcome; returns what to do next: {"next": step|None, "solved": bool, "exhausted": bool}."""
    steps = state.get("steps", [])
    index = next((i for i, s in enumerate(steps) if s["step_id"] == step_id), None)
    if index is None:
        raise KeyError(step_id)
    steps[index]["outcome"] = outcome
    if outcome == "fixed":
        state["state"] = "solved"
        return {"next": None, "solved": True, "exhausted": False}
    if outcome == "not_fixed":
        state["failed"] = state.get("failed", 0) + 1
    remaining = [i for i, s in enumerate(steps) if s.get("outcome") is None]
    if remaining:
        state["current"] = remaining[0]
        return {"next": steps[remaining[0]], "solved": False, "exhausted": False}
    state["state"] = "exhausted"
    return {"next": None, "solved": False, "exhausted": True}


def outcomes_summary(state: dict[str, Any] | None) -> str:
    """For the prompt: what was tried and how it went, so the next steps adapt."""
    if not state:
        return ""
    done = [s for s in state.get("tried", []) + state.get("steps", []) if s.get("outcome")]
    if not done:
        return ""
    words = {"fixed": "fixed the problem", "not_fixed": "did NOT fix the problem", "cannot_do": "the user could not do this"}
    return "\n".join(f"- {s['text']} -> {words.get(s['outcome'], s['outcome'])}" for s in done[-10:])
