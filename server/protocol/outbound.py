"""The frames the server sends: connection frames for one socket, session frames numbered per session."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Annotated

from server.protocol.frames import (
    OMIT,
    ConnectionFrame,
    JSONObject,
    Outcome,
    Rating,
    ServerFrame,
    SessionFrame,
    StepState,
    frame_table,
)


@dataclasses.dataclass(frozen=True)
class Ready(ConnectionFrame):
    TYPE = "ready"
    protocol: int
    session_id: str
    last_seq: int
    resumed: bool
    lang: str
    user: JSONObject
    machine: JSONObject | None
    limits: JSONObject
    machine_context: bool = True  # false: no host database, so the widget offers no machine picker


@dataclasses.dataclass(frozen=True)
class History(ConnectionFrame):
    TYPE = "history"
    messages: list[JSONObject]
    last_seq: int
    status: Annotated[str | None, OMIT] = None  # the session's: open | escalated | resolved | closed


@dataclasses.dataclass(frozen=True)
class Ack(ConnectionFrame):
    TYPE = "ack"
    client_id: str
    message_id: str
    duplicate: bool


@dataclasses.dataclass(frozen=True)
class Pong(ConnectionFrame):
    TYPE = "pong"
    ts: float


@dataclasses.dataclass(frozen=True)
class Transcript(ConnectionFrame):
    TYPE = "transcript"
    partial: bool
    text: str
    language: str
    duration: float


@dataclasses.dataclass(frozen=True)
class Error(SessionFrame, ConnectionFrame):
    """About a turn (a session frame, with ``message_id``) or about a frame this client sent (``client_id``)."""

    TYPE = "error"
    code: str
    message_id: Annotated[str | None, OMIT] = dataclasses.field(default=None, kw_only=True)
    message: str
    client_id: Annotated[str | None, OMIT] = dataclasses.field(default=None, kw_only=True)
    retry_after: Annotated[float | None, OMIT] = dataclasses.field(default=None, kw_only=True)  # rate limits: seconds


@dataclasses.dataclass(frozen=True)
class UserMessage(SessionFrame):
    TYPE = "user_message"
    message_id: str
    client_id: str
    text: str
    lang: str


@dataclasses.dataclass(frozen=True)
class Status(SessionFrame):
    TYPE = "status"
    message_id: str
    state: str
    eta_ms: int


@dataclasses.dataclass(frozen=True)
class Delta(SessionFrame):
    TYPE = "delta"
    message_id: str
    text: str


@dataclasses.dataclass(frozen=True)
class Step(SessionFrame):
    """The current diagnostic step, awaiting an outcome; ``index`` counts from 1."""

    TYPE = "step"
    message_id: str
    step_id: str
    index: int
    total: int
    text: str
    citation: JSONObject | None


@dataclasses.dataclass(frozen=True)
class StepResult(SessionFrame):
    TYPE = "step_result"
    step_id: str
    outcome: Outcome
    state: StepState
    failed: int


@dataclasses.dataclass(frozen=True)
class EscalationOffer(SessionFrame):
    TYPE = "escalation_offer"
    reason: str


@dataclasses.dataclass(frozen=True)
class Done(SessionFrame):
    TYPE = "done"
    message_id: str
    status: str
    mode: str
    citations: list[JSONObject]
    usage: JSONObject
    lang: Annotated[str | None, OMIT] = None
    error_code: Annotated[str | None, OMIT] = None


@dataclasses.dataclass(frozen=True)
class Machine(SessionFrame):
    TYPE = "machine"
    machine: JSONObject


@dataclasses.dataclass(frozen=True)
class FeedbackRecorded(SessionFrame):
    TYPE = "feedback_recorded"
    message_id: str
    rating: Rating


@dataclasses.dataclass(frozen=True)
class Escalated(SessionFrame):
    TYPE = "escalated"
    ticket_id: int
    ticket_number: str
    contact: dict[str, str]
    trigger: str
    status: str
    new: bool  # False when the session already had an open ticket


@dataclasses.dataclass(frozen=True)
class SupportMessage(SessionFrame):
    TYPE = "support_message"
    message_id: str
    agent: str
    text: str


@dataclasses.dataclass(frozen=True)
class Handover(SessionFrame):
    """Who answers the session changed: ``joined`` (an agent took it: ``mode`` human, the assistant is silent),
    ``released`` (handed back to the assistant), ``closed`` (the conversation is closed), ``unclaimed`` (nobody
    took the ticket in time; the assistant keeps answering). ``text`` is the notice in the session's language."""

    TYPE = "handover"
    event: str
    mode: str  # human | assistant
    agent: str
    text: str
    contact: Annotated[dict[str, str] | None, OMIT] = None


@dataclasses.dataclass(frozen=True)
class AgentTyping(SessionFrame):
    """The agent who took the conversation is writing (``active``) or stopped; ``text`` says so in the user's language."""

    TYPE = "agent_typing"
    agent: str
    active: bool
    text: str


@dataclasses.dataclass(frozen=True)
class Resolved(SessionFrame):
    TYPE = "resolved"
    resolved: bool
    saved: bool


SERVER_FRAMES: Mapping[str, type[ServerFrame]] = frame_table(
    Ready, History, Ack, UserMessage, Status, Delta, Step, StepResult, EscalationOffer, Done, Error, Pong,
    Transcript, Machine, FeedbackRecorded, Escalated, SupportMessage, Resolved, Handover, AgentTyping)
