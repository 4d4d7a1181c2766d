"""What a check reports: its outcome and one line of detail; secrets never shown."""

from __future__ import annotations

import dataclasses
import re
from enum import StrEnum
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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


# query parameters that carry a secret in PostgreSQL and Redis URLs (libpq, asyncpg, redis-py)
_SECRET_PARAMS = frozenset({"password", "passwd", "pass", "sslpassword", "secret", "token", "api_key"})
_KEYWORD_PASSWORD = re.compile(r"(\b(?:password|sslpassword)\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """A DSN with every secret masked: the password of ``user:secret@host``, a ``?password=`` (or
    ``sslpassword``, ...) query parameter, and ``password=`` in a libpq keyword DSN."""
    if "://" not in url:  # "host=db user=x password=secret"
        return _KEYWORD_PASSWORD.sub(lambda m: m.group(1) + "***", url)
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable URL>"
    if password is not None:
        host = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    if parts.query:
        query = [(k, "***" if k.lower() in _SECRET_PARAMS else v)
                 for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        parts = parts._replace(query=urlencode(query, safe="*/:,"))
    if not parts.netloc:  # "postgresql:///db?host=/run/pg": urlunsplit would drop the empty authority
        return f"{parts.scheme}://{parts.path}" + (f"?{parts.query}" if parts.query else "")
    return urlunsplit(parts)


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
