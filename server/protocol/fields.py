"""How the fields of a frame are read: validation of client fields, and each frame class's field list.

Fields of client frames carry a reader in ``Annotated[...]``: it validates the JSON value (with the
error code and message clients see) and describes the field in the JSON Schema. Server frame fields
may carry ``OMIT`` instead: left out of the JSON while None.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Annotated, Literal, Union, get_args, get_origin, get_type_hints

from core.languages import LANGUAGES
from server.protocol.frames import PROTOCOL_VERSION, Frame, Omit, ProtocolError


@dataclasses.dataclass(frozen=True)
class ReadContext:
    """What a field reader knows about the frame being read."""

    frame: Mapping[str, object]
    kind: str  # the frame's type
    max_text_chars: int


@dataclasses.dataclass(frozen=True)
class Text:
    """A string of at most ``max_len`` characters; ``choices`` (or the field's ``Literal``) restricts it.

    An absent optional field takes the field's default; a blank one too when that default is a string.
    """

    max_len: int = 200
    choices: tuple[str, ...] = ()
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def read(self, key: str, ctx: ReadContext, required: bool, default: object, choices: tuple[str, ...]) -> object:
        value = ctx.frame.get(key)
        if value is None:
            if required:
                raise ProtocolError(f"'{key}' is required in a {ctx.kind} frame", code="missing_field")
            return default
        if not isinstance(value, str):
            raise ProtocolError(f"'{key}' must be a string", code="bad_field")
        if len(value) > self.max_len:
            raise ProtocolError(f"'{key}' is longer than {self.max_len} characters", code="bad_field")
        if not value and isinstance(default, str):
            return default
        value = self.aliases.get(value, value)
        allowed = self.choices or choices
        if allowed and value not in allowed:
            raise ProtocolError(f"'{key}' must be {_one_of(allowed)}", code="bad_field")
        return value

    def schema(self, choices: tuple[str, ...]) -> dict[str, object]:
        allowed = self.choices or choices
        if allowed:
            return {"type": "string", "enum": [*allowed, *self.aliases]}
        return {"type": "string", "maxLength": self.max_len}


@dataclasses.dataclass(frozen=True)
class Question:
    """The text of a question: not blank, at most MESSAGE_MAX_CHARS characters (a server setting)."""

    def read(self, key: str, ctx: ReadContext, required: bool, default: object, choices: tuple[str, ...]) -> object:
        text = Text(ctx.max_text_chars * 4).read(key, ctx, True, None, ())
        assert isinstance(text, str)
        if len(text) > ctx.max_text_chars:
            raise ProtocolError(f"the message is longer than {ctx.max_text_chars} characters", code="message_too_long")
        if not text.strip():
            raise ProtocolError("the message is empty", code="message_empty")
        return text

    def schema(self, choices: tuple[str, ...]) -> dict[str, object]:
        return {"type": "string", "minLength": 1, "description": "at most MESSAGE_MAX_CHARS characters, not blank"}


@dataclasses.dataclass(frozen=True)
class Count:
    """A non-negative integer, or absent."""

    def read(self, key: str, ctx: ReadContext, required: bool, default: object, choices: tuple[str, ...]) -> object:
        value = ctx.frame.get(key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ProtocolError(f"'{key}' must be a non-negative integer", code="bad_field")
        return value

    def schema(self, choices: tuple[str, ...]) -> dict[str, object]:
        return {"type": "integer", "minimum": 0}


@dataclasses.dataclass(frozen=True)
class Flag:
    """``strict``: true or false. Otherwise any value, taken for its truth (absent is false)."""

    strict: bool = True

    def read(self, key: str, ctx: ReadContext, required: bool, default: object, choices: tuple[str, ...]) -> object:
        if not self.strict:
            return bool(ctx.frame.get(key, default))
        value = ctx.frame.get(key)
        if not isinstance(value, bool):
            raise ProtocolError(f"'{key}' must be true or false", code="bad_field")
        return value

    def schema(self, choices: tuple[str, ...]) -> dict[str, object]:
        return {"type": "boolean"}


@dataclasses.dataclass(frozen=True)
class Version:
    """The protocol version the client speaks; absent means the current one."""

    def read(self, key: str, ctx: ReadContext, required: bool, default: object, choices: tuple[str, ...]) -> object:
        v = ctx.frame.get(key, PROTOCOL_VERSION)
        if v != PROTOCOL_VERSION:
            raise ProtocolError(f"protocol version {v!r} is not supported (use {PROTOCOL_VERSION})", code="bad_version")
        return PROTOCOL_VERSION

    def schema(self, choices: tuple[str, ...]) -> dict[str, object]:
        return {"const": PROTOCOL_VERSION}


@dataclasses.dataclass(frozen=True)
class Token:
    """The host app's token, checked by the token verifier (which says ``token_missing`` for a non-string)."""

    def read(self, key: str, ctx: ReadContext, required: bool, default: object, choices: tuple[str, ...]) -> object:
        value = ctx.frame.get(key)
        return value if isinstance(value, str) else None

    def schema(self, choices: tuple[str, ...]) -> dict[str, object]:
        return {"type": ["string", "null"], "description": "JWT signed by the host app"}


Reader = Text | Question | Count | Flag | Version | Token
LANG = Text(8, choices=LANGUAGES, aliases={"nb": "no"})


def _one_of(choices: tuple[str, ...]) -> str:
    if len(choices) == 2:
        return f"'{choices[0]}' or '{choices[1]}'"
    return "one of " + ", ".join(choices)


# -- the fields of a frame class, from its annotations -----------------------------------------------


@dataclasses.dataclass(frozen=True)
class FrameField:
    name: str
    hint: object  # the type without Annotated
    reader: Reader | None
    omit_none: bool
    required: bool
    default: object


_FIELDS: dict[type[Frame], tuple[FrameField, ...]] = {}  # filled on first use of each class


def frame_fields(cls: type[Frame]) -> tuple[FrameField, ...]:
    """The fields of a frame class in wire order, read once from its annotations."""
    known = _FIELDS.get(cls)
    if known is not None:
        return known
    hints = get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # every frame class is a dataclass
        hint = hints[f.name]
        extras: tuple[object, ...] = ()
        if get_origin(hint) is Annotated:
            hint, *rest = get_args(hint)
            extras = tuple(rest)
        reader = next((e for e in extras if isinstance(e, Reader)), None)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        out.append(FrameField(f.name, hint, reader, any(isinstance(e, Omit) for e in extras), required,
                              None if f.default is dataclasses.MISSING else f.default))
    known = _FIELDS[cls] = tuple(out)
    return known


def literal_choices(hint: object) -> tuple[str, ...]:
    """The strings a ``Literal`` (or ``Literal | None``) allows; () for any other type."""
    if get_origin(hint) in (Union, types.UnionType):
        return tuple(c for arg in get_args(hint) for c in literal_choices(arg))
    if get_origin(hint) is Literal:
        return tuple(str(a) for a in get_args(hint))
    return ()
