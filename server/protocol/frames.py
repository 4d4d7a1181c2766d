"""What every frame is: the base classes, the protocol version, close codes and the shared vocabulary.

A frame is a frozen dataclass whose class constant ``TYPE`` is its ``type`` on the wire; its fields
are the other keys. Session frames (``SessionFrame``) are numbered with ``seq`` and replayed on
resume; connection frames (``ConnectionFrame``) concern one socket.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from enum import IntEnum
from typing import ClassVar, Literal, TypeVar

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
    CONSENT_REQUIRED = 4005  # CONSENT_REQUIRED is on and the user has not agreed (or withdrew)
    HELLO_TIMEOUT = 4008
    RATE_LIMITED = 4029  # too many connections or sessions opened by this user or address: retry later
    PROTOCOL_ERROR = 4400


class ProtocolError(BadRequest):
    """A frame the server cannot accept; answered with an error frame (the connection stays open)."""

    default_code = "bad_frame"


AUDIO_FORMATS = ("webm", "wav", "ogg", "mp3", "m4a")
AudioFormat = Literal["webm", "wav", "ogg", "mp3", "m4a"]
Rating = Literal["up", "down"]
# The words of a diagnostic on the wire. The engine has its own (server.engine.diagnostics), which a
# unit test keeps equal to these: the protocol is below the engine and cannot import it.
Outcome = Literal["fixed", "not_fixed", "cannot_do"]


class StepState(enum.StrEnum):
    """Where a diagnostic stands, as ``step_result.state``."""

    NONE = "none"
    ACTIVE = "active"
    SOLVED = "solved"
    EXHAUSTED = "exhausted"


JSONObject = dict[str, object]


class Frame:
    """A protocol frame; ``TYPE`` is its ``type`` on the wire, its fields are the other keys."""

    TYPE: ClassVar[str]


class ClientFrame(Frame):
    """A frame a client sends."""


class ServerFrame(Frame):
    """A frame the server sends."""


class SessionFrame(ServerFrame):
    """Numbered with ``seq``, kept in the session's replay stream, delivered to every connection of it."""


class ConnectionFrame(ServerFrame):
    """For one connection only, not numbered."""


class Omit:
    """Marks a server frame field that is left out of the JSON while it is None."""


OMIT = Omit()

_T = TypeVar("_T", bound=Frame)


def frame_table(*classes: type[_T]) -> Mapping[str, type[_T]]:
    """Frame classes by their ``type``; two classes of one type are a mistake caught at import."""
    table: dict[str, type[_T]] = {}
    for cls in classes:
        assert cls.TYPE not in table, f"two frames named {cls.TYPE}"
        table[cls.TYPE] = cls
    return table
