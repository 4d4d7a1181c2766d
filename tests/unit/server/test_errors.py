"""core/errors.py: the error shapes every client sees (HTTP status, ``{"code", "message"}``)."""

from __future__ import annotations

import re

import pytest

import core.errors as errors
from core.errors import (
    AppError,
    AuthError,
    BadRequest,
    BusyError,
    Conflict,
    ForbiddenError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unprocessable,
    UnsupportedMedia,
    UpstreamError,
)


@pytest.mark.parametrize(("cls", "status", "code"), [
    (AppError, 500, "internal_error"), (BadRequest, 400, "bad_request"), (AuthError, 401, "unauthorized"),
    (ForbiddenError, 403, "forbidden"), (NotFound, 404, "not_found"), (Conflict, 409, "conflict"),
    (PayloadTooLarge, 413, "payload_too_large"), (UnsupportedMedia, 415, "unsupported_media_type"),
    (Unprocessable, 422, "unprocessable"), (RateLimited, 429, "rate_limited"), (BusyError, 503, "busy"),
    (UpstreamError, 502, "upstream_error"),
])
def test_status_and_default_code(cls: type[AppError], status: int, code: str) -> None:
    error = cls("something went wrong")
    assert (error.status, error.code) == (status, code)
    assert error.to_dict() == {"code": code, "message": "something went wrong"}
    assert str(error) == "something went wrong"


def test_a_specific_code_replaces_the_default_but_not_the_status() -> None:
    error = BadRequest("the audio could not be read", code="audio_corrupt")
    assert (error.status, error.to_dict()) == (400, {"code": "audio_corrupt", "message": "the audio could not be read"})
    assert BadRequest("x").code == "bad_request"  # the override stays on its instance


def test_rate_limited_carries_retry_after() -> None:
    assert RateLimited("slow down").retry_after == 1.0
    error = RateLimited("slow down", code="messages_rate_limited", retry_after=2.5)
    assert (error.retry_after, error.code) == (2.5, "messages_rate_limited")


def test_upstream_errors_say_whether_a_retry_may_help() -> None:
    assert UpstreamError("down").retryable is False
    assert UpstreamError("429", code="llm_rate_limited", retryable=True).retryable is True


def every_error_class() -> list[type[AppError]]:
    return [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, AppError)]


def test_every_error_has_an_http_status_and_a_snake_case_code() -> None:
    classes = every_error_class()
    assert len(classes) >= 12
    for cls in classes:
        assert 400 <= cls.status <= 599, cls
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", cls.default_code), cls
    assert len({cls.default_code for cls in classes}) == len(classes)  # one code, one meaning
