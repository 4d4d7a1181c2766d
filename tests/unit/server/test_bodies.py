"""Request bodies: JSON objects within a size limit, text fields, each refusal with its status and code."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from core.errors import AppError
from server.http.bodies import optional_text, read_json_object, required_text


def request(body: bytes, *, declared: bool = True) -> Request:
    headers = [(b"content-type", b"application/json")]
    if declared:
        headers.append((b"content-length", str(len(body)).encode()))
    chunks = [body[i:i + 7] for i in range(0, len(body), 7)] or [b""]

    async def receive() -> dict[str, object]:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers}, receive)


def read(body: bytes, **kwargs: object) -> dict[str, object]:
    return asyncio.run(read_json_object(request(body), code="bad_json", **kwargs))  # type: ignore[arg-type]


def refusal(body: bytes, *, declared: bool = True, limit: int = 1 << 20) -> tuple[int, str]:
    with pytest.raises(AppError) as caught:
        asyncio.run(read_json_object(request(body, declared=declared), code="kb_bad_request", limit=limit))
    return caught.value.status, caught.value.code


def test_a_json_object_is_read() -> None:
    assert read('{"text": "Γειά", "n": 2}'.encode()) == {"text": "Γειά", "n": 2}


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe"])
def test_anything_but_an_object_is_the_endpoints_400(body: bytes) -> None:
    assert refusal(body) == (400, "kb_bad_request")


@pytest.mark.parametrize("declared", [True, False])
def test_a_body_over_the_limit_is_413_declared_or_not(declared: bool) -> None:
    assert refusal(b'{"text": "' + b"x" * 100 + b'"}', declared=declared, limit=64) == (413, "body_too_large")


def test_text_fields() -> None:
    body: dict[str, object] = {"a": "x", "empty": "", "n": 3}
    assert optional_text(body, "a", code="c") == "x"
    assert optional_text(body, "empty", code="c") is None and optional_text(body, "missing", code="c") is None
    with pytest.raises(AppError) as caught:
        optional_text(body, "n", code="kb_bad_request")
    assert (caught.value.status, caught.value.code) == (400, "kb_bad_request")
    assert required_text(body, "a") == "x"
    with pytest.raises(AppError) as caught:
        required_text(body, "n")
    assert (caught.value.status, caught.value.code) == (400, "missing_field")
