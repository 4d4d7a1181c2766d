"""One exception tree for the whole service.

Foreign errors (asyncpg, redis, openai, httpx, ...) are translated at the boundary into these, so
handlers render them uniformly: HTTP as ``{"error": {"code", "message", "request_id"}}`` with
``status``, the WebSocket hub as an ``error`` frame with the same ``code``.
"""

from __future__ import annotations


class AppError(Exception):
    """Base of every error the service reports to a client."""

    status = 500
    default_code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class BadRequest(AppError):
    status, default_code = 400, "bad_request"


class AuthError(AppError):
    status, default_code = 401, "unauthorized"


class ForbiddenError(AppError):
    status, default_code = 403, "forbidden"


class NotFound(AppError):
    status, default_code = 404, "not_found"


class Conflict(AppError):
    status, default_code = 409, "conflict"


class PayloadTooLarge(AppError):
    status, default_code = 413, "payload_too_large"


class UnsupportedMedia(AppError):
    status, default_code = 415, "unsupported_media_type"


class Unprocessable(AppError):
    status, default_code = 422, "unprocessable"


class RateLimited(AppError):
    status, default_code = 429, "rate_limited"

    def __init__(self, message: str, *, code: str | None = None, retry_after: float = 1.0) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class BusyError(AppError):
    status, default_code = 503, "busy"


class DependencyUnavailable(AppError):
    """A part of the service this request needs is turned off or not running (503).

    One code per dependency, ``<dependency>_unavailable``: ``escalation_unavailable``,
    ``voice_unavailable`` (and ``voice_model_unavailable``), ``kb_unavailable``, ``llm_unavailable``,
    ``postgres_unavailable`` (no pooled connection within its time-out, or the database is away).
    """

    status, default_code = 503, "unavailable"

    def __init__(self, dependency: str, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code or f"{dependency}_unavailable")
        self.dependency = dependency


class UpstreamError(AppError):
    """A dependency (LLM provider, SMTP, webhook receiver, embeddings endpoint) failed."""

    status, default_code = 502, "upstream_error"

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = False) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable
