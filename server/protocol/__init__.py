"""The WebSocket protocol (version 1): every frame as a type, validation, error and close codes.

Both directions are JSON text frames with a ``type``; audio travels in binary frames between
``audio_start`` and ``audio_end``. Each frame is a frozen dataclass whose class constant ``TYPE`` is
its tag on the wire: ``parse_client_frame`` turns a client's text into one of ``CLIENT_FRAMES``, and
``dumps`` turns a server frame into its JSON text. Session frames (``SessionFrame``) are numbered
with ``seq`` and replayed on resume; connection frames (``ConnectionFrame``) concern one socket.

The package sits below every component that sends or reads frames (chat, support) and imports only
``core``: frames.py (base classes, version, close codes, vocabulary), fields.py (how fields are read
and validated), inbound.py (client frames), outbound.py (server frames), codec.py (JSON text both
ways), schema.py (the JSON Schema). docs/protocol.md is the reference for clients;
``python -m server.protocol --schema`` writes docs/protocol.schema.json.
"""

from __future__ import annotations

from server.protocol.codec import dumps, parse_client_frame, to_wire
from server.protocol.fields import LANG, Count, Flag, Question, Reader, Text, Token, Version
from server.protocol.frames import (
    AUDIO_FORMATS,
    OMIT,
    PROTOCOL_VERSION,
    AudioFormat,
    ClientFrame,
    Close,
    ConnectionFrame,
    Frame,
    JSONObject,
    Omit,
    Outcome,
    ProtocolError,
    Rating,
    ServerFrame,
    SessionFrame,
    StepState,
)
from server.protocol.inbound import (
    CLIENT_FRAMES,
    AudioCancel,
    AudioEnd,
    AudioStart,
    Cancel,
    Escalate,
    Feedback,
    Hello,
    Message,
    Ping,
    Resolve,
    SelectMachine,
    StepOutcome,
    Typing,
)
from server.protocol.outbound import (
    SERVER_FRAMES,
    Ack,
    AgentTyping,
    Delta,
    Done,
    Error,
    Escalated,
    EscalationOffer,
    FeedbackRecorded,
    Handover,
    History,
    Machine,
    Pong,
    Ready,
    Resolved,
    Status,
    Step,
    StepResult,
    SupportMessage,
    Transcript,
    UserMessage,
)
from server.protocol.schema import json_schema, schema_text

__all__ = [
    "AUDIO_FORMATS", "CLIENT_FRAMES", "LANG", "OMIT", "PROTOCOL_VERSION", "SERVER_FRAMES",
    "Ack", "AgentTyping", "AudioCancel", "AudioEnd", "AudioFormat", "AudioStart", "Cancel", "ClientFrame", "Close",
    "ConnectionFrame", "Count", "Delta", "Done", "Error", "Escalate", "Escalated", "EscalationOffer",
    "Feedback", "FeedbackRecorded", "Flag", "Frame", "Handover", "Hello", "History", "JSONObject", "Machine", "Message",
    "Omit", "Outcome", "Ping", "Pong", "ProtocolError", "Question", "Rating", "Reader", "Ready", "Resolve",
    "Resolved", "SelectMachine", "ServerFrame", "SessionFrame", "Status", "Step", "StepOutcome", "StepResult",
    "StepState", "SupportMessage", "Text", "Token", "Transcript", "Typing", "UserMessage", "Version",
    "dumps", "json_schema", "parse_client_frame", "schema_text", "to_wire",
]
