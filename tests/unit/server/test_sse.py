"""The provider stream reader (server/engine/sse.py): events split anywhere, errors named."""

from __future__ import annotations

import json

import pytest

from server.engine.sse import StreamError, chunk_text, chunk_usage, completion_chunks, sse_events


async def _feed(parts: list[bytes]):
    for p in parts:
        yield p


async def _events(parts: list[bytes]) -> list[tuple[str | None, bytes]]:
    return [e async for e in sse_events(_feed(parts))]


async def _chunks(parts: list[bytes]) -> list[dict]:
    return [c async for c in completion_chunks(_feed(parts))]


def _stream(*pieces: str, usage: tuple[int, int] | None = (12, 3), crlf: bool = False) -> bytes:
    end = b"\r\n" if crlf else b"\n"
    out = b""
    for p in pieces:
        out += b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": p}}]}).encode() + end + end
    if usage:
        out += b"data: " + json.dumps({"choices": [], "usage": {"prompt_tokens": usage[0],
                                                                "completion_tokens": usage[1]}}).encode() + end + end
    return out + b"data: [DONE]" + end + end


@pytest.mark.parametrize("size", [1, 2, 7, 64, 100000])
async def test_events_split_at_any_byte_give_the_same_text_and_usage(size: int) -> None:
    body = _stream("Bleed ", "the ", "circuit — ", "μ", crlf=size % 2 == 1)
    parts = [body[i:i + size] for i in range(0, len(body), size)]
    chunks = await _chunks(parts)
    assert "".join(chunk_text(c) for c in chunks) == "Bleed the circuit — μ"
    assert [chunk_usage(c) for c in chunks if chunk_usage(c)] == [(12, 3)]


async def test_multi_line_data_comments_and_unknown_fields_follow_the_sse_rules() -> None:
    body = b": keep-alive\n\nid: 4\nretry: 100\nevent: message\ndata: {\"a\":\ndata: 1}\n\n"
    assert await _events([body]) == [("message", b'{"a":\n1}')]


async def test_the_stream_stops_at_done_and_a_last_event_without_newline_is_kept() -> None:
    body = b'data: {"choices":[{"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\ndata: {"choices":[]}\n\n'
    assert [chunk_text(c) for c in await _chunks([body])] == ["x"]
    assert await _events([b"data: tail"]) == [(None, b"tail")]


@pytest.mark.parametrize("body, reason", [
    (b'data: {"error": {"message": "overloaded"}}\n\n', "overloaded"),
    (b'event: error\ndata: {"message": "quota"}\n\n', "quota"),
    (b"data: not json\n\n", "not JSON"),
    (b"data: [1, 2]\n\n", "not a JSON object"),
])
async def test_an_error_event_or_a_malformed_event_is_a_stream_error(body: bytes, reason: str) -> None:
    with pytest.raises(StreamError, match=reason):
        await _chunks([body])


async def test_an_endless_line_is_refused_instead_of_buffered() -> None:
    with pytest.raises(StreamError, match="longer than"):
        await _events([b"data: " + b"x" * 4096] * 300)


def test_chunk_text_and_usage_ignore_shapes_they_do_not_know() -> None:
    assert chunk_text({"choices": [{"delta": {"content": None}}, {"delta": {"role": "assistant"}}, "odd"]}) == ""
    assert chunk_text({"choices": [{"delta": {"content": "a"}}, {"delta": {"content": "b"}}]}) == "ab"
    assert chunk_usage({"usage": None}) is None and chunk_usage({"usage": {"prompt_tokens": "x"}}) is None


async def _paced(parts: list[tuple[float, bytes]]):
    import asyncio

    for pause, part in parts:
        await asyncio.sleep(pause)
        yield part


async def test_keep_alive_comments_after_an_event_end_the_stream_at_the_idle_limit() -> None:
    token = b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'
    pings = [(0.05, b": keep-alive\n\n")] * 20  # 1 s of bytes, none of them an event
    got: list[str] = []
    with pytest.raises(StreamError, match="no event for 0.5 s"):
        async for chunk in completion_chunks(_paced([(0, token), *pings, (0, token)]), idle_limit=0.5):
            got.append(chunk_text(chunk))
    assert got == ["x"]  # the text before the silence was delivered


async def test_the_idle_limit_counts_from_the_first_event_and_resets_with_each() -> None:
    token = b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'
    # comments for 1 s before the first event (the caller's first-token time-out bounds that wait),
    # then events closer together than the limit
    parts = [(0.05, b": queued\n\n")] * 20 + [(0, token)] + [(0.02, token)] * 8
    got = [chunk_text(c) async for c in completion_chunks(_paced(parts), idle_limit=0.5)]
    assert got == ["x"] * 9
