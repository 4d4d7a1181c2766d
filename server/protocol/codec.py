"""Frames to and from JSON text: client text into a typed frame, a typed frame into the text that is sent."""

from __future__ import annotations

import json
import re
from enum import Enum

from server.protocol.fields import ReadContext, frame_fields, literal_choices
from server.protocol.frames import ClientFrame, Frame, ProtocolError
from server.protocol.inbound import CLIENT_FRAMES

# No client frame nests deeper than 3 (an object in a frame); anything much deeper is refused before
# json.loads sees it, which would otherwise recurse once per level (RecursionError near 1,000).
MAX_NESTING = 32
_OPENERS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]')


def nesting_depth(raw: str, *, stop_at: int = MAX_NESTING) -> int:
    """How deeply ``raw`` nests arrays and objects (brackets inside strings do not count).

    0 when ``raw`` has too few brackets to nest deeper than ``stop_at``; counting stops once
    ``stop_at`` is exceeded, so a hostile frame costs one pass at most.
    """
    if raw.count("[") + raw.count("{") <= stop_at:
        return 0  # cannot be deeper than that; the common case costs two counts
    depth = deepest = 0
    for match in _OPENERS.finditer(raw):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_at:
                    return deepest
        elif token in "]}":
            depth -= 1
    return deepest


def loads_bounded(raw: str) -> object:
    """``json.loads`` for untrusted text: refuses deep nesting and oversized numbers with ProtocolError."""
    if nesting_depth(raw) > MAX_NESTING:
        raise ProtocolError(f"frame nests deeper than {MAX_NESTING} levels", code="bad_json")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"frame is not valid JSON: {exc.msg}", code="bad_json") from exc
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4,300 digits
        raise ProtocolError("frame is not acceptable JSON: a value is too large", code="bad_json") from exc


def parse_client_frame(raw: str, *, max_text_chars: int) -> ClientFrame:
    """Decode and validate one client frame; return it typed or raise ProtocolError."""
    data = loads_bounded(raw)
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
