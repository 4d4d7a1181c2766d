"""The WebSocket protocol (version 1): frame types, validation, error and close codes.

Both directions are JSON text frames with a ``type``; audio travels in binary frames between
``audio_start`` and ``audio_end``. docs/protocol.md is the reference for clients.
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

from core.errors import BadRequest

PROTOCOL_VERSION = 1


class Close(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    TOO_BIG = 1009
    INTERNAL = 1011
    RESTARTING = 1012  # the replica is shutting down: reconnect (to any replica) and resume
    TRY_AGAIN = 1013  # the client fell too far behind: reconnect and resume
    TOKEN_INVALID = 4001
    TOKEN_EXPIRED = 4002
    ORIGIN_FORBIDDEN = 4003
    SESSION_UNKNOWN = 4004
    HELLO_TIMEOUT = 4008
    PROTOCOL_ERROR = 4400


class ProtocolError(BadRequest):
    """A frame the server cannot accept; answered with an error frame (the connection stays open)."""

    default_code = "bad_frame"


def _str(frame: dict[str, Any], key: str, *, required: bool = True, max_len: int = 200) -> str | None:
    value = frame.get(key)
    if value is None:
        if required:
            raise ProtocolError(f"'{key}' is required in a {frame.get('type')} frame", code="missing_field")
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"'{key}' must be a string", code="bad_field")
    if len(value) > max_len:
        raise ProtocolError(f"'{key}' is longer than {max_len} characters", code="bad_field")
    return value


def _int(frame: dict[str, Any], key: str) -> int | None:
    value = frame.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"'{key}' must be a non-negative integer", code="bad_field")
    return value


LANGS = ("en", "el", "ar", "es", "tr", "no")
OUTCOMES = ("fixed", "not_fixed", "cannot_do")
AUDIO_FORMATS = ("webm", "wav", "ogg", "mp3", "m4a")


def _lang(frame: dict[str, Any]) -> str | None:
    lang = _str(frame, "lang", required=False, max_len=8)
    if lang == "nb":
        lang = "no"
    if lang is not None and lang not in LANGS:
        raise ProtocolError(f"'lang' must be one of {', '.join(LANGS)}", code="bad_field")
    return lang


def parse_client_frame(raw: str, *, max_text_chars: int) -> dict[str, Any]:
    """Decode and validate one client frame; return a normalised dict or raise ProtocolError."""
    try:
        frame = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"frame is not valid JSON: {exc.msg}", code="bad_json") from exc
    if not isinstance(frame, dict):
        raise ProtocolError("a frame must be a JSON object", code="bad_frame")
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("a frame needs a string 'type'", code="bad_frame")
    if kind == "hello":
        v = frame.get("v", PROTOCOL_VERSION)
        if v != PROTOCOL_VERSION:
            raise ProtocolError(f"protocol version {v!r} is not supported (use {PROTOCOL_VERSION})", code="bad_version")
        return {"type": kind, "token": frame.get("token"), "session_id": _str(frame, "session_id", required=False),
                "last_seq": _int(frame, "last_seq"), "lang": _lang(frame),
                "machine_id": _str(frame, "machine_id", required=False)}
    if kind == "message":
        text = _str(frame, "text", max_len=max_text_chars * 4)
        assert text is not None
        if len(text) > max_text_chars:
            raise ProtocolError(f"the message is longer than {max_text_chars} characters", code="message_too_long")
        if not text.strip():
            raise ProtocolError("the message is empty", code="message_empty")
        return {"type": kind, "client_id": _str(frame, "client_id", max_len=100), "text": text, "lang": _lang(frame)}
    if kind in ("cancel", "ping", "audio_end", "audio_cancel"):
        return {"type": kind}
    if kind == "select_machine":
        return {"type": kind, "machine_id": _str(frame, "machine_id")}
    if kind == "step_outcome":
        outcome = _str(frame, "outcome", max_len=20)
        if outcome not in OUTCOMES:
            raise ProtocolError(f"'outcome' must be one of {', '.join(OUTCOMES)}", code="bad_field")
        return {"type": kind, "step_id": _str(frame, "step_id"), "outcome": outcome,
                "comment": _str(frame, "comment", required=False, max_len=1000)}
    if kind == "feedback":
        rating = _str(frame, "rating", max_len=10)
        if rating not in ("up", "down"):
            raise ProtocolError("'rating' must be 'up' or 'down'", code="bad_field")
        return {"type": kind, "message_id": _str(frame, "message_id"), "rating": rating,
                "comment": _str(frame, "comment", required=False, max_len=2000)}
    if kind == "escalate":
        return {"type": kind, "reason": _str(frame, "reason", required=False, max_len=2000) or ""}
    if kind == "resolve":
        resolved = frame.get("resolved")
        if not isinstance(resolved, bool):
            raise ProtocolError("'resolved' must be true or false", code="bad_field")
        return {"type": kind, "resolved": resolved, "save": bool(frame.get("save", False))}
    if kind == "audio_start":
        fmt = _str(frame, "format", required=False, max_len=10) or "webm"
        if fmt not in AUDIO_FORMATS:
            raise ProtocolError(f"'format' must be one of {', '.join(AUDIO_FORMATS)}", code="bad_field")
        return {"type": kind, "format": fmt, "lang": _lang(frame)}
    raise ProtocolError(f"unknown frame type {kind!r}", code="unknown_type")


def dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
