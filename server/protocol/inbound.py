"""The frames a client sends; ``parse_client_frame`` (codec) reads each field with its reader."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Annotated

from server.protocol.fields import LANG, Count, Flag, Question, Text, Token, Version
from server.protocol.frames import PROTOCOL_VERSION, AudioFormat, ClientFrame, Outcome, Rating, frame_table


@dataclasses.dataclass(frozen=True)
class Hello(ClientFrame):
    TYPE = "hello"
    v: Annotated[int, Version()] = PROTOCOL_VERSION
    token: Annotated[str | None, Token()] = None
    session_id: Annotated[str | None, Text()] = None
    last_seq: Annotated[int | None, Count()] = None
    lang: Annotated[str | None, LANG] = None
    machine_id: Annotated[str | None, Text()] = None


@dataclasses.dataclass(frozen=True)
class Message(ClientFrame):
    """A question. ``lang`` only when the person explicitly picked a language (the answer is then in
    it); without it the answer is in the language the text is written in."""

    TYPE = "message"
    # the order of the fields is the order they are checked in (the first problem is the one reported)
    text: Annotated[str, Question()]
    client_id: Annotated[str, Text(100)]
    lang: Annotated[str | None, LANG] = None


@dataclasses.dataclass(frozen=True)
class Cancel(ClientFrame):
    TYPE = "cancel"


@dataclasses.dataclass(frozen=True)
class Ping(ClientFrame):
    TYPE = "ping"


@dataclasses.dataclass(frozen=True)
class SelectMachine(ClientFrame):
    TYPE = "select_machine"
    machine_id: Annotated[str, Text()]


@dataclasses.dataclass(frozen=True)
class StepOutcome(ClientFrame):
    TYPE = "step_outcome"
    outcome: Annotated[Outcome, Text(20)]
    step_id: Annotated[str, Text()]
    comment: Annotated[str | None, Text(1000)] = None


@dataclasses.dataclass(frozen=True)
class Feedback(ClientFrame):
    TYPE = "feedback"
    rating: Annotated[Rating, Text(10)]
    message_id: Annotated[str, Text()]
    comment: Annotated[str | None, Text(2000)] = None


@dataclasses.dataclass(frozen=True)
class Escalate(ClientFrame):
    TYPE = "escalate"
    reason: Annotated[str, Text(2000)] = ""


@dataclasses.dataclass(frozen=True)
class Resolve(ClientFrame):
    TYPE = "resolve"
    resolved: Annotated[bool, Flag()]
    save: Annotated[bool, Flag(strict=False)] = False


@dataclasses.dataclass(frozen=True)
class Typing(ClientFrame):
    """A support agent who has taken the conversation is writing (``active``) or stopped."""

    TYPE = "typing"
    active: Annotated[bool, Flag()]


@dataclasses.dataclass(frozen=True)
class AudioStart(ClientFrame):
    TYPE = "audio_start"
    format: Annotated[AudioFormat, Text(10)] = "webm"
    lang: Annotated[str | None, LANG] = None


@dataclasses.dataclass(frozen=True)
class AudioEnd(ClientFrame):
    TYPE = "audio_end"


@dataclasses.dataclass(frozen=True)
class AudioCancel(ClientFrame):
    TYPE = "audio_cancel"


CLIENT_FRAMES: Mapping[str, type[ClientFrame]] = frame_table(
    Hello, Message, Cancel, Ping, SelectMachine, StepOutcome, Feedback, Escalate, Resolve, AudioStart, AudioEnd,
    AudioCancel, Typing)
