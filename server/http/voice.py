"""HTTP endpoint for speech transcription: ``POST /api/transcribe?lang=xx``.

For clients other than the widget (which streams audio over the WebSocket). The body is the raw
recording (``Content-Type: audio/webm`` etc.) or a multipart form with the recording in the field
``file``. Answers ``{"text", "language", "duration"}``; errors are the usual
``{"error": {"code", "message", "request_id"}}`` (see docs/voice.md for the codes).
"""

from __future__ import annotations

from pathlib import PurePath

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from core.errors import AppError, DependencyUnavailable, PayloadTooLarge
from server.auth import TokenVerifier, require_principal
from server.http.bodies import MULTIPART_OVERHEAD, UploadRules, read_body, read_upload
from server.voice.audio import normalize_format
from server.voice.transcriber import Transcriber


def _declared_format(content_type: str | None, filename: str | None) -> str | None:
    """The format the client says it sent: a specific content type first, else the file name's suffix."""
    if content_type and content_type.split(";")[0].strip().lower() not in ("", "application/octet-stream"):
        return normalize_format(content_type)
    suffix = PurePath(filename or "").suffix.lstrip(".")
    return normalize_format(suffix) if suffix else None


def _too_large(limit: int) -> str:
    return f"recordings may be at most {limit} bytes"


def upload_rules(limit: int) -> UploadRules:
    """The refusals of a multipart recording (``audio_too_large``, ``multipart_invalid``, ``file_missing``)."""
    return UploadRules(
        limit=limit, max_fields=10, too_large_code="audio_too_large",
        body_too_large=lambda _declared: _too_large(limit + MULTIPART_OVERHEAD), file_too_large=_too_large(limit),
        malformed_code="multipart_invalid", missing_code="file_missing",
        missing_message="send the recording in the multipart field 'file'")


class VoiceRoutes:
    """``POST /api/transcribe``: the same route with or without voice; without it the endpoint answers
    503 ``voice_unavailable``."""

    def __init__(self, transcriber: Transcriber | None, verifier: TokenVerifier) -> None:
        self._transcriber = transcriber
        self._verifier = verifier

    def routes(self) -> list[BaseRoute]:
        return [Route("/api/transcribe", self.transcribe, methods=["POST"], name="transcribe")]

    async def transcribe(self, request: Request) -> JSONResponse:
        """Transcribe the uploaded recording; ``lang`` defaults to the user's profile language, ``auto`` detects."""
        principal = await require_principal(request, self._verifier)
        transcriber = self._transcriber
        if transcriber is None:
            raise DependencyUnavailable("voice", "speech recognition is turned off on this server")
        limit = transcriber.limits.max_bytes
        content_type = request.headers.get("content-type", "")
        try:
            if content_type.lower().startswith("multipart/form-data"):
                upload = await read_upload(request, upload_rules(limit))
                audio, fmt = upload.data, _declared_format(upload.content_type, upload.filename)
            else:
                fmt = _declared_format(content_type, None)
                audio = await read_body(request, limit,
                                        lambda: PayloadTooLarge(_too_large(limit), code="audio_too_large"))
        except AppError as exc:
            transcriber.count_rejection(exc)
            raise
        lang = request.query_params.get("lang") or principal.lang
        transcript = await transcriber.transcribe(audio, lang=lang, fmt=fmt)
        return JSONResponse(transcript.to_dict())
