"""Client frames to their handlers: a table from frame class to the method that handles it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Concatenate, Generic, ParamSpec, TypeVar, cast

from server.protocol import ClientFrame, ProtocolError

_O = TypeVar("_O")
_F = TypeVar("_F", bound=ClientFrame)
_P = ParamSpec("_P")


class Handlers(Generic[_O, _P]):
    """A dispatch table: client frame class -> the method of ``_O`` that handles it.

    ``@handlers.on(Feedback)`` registers a method taking ``(self, frame, *context)``; ``dispatch`` calls
    the one registered for the frame's class.
    """

    def __init__(self) -> None:
        self._table: dict[type[ClientFrame], Callable[Concatenate[_O, ClientFrame, _P], Awaitable[None]]] = {}

    def on(self, kind: type[_F]) -> Callable[[Callable[Concatenate[_O, _F, _P], Awaitable[None]]],
                                             Callable[Concatenate[_O, _F, _P], Awaitable[None]]]:
        def register(handler: Callable[Concatenate[_O, _F, _P], Awaitable[None]]
                     ) -> Callable[Concatenate[_O, _F, _P], Awaitable[None]]:
            assert kind not in self._table, f"{kind.__name__} is handled twice"
            # the table calls a handler only with frames of the class it was registered for
            self._table[kind] = cast(Callable[Concatenate[_O, ClientFrame, _P], Awaitable[None]], handler)
            return handler

        return register

    @property
    def kinds(self) -> frozenset[type[ClientFrame]]:
        return frozenset(self._table)

    def handles(self, frame: ClientFrame) -> bool:
        return type(frame) in self._table

    async def dispatch(self, owner: _O, frame: ClientFrame, *args: _P.args, **kwargs: _P.kwargs) -> None:
        handler = self._table.get(type(frame))
        if handler is None:
            raise ProtocolError(f"frame type {frame.TYPE!r} is not handled", code="unknown_type")
        await handler(owner, frame, *args, **kwargs)
