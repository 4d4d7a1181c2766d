"""Interactive diagnostics: steps taken from an answer, their outcomes, and what comes next.

With an LLM the answer is asked to end in numbered steps (most likely cause first); without one
the steps come from the numbered procedures and troubleshooting rows of the retrieved manual
passages. ``DiagnosticState`` is the one owner of the state's shape. It lives in
``sessions.state["diagnostic"]`` (PostgreSQL), so it survives reconnects and restarts, stored as
``{"message_id", "steps": [{"step_id", "text", "citation", "outcome"}], "current", "failed",
"tried": [steps of earlier answers], "state", "offered"?}``. The state is immutable: a transition
returns the next state, which the caller stores.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, Protocol, TypeGuard, get_args

Outcome = Literal["fixed", "not_fixed", "cannot_do"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)


def is_outcome(value: object) -> TypeGuard[Outcome]:
    return value in OUTCOMES


SESSION_KEY = "diagnostic"  # the key of the state in sessions.state
MAX_STEPS = 6
MAX_TRIED = 20  # steps of earlier answers kept, so the next answer does not repeat them
MAX_SUMMARY = 10

_NUMBERED = re.compile(r"^\s*\d{1,2}[.)]\s+(.+?)\s*$")
_LISTED = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+(?:\*\*)?(.+?)\s*$")
_CITE = re.compile(r"\[(\d{1,2})\]")
_OUTCOME_WORDS: dict[str, str] = {"fixed": "fixed the problem", "not_fixed": "did NOT fix the problem",
                                  "cannot_do": "the user could not do this"}


class Phase(enum.StrEnum):
    """Where a diagnostic stands (sent to clients as ``step_result.state``)."""

    NONE = "none"  # the answer had no steps
    ACTIVE = "active"
    SOLVED = "solved"
    EXHAUSTED = "exhausted"  # every step was tried without a fix


class Passage(Protocol):
    """What step extraction needs of a retrieved passage."""

    @property
    def text(self) -> str: ...


@dataclasses.dataclass(frozen=True)
class Step:
    step_id: str
    text: str
    citation: dict[str, object] | None = None
    outcome: Outcome | None = None

    def to_json(self) -> dict[str, object]:
        return {"step_id": self.step_id, "text": self.text, "citation": self.citation, "outcome": self.outcome}

    @classmethod
    def from_json(cls, data: object) -> Step | None:
        """A stored step; None for anything that is not one. Early records named the id ``id``."""
        if not isinstance(data, Mapping):
            return None
        step_id = data.get("step_id") or data.get("id")
        text = data.get("text")
        citation = data.get("citation")
        outcome = data.get("outcome")
        return cls(step_id=str(step_id or ""), text=text if isinstance(text, str) else "",
                   citation=dict(citation) if isinstance(citation, Mapping) else None,
                   outcome=outcome if is_outcome(outcome) else None)


@dataclasses.dataclass(frozen=True)
class Transition:
    """The state after an outcome and what follows: the next step (index into ``state.steps``) or none."""

    state: DiagnosticState
    next_index: int | None

    @property
    def next_step(self) -> Step | None:
        return None if self.next_index is None else self.state.steps[self.next_index]

    @property
    def solved(self) -> bool:
        return self.state.phase is Phase.SOLVED and self.next_index is None

    @property
    def exhausted(self) -> bool:
        return self.state.phase is Phase.EXHAUSTED and self.next_index is None


class UnknownStep(KeyError):
    """The step id is not one of the current diagnostic's steps."""


