"""Reading request bodies: one reader for every endpoint that takes a file (manuals, recordings),
and one for every endpoint that takes a JSON object.

A body is refused (413) as soon as it passes its limit, whether the client declared its length or
not, so nothing larger than the limit is ever buffered. Each endpoint keeps its own error codes and
messages (``UploadRules``), so clients see the same refusals as before the readers were shared.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message

from core.errors import AppError, BadRequest, PayloadTooLarge

MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and small fields around the file


@dataclasses.dataclass(frozen=True)
class UploadRules:
    """How one endpoint takes a file: its size limit and what it answers to a bad upload.

    ``body_too_large(declared)`` is the error for a body over the limit (``declared`` is the
    Content-Length when the client sent one); ``file_too_large`` is the message when the file itself
    is over ``limit``.
    """

    limit: int
    max_fields: int
    too_large_code: str
    body_too_large: Callable[[int | None], str]
    file_too_large: str
    malformed_code: str
    missing_code: str
    missing_message: str
    not_multipart_message: str | None = None  # when set, a body that is not multipart/form-data is refused


@dataclasses.dataclass(frozen=True)
class Upload:
    """The file of a multipart upload, with the form's text fields."""

    data: bytes
    filename: str
    content_type: str | None
    fields: dict[str, str]


def _declared_length(request: Request) -> int | None:
    length = request.headers.get("content-length", "")
    return int(length) if length.isdigit() else None


async def read_body(request: Request, limit: int, too_large: Callable[[], AppError]) -> bytes:
    """The raw request body, refusing with ``too_large()`` as soon as it passes ``limit`` bytes."""
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        raise too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large()
    return bytes(body)


def _capped(request: Request, cap: int, too_large: Callable[[], AppError]) -> Request:
    """The same request, with a receive channel that refuses a body growing past ``cap`` bytes."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > cap:
                raise too_large()
        return message

    return Request(request.scope, receive)


async def read_upload(request: Request, rules: UploadRules) -> Upload:
    """The file in the multipart field ``file`` and the form's text fields, within ``rules.limit``."""
    cap = rules.limit + MULTIPART_OVERHEAD
    declared = _declared_length(request)

    def body_too_large(size: int | None = None) -> AppError:
        return PayloadTooLarge(rules.body_too_large(size), code=rules.too_large_code)

    if declared is not None and declared > cap:
        raise body_too_large(declared)
    if rules.not_multipart_message is not None and \
            not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise BadRequest(rules.not_multipart_message, code=rules.malformed_code)
    try:
        form = await _capped(request, cap, body_too_large).form(max_files=1, max_fields=rules.max_fields)
    except AppError:
        raise
    except Exception as exc:  # the multipart parser raises several types; all mean a malformed body
        detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
        raise BadRequest(f"malformed multipart body: {detail}", code=rules.malformed_code) from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest(rules.missing_message, code=rules.missing_code)
        data = await upload.read(rules.limit + 1)
        if len(data) > rules.limit:
            raise PayloadTooLarge(rules.file_too_large, code=rules.too_large_code)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return Upload(data, upload.filename or "", upload.content_type, fields)
    finally:
        await form.close()


JSON_BODY_MAX_BYTES = 1 << 20  # a reply, a status change or an expert entry is far smaller


async def read_json_object(request: Request, *, code: str, limit: int = JSON_BODY_MAX_BYTES) -> dict[str, object]:
    """The body as a JSON object; 400 ``code`` when it is not one, 413 when it passes ``limit`` bytes."""
    raw = await read_body(request, limit, lambda: PayloadTooLarge(f"the body is larger than {limit} bytes",
                                                                  code="body_too_large"))
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body must be a JSON object: {exc}", code=code) from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code=code)
    return body


def optional_text(body: dict[str, object], key: str, *, code: str) -> str | None:
    """A text field of a JSON object: None when absent or empty, 400 ``code`` when not a string."""
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{key}' must be a string", code=code)
    return value


def required_text(body: dict[str, object], key: str) -> str:
    """A text field that must be there (400 ``missing_field`` otherwise)."""
    value = body.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"'{key}' is required", code="missing_field")
    return value
