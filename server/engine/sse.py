"""Server-sent events of a streamed chat completion, read as plain dicts.

The provider's stream is a few hundred small ``data:`` events per answer. The ``openai`` client
turns each one into typed model objects; on a replica streaming dozens of answers at once that
construction was the largest single cost of its event loop. Here each event's JSON is decoded
once into a dict, and the request itself (authentication, base URL, status errors) stays with the
``openai`` client.

``completion_chunks(bytes)`` yields each chunk as a dict and stops at ``[DONE]``; an ``error``
event, or an event that is not JSON, raises ``StreamError``. With ``idle_limit``, bytes that arrive
more than that many seconds after the last event (a provider or proxy sending only keep-alive
comments) raise ``StreamError`` too: a read time-out alone never fires while such bytes come. It
counts from the first event on: the wait for the first token is the caller's own time-out.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

MAX_EVENT_BYTES = 1 << 20  # one event larger than this is not a chat completion chunk


class StreamError(Exception):
    """The provider's stream broke its protocol (an error event, a malformed or oversized event)."""


async def sse_events(chunks: AsyncIterable[bytes], *,
                     idle_limit: float | None = None) -> AsyncIterator[tuple[str | None, bytes]]:
    """``(event, data)`` for each event of an SSE byte stream (the WHATWG rules: ``data`` lines of one
    event joined by newlines, comments and unknown fields ignored, CR LF or LF line ends).

    ``idle_limit``: seconds bytes may keep arriving after an event without completing the next one
    (``StreamError``); the wait for the first event is the caller's to bound."""
    buffer = b""
    event: str | None = None
    data: list[bytes] = []
    last: float | None = None  # when the last event was complete
    async for chunk in chunks:
        if last is not None and idle_limit is not None:
            if time.monotonic() - last > idle_limit:
                raise StreamError(f"no event for {idle_limit:g} s (only keep-alive bytes)")
        buffer += chunk
        if b"\n" not in chunk:
            if len(buffer) > MAX_EVENT_BYTES:
                raise StreamError(f"an event line longer than {MAX_EVENT_BYTES} bytes")
            continue
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if not line:
                if data:
                    yield event, b"\n".join(data)
                    if idle_limit is not None:
                        last = time.monotonic()
                event, data = None, []
                continue
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                event = value.decode("utf-8", "replace")
    if buffer.strip():  # a last line without its newline
        name, _, value = buffer.rstrip(b"\r").partition(b":")
        if name == b"data":
            data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        yield event, b"\n".join(data)


async def completion_chunks(chunks: AsyncIterable[bytes], *,
                            idle_limit: float | None = None) -> AsyncIterator[dict[str, Any]]:
    """The chat completion chunks of a stream, as dicts, until ``[DONE]`` or the end of the stream
    (``idle_limit``: see :func:`sse_events`)."""
    async for event, data in sse_events(chunks, idle_limit=idle_limit):
        if data.startswith(b"[DONE]"):
            return
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise StreamError(f"an event that is not JSON: {data[:80]!r}") from exc
        if not isinstance(chunk, dict):
            raise StreamError("an event that is not a JSON object")
        if chunk.get("error") or event == "error":
            error = chunk.get("error") or chunk
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise StreamError(f"the provider sent an error in the stream: {str(message)[:200]}")
        yield chunk


def chunk_text(chunk: dict[str, Any]) -> str:
    """The text of one chunk's choices (usually one choice, one piece)."""
    pieces = []
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        piece = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(piece, str) and piece:
            pieces.append(piece)
    return "".join(pieces)


def chunk_usage(chunk: dict[str, Any]) -> tuple[int, int] | None:
    """``(prompt_tokens, completion_tokens)`` when the chunk carries the usage (the last one does)."""
    usage = chunk.get("usage")
    if not isinstance(usage, dict):
        return None
    try:
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    except (TypeError, ValueError):
        return None
