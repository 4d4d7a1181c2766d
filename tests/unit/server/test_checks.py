"""check-config's pure parts: secrets never shown in a DSN, one line per result, the summary's exit code."""

from __future__ import annotations

import asyncio
import io

import pytest

from core.settings import Settings
from server.checks import CHECKS, CheckResult, Outcome, main, redact_url, run_checks


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://app:s3cret@db:5432/abparts", "postgresql://app:***@db:5432/abparts"),
    ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
    ("postgresql://db:5432/abparts", "postgresql://db:5432/abparts"),
    ("http://[::1", "<unparseable URL>"),
    ("postgresql://app@db/abparts?password=s3cret&sslmode=require",
     "postgresql://app@db/abparts?password=***&sslmode=require"),
    ("postgresql:///abparts?host=/run/pg&sslpassword=s3cret", "postgresql:///abparts?host=/run/pg&sslpassword=***"),
    ("host=db user=app password=s3cret dbname=abparts", "host=db user=app password=*** dbname=abparts"),
    ("host=db password='s3 cret' dbname=abparts", "host=db password=*** dbname=abparts"),
])
def test_passwords_never_show(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_result_is_one_aligned_line() -> None:
    assert CheckResult("redis", Outcome.WARN, "append-only file off").line() == "WARN  redis      append-only file off"


def test_unknown_skip_names_are_refused_before_anything_runs() -> None:
    out = io.StringIO()
    assert main(Settings(env="development"), ["--skip", "port,nosuch"], out) == 2
    assert "nosuch" in out.getvalue()


def test_a_failed_check_fails_the_command_and_skips_are_listed() -> None:
    async def ok(settings: Settings) -> list[CheckResult]:
        return [CheckResult("a", Outcome.OK, "fine")]

    async def bad(settings: Settings) -> list[CheckResult]:
        return [CheckResult("b", Outcome.FAIL, "broken")]

    checks = (("a", ok), ("b", bad), ("c", ok))
    out = io.StringIO()
    assert main(Settings(env="development"), ["--skip", "c"], out, checks=checks) == 1
    text = out.getvalue()
    assert "FAIL  b          broken" in text and "SKIP  c" in text
    assert text.strip().endswith("check-config: FAILED (1 ok, 0 warnings, 1 failed, 1 skipped)")
    results = asyncio.run(run_checks(Settings(env="development"), skip=frozenset({"b", "c"}), checks=checks))
    assert [(r.name, r.outcome) for r in results] == [("a", Outcome.OK), ("b", Outcome.SKIP), ("c", Outcome.SKIP)]


def test_every_check_has_a_distinct_name() -> None:
    names = [name for name, _ in CHECKS]
    assert len(names) == len(set(names)) and {"postgres", "redis", "llm", "port"} <= set(names)


def _status_error(cls: type, status: int, message: str) -> Exception:
    import httpx

    response = httpx.Response(status, request=httpx.Request("POST", "http://llm.local/v1/chat/completions"))
    return cls(message, response=response, body=None)  # type: ignore[no-any-return]


def test_provider_refusals_say_what_to_fix() -> None:
    import httpx
    import openai

    from server.checks.providers import provider_failure

    where = "http://llm.local/v1"
    auth = provider_failure("llm", where, _status_error(openai.AuthenticationError, 401, "bad key"),
                            key_variable="OPENAI_API_KEY")
    assert auth.outcome is Outcome.FAIL and "401" in auth.detail and "OPENAI_API_KEY" in auth.detail
    down = provider_failure("embedder", where, openai.APIConnectionError(
        request=httpx.Request("POST", where)), key_variable="EMBEDDING_API_KEY")
    assert down.name == "embedder" and down.detail.startswith(f"cannot reach {where}")
    busy = provider_failure("llm", where, _status_error(openai.InternalServerError, 503, "overloaded"),
                            key_variable="OPENAI_API_KEY")
    assert busy.detail == f"{where} answered HTTP 503: overloaded"
