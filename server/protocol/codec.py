"""Frames to and from JSON text: client text into a typed frame, a typed frame into the text that is sent."""

from __future__ import annotations

import json
from enum import Enum

from server.protocol.fields import ReadContext, frame_fields, literal_choices
from server.protocol.frames import ClientFrame, Frame, ProtocolError
from server.protocol.inbound import CLIENT_FRAMES


def parse_client_frame(raw: str, *, max_text_chars: int) -> ClientFrame:
    """Decode and validate one client frame; return it typed or raise ProtocolError."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"frame is not valid JSON: {exc.msg}", code="bad_json") from exc
    if not isinstance(data, dict):
        raise ProtocolError("a frame must be a JSON object", code="bad_frame")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("a frame needs a string 'type'", code="bad_frame")
    cls = CLIENT_FRAMES.get(kind)
    if cls is None:
        raise ProtocolError(f"unknown frame type {kind!r}", code="unknown_type")
    ctx = ReadContext(data, kind, max_text_chars)
    values: dict[str, object] = {}
    for f in frame_fields(cls):
        assert f.reader is not None, f"{cls.__name__}.{f.name} has no reader"
        values[f.name] = f.reader.read(f.name, ctx, f.required, f.default, literal_choices(f.hint))
    return cls(**values)


def to_wire(frame: Frame, *, seq: int | None = None) -> dict[str, object]:
    """The JSON object of a frame: ``type`` first, then ``seq`` (session frames), then its fields."""
    data: dict[str, object] = {"type": frame.TYPE}
    if seq is not None:
        data["seq"] = seq
    for f in frame_fields(type(frame)):
        value = getattr(frame, f.name)
        if value is None and f.omit_none:
            continue
        data[f.name] = value.value if isinstance(value, Enum) else value
    return data


def dumps(frame: Frame, *, seq: int | None = None) -> str:
    """The JSON text of a frame, as it goes on the socket."""
    return json.dumps(to_wire(frame, seq=seq), ensure_ascii=False, separators=(",", ":"))
