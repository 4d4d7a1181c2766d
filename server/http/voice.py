"""HTTP endpoint for speech transcription: ``POST /api/transcribe?lang=xx``.

For clients other than the widget (which streams audio over the WebSocket). The body is the raw
recording (``Content-Type: audio/webm`` etc.) or a multipart form with the recording in the field
``file``. Answers ``{"text", "language", "duration"}``; errors are the usual
``{"error": {"code", "message"}}`` (see docs/voice.md for the codes).
"""

from __future__ import annotations

from pathlib import PurePath

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Message

from core.errors import AppError, BadRequest, PayloadTooLarge
from server.auth import require_principal
from server.voice.model import ModelError
from server.voice.transcriber import Transcriber, normalize_format

_MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file


def _transcriber(request: Request) -> Transcriber:
    transcriber: Transcriber | None = getattr(request.app.state.services, "transcriber", None)
    if transcriber is None:
        raise ModelError("speech recognition is turned off on this server", code="voice_unavailable")
    return transcriber


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it passes ``limit`` instead of buffering it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"recordings may be at most {limit} bytes", code="audio_too_large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"recordings may be at most {limit} bytes", code="audio_too_large")
    return bytes(body)


def _declared_format(content_type: str | None, filename: str | None) -> str | None:
    """The format the client says it sent: a specific content type first, else the file name's suffix."""
    if content_type and content_type.split(";")[0].strip().lower() not in ("", "application/octet-stream"):
        return normalize_format(content_type)
    suffix = PurePath(filename or "").suffix.lstrip(".")
    return normalize_format(suffix) if suffix else None


async def _multipart_audio(request: Request, body: bytes, limit: int) -> tuple[bytes, str | None]:
    replayed = False

    async def receive() -> Message:
        nonlocal replayed
        if replayed:
            return {"type": "http.disconnect"}
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    form_request = Request(request.scope, receive)
    try:
        form = await form_request.form(max_files=1, max_fields=10)
    except HTTPException as exc:  # Starlette's rendering of a malformed multipart body
        raise BadRequest(f"malformed multipart body: {exc.detail}", code="multipart_invalid") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("send the recording in the multipart field 'file'", code="file_missing")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLarge(f"recordings may be at most {limit} bytes", code="audio_too_large")
        return data, _declared_format(upload.content_type, upload.filename)
    finally:
        await form.close()


async def transcribe(request: Request) -> JSONResponse:
    """Transcribe the uploaded recording; ``lang`` defaults to the user's profile language, ``auto`` detects."""
    principal = await require_principal(request)
    transcriber = _transcriber(request)
    limit = transcriber.limits.max_bytes
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.lower().startswith("multipart/form-data"):
            body = await _read_body(request, limit + _MULTIPART_OVERHEAD)
            audio, fmt = await _multipart_audio(request, body, limit)
        else:
            fmt = _declared_format(content_type, None)
            audio = await _read_body(request, limit)
    except AppError as exc:
        transcriber.count_rejection(exc)
        raise
    lang = request.query_params.get("lang") or principal.lang
    transcript = await transcriber.transcribe(audio, lang=lang, fmt=fmt)
    return JSONResponse(transcript.to_dict())


def routes(settings: object = None) -> list[BaseRoute]:
    """The voice HTTP routes, for the app's routes table (the same with or without voice enabled:
    when it is off, the endpoint answers 503 ``voice_unavailable``)."""
    return [Route("/api/transcribe", transcribe, methods=["POST"], name="transcribe")]
