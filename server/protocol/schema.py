"""The JSON Schema of both directions, generated from the frame classes (docs/protocol.schema.json).

``python -m server.protocol --schema > docs/protocol.schema.json`` writes it; a unit test checks that
the committed file is the generated one.
"""

from __future__ import annotations

import json
import sys
import types
from enum import Enum
from typing import Literal, Union, get_args, get_origin

from server.protocol.fields import Token, Version, frame_fields, literal_choices
from server.protocol.frames import PROTOCOL_VERSION, ConnectionFrame, Frame, SessionFrame
from server.protocol.inbound import CLIENT_FRAMES
from server.protocol.outbound import SERVER_FRAMES


def _type_schema(hint: object) -> dict[str, object]:
    if hint is type(None):
        return {"type": "null"}
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return {"anyOf": [_type_schema(arg) for arg in get_args(hint)]}
    if origin is Literal:
        return {"enum": list(get_args(hint))}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return {"enum": [m.value for m in hint]}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if origin is list:
        return {"type": "array", "items": _type_schema(get_args(hint)[0])}
    if origin is dict:
        value = get_args(hint)[1]
        return {"type": "object"} if value is object else {"type": "object", "additionalProperties": _type_schema(value)}
    raise TypeError(f"no JSON Schema for {hint!r}")


def _frame_schema(cls: type[Frame]) -> dict[str, object]:
    properties: dict[str, object] = {"type": {"const": cls.TYPE}}
    required = ["type"]
    if issubclass(cls, SessionFrame):
        properties["seq"] = {"type": "integer", "minimum": 1}
        if not issubclass(cls, ConnectionFrame):
            required.append("seq")
    for f in frame_fields(cls):
        schema: dict[str, object]
        if f.reader is not None:
            schema = f.reader.schema(literal_choices(f.hint))
            if not f.required and not isinstance(f.reader, Token | Version):  # null stands for absent
                schema = {"anyOf": [schema, {"type": "null"}]}
        elif f.omit_none:  # left out rather than null
            schema = _type_schema(next(arg for arg in get_args(f.hint) if arg is not type(None)))
        else:
            schema = _type_schema(f.hint)
        properties[f.name] = schema
        if f.required or (f.reader is None and not f.omit_none):
            required.append(f.name)
    out: dict[str, object] = {"title": cls.TYPE, "type": "object", "properties": properties, "required": required}
    if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):  # not the generated signature
        out["description"] = " ".join(cls.__doc__.split())
    return out


def json_schema() -> dict[str, object]:
    """The JSON Schema of the protocol, both directions (written to docs/protocol.schema.json)."""
    defs: dict[str, object] = {}
    for direction, frames in (("client", CLIENT_FRAMES), ("server", SERVER_FRAMES)):
        for kind, cls in frames.items():
            defs[f"{direction}.{kind}"] = _frame_schema(cls)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "protocol.schema.json",
        "title": f"ABParts assistant WebSocket protocol, version {PROTOCOL_VERSION}",
        "description": "Generated from server/protocol/ by `python -m server.protocol --schema`; "
                       "docs/protocol.md explains the frames.",
        "oneOf": [{"$ref": "#/$defs/client"}, {"$ref": "#/$defs/server"}],
        "$defs": {
            "client": {"description": "A frame a client sends.",
                       "oneOf": [{"$ref": f"#/$defs/client.{k}"} for k in CLIENT_FRAMES]},
            "server": {"description": "A frame the server sends.",
                       "oneOf": [{"$ref": f"#/$defs/server.{k}"} for k in SERVER_FRAMES]},
            **defs,
        },
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """``--schema``: write the JSON Schema to stdout."""
    if argv != ["--schema"]:
        print("usage: python -m server.protocol --schema > docs/protocol.schema.json", file=sys.stderr)
        return 2
    sys.stdout.write(schema_text())
    return 0
