"""What a check reports: its outcome and one line of detail; secrets never shown."""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

CHECK_TIMEOUT_SECONDS = 10.0
class Outcome(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The result of one check; ``line()`` is what the command prints."""

    name: str
    outcome: Outcome
    detail: str

    @property
    def ok(self) -> bool:
        return self.outcome is not Outcome.FAIL

    def line(self) -> str:
        return f"{self.outcome.value:<5} {self.name:<10} {self.detail}"


def redact_url(url: str) -> str:
    """``postgresql://user:secret@db:5432/x`` -> ``postgresql://user:***@db:5432/x``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