@dataclasses.dataclass(frozen=True)
class DiagnosticState:
    message_id: str = ""  # the answer the steps came from
    steps: tuple[Step, ...] = ()
    current: int = 0
    failed: int = 0  # steps reported not_fixed, over the whole session
    tried: tuple[Step, ...] = ()  # steps of earlier answers that have an outcome
    phase: Phase = Phase.NONE
    offered: bool = False  # a human was offered after too many failed steps

    @classmethod
    def start(cls, message_id: str, steps: Sequence[Step], previous: DiagnosticState | None) -> DiagnosticState:
        """The state for a new answer's steps; what was tried before and the failure count carry over."""
        tried: list[Step] = []
        failed = 0
        if previous is not None:
            tried = [*previous.tried, *(s for s in previous.steps if s.outcome)]
            failed = previous.failed
        return cls(message_id=message_id, steps=tuple(steps), current=0, failed=failed,
                   tried=tuple(tried[-MAX_TRIED:]), phase=Phase.ACTIVE if steps else Phase.NONE)

    def index_of(self, step_id: str) -> int:
        for i, step in enumerate(self.steps):
            if step.step_id == step_id:
                return i
        raise UnknownStep(step_id)

    def apply(self, step_id: str, outcome: Outcome) -> Transition:
        """Record how a step went: a fix ends the diagnostic, otherwise the next untried step comes."""
        index = self.index_of(step_id)
        steps = list(self.steps)
        steps[index] = dataclasses.replace(steps[index], outcome=outcome)
        state = dataclasses.replace(self, steps=tuple(steps))
        if outcome == "fixed":
            return Transition(dataclasses.replace(state, phase=Phase.SOLVED), None)
        if outcome == "not_fixed":
            state = dataclasses.replace(state, failed=state.failed + 1)
        remaining = [i for i, s in enumerate(steps) if s.outcome is None]
        if remaining:
            return Transition(dataclasses.replace(state, current=remaining[0]), remaining[0])
        return Transition(dataclasses.replace(state, phase=Phase.EXHAUSTED), None)

    def offer_due(self, after_failed: int) -> bool:
        """Should a human be offered now (``after_failed`` failed steps, not offered yet)?"""
        return self.failed >= after_failed and not self.offered

    def with_offer(self) -> DiagnosticState:
        return dataclasses.replace(self, offered=True)

    def attempted_texts(self) -> set[str]:
        """The text of every step proposed so far in the session (to avoid proposing it again)."""
        return {s.text for s in (*self.tried, *self.steps)}

    def summary(self) -> str:
        """For the prompt: what was tried and how it went, so the next steps adapt."""
        done = [s for s in (*self.tried, *self.steps) if s.outcome]
        return "\n".join(f"- {s.text} -> {_OUTCOME_WORDS.get(s.outcome or '', s.outcome)}" for s in done[-MAX_SUMMARY:])

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "message_id": self.message_id, "steps": [s.to_json() for s in self.steps], "current": self.current,
            "failed": self.failed, "tried": [s.to_json() for s in self.tried], "state": self.phase.value}
        if self.offered:
            data["offered"] = True
        return data

    def session_patch(self) -> dict[str, object]:
        """The change to ``sessions.state`` that stores this state."""
        return {SESSION_KEY: self.to_json()}

    @classmethod
    def from_json(cls, data: object) -> DiagnosticState | None:
        """A stored state (any earlier shape of it); None when there is none."""
        if not isinstance(data, Mapping) or not data:
            return None
        steps = _steps(data.get("steps"))
        stored = data.get("state")
        phase = next((p for p in Phase if p.value == stored), Phase.ACTIVE if steps else Phase.NONE)
        return cls(message_id=str(data.get("message_id") or ""), steps=steps, current=_count(data.get("current")),
                   failed=_count(data.get("failed")), tried=_steps(data.get("tried")),
                   phase=phase,
                   offered=data.get("offered") is True)

    @classmethod
    def from_session(cls, session_state: Mapping[str, object] | None) -> DiagnosticState | None:
        """The diagnostic of a session, from its ``sessions.state``."""
        return cls.from_json((session_state or {}).get(SESSION_KEY))


def _steps(data: object) -> tuple[Step, ...]:
    if not isinstance(data, list):
        return ()
    return tuple(step for step in map(Step.from_json, data) if step is not None)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def extract_steps(text: str, citations: Iterable[Mapping[str, object]]) -> list[Step]:
    """Numbered (or bulleted, when there are no numbers) lines of an answer as steps."""
    lines = [m.group(1) for line in text.splitlines() if (m := _NUMBERED.match(line))]
    if not lines:
        lines = [m.group(1) for line in text.splitlines() if (m := _LISTED.match(line))]
    by_n = {c["n"]: c for c in citations}
    steps = []
    for line in lines[:MAX_STEPS]:
        clean = line.replace("**", "").strip()
        if len(clean) < 4:
            continue
        cite = next((by_n[int(n)] for n in _CITE.findall(clean) if int(n) in by_n), None)
        steps.append(Step(step_id=uuid.uuid4().hex[:12], text=clean, citation=dict(cite) if cite else None))
    return steps


def steps_from_passages(passages: Sequence[Passage], citations: Sequence[Mapping[str, object]]) -> list[Step]:
    """Retrieval-only steps: the numbered procedure (or table rows) of the best passage that has one."""
    for i, p in enumerate(passages):
        found = extract_steps(p.text, [])
        if len(found) >= 2:
            cite = dict(citations[i]) if i < len(citations) else None
            return [dataclasses.replace(step, citation=cite) for step in found]
    return []
