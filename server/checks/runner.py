"""Runs the checks concurrently, each within its time-out, and prints the report."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TextIO

from core.settings import Settings
from server.checks.host import check_disk, check_port, check_variables
from server.checks.providers import check_embedder, check_llm, check_smtp, check_voice
from server.checks.results import CHECK_TIMEOUT_SECONDS, CheckResult, Outcome
from server.checks.stores import check_postgres, check_redis
from server.checks.targets import check_host_db, check_webhooks

Check = Callable[[Settings], Awaitable[list[CheckResult]]]

CHECKS: tuple[tuple[str, Check], ...] = (
    ("variables", check_variables),
    ("postgres", check_postgres),
    ("redis", check_redis),
    ("host_db", check_host_db),
    ("llm", check_llm),
    ("embedder", check_embedder),
    ("voice", check_voice),
    ("smtp", check_smtp),
    ("webhooks", check_webhooks),
    ("disk", check_disk),
    ("port", check_port),
)


async def _guarded(name: str, check: Check,
                   settings: Settings) -> list[CheckResult]:
    try:
        return await asyncio.wait_for(check(settings), CHECK_TIMEOUT_SECONDS + 5)
    except TimeoutError:
        return [CheckResult(name, Outcome.FAIL, f"no answer within {CHECK_TIMEOUT_SECONDS + 5:.0f} s")]


async def run_checks(settings: Settings, *, skip: frozenset[str] = frozenset(),
                     checks: Sequence[tuple[str, Check]] = CHECKS) -> list[CheckResult]:
    """Run the checks concurrently; results in the fixed order of ``checks``.

    ``skip`` names checks not to run (e.g. ``{"port"}`` when validating next to a running replica).
    """
    selected = [(name, check) for name, check in checks if name not in skip]
    groups = await asyncio.gather(*(_guarded(name, check, settings) for name, check in selected))
    results = [r for group in groups for r in group]
    results += [CheckResult(name, Outcome.SKIP, "skipped (--skip)") for name, _ in checks if name in skip]
    return results


def main(settings: Settings, argv: Sequence[str] | None = None, out: TextIO | None = None, *,
         checks: Sequence[tuple[str, Check]] = CHECKS) -> int:
    """Print one line per check and a summary; 0 when nothing failed, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m server check-config",
                                     description="Validate the configuration against the real services.")
    parser.add_argument("--skip", default="", help=f"comma-separated checks to skip: {', '.join(n for n, _ in checks)}")
    args = parser.parse_args(list(argv or []))
    skip = frozenset(s.strip() for s in args.skip.split(",") if s.strip())
    unknown = skip - {n for n, _ in checks}
    stream = out or sys.stdout
    if unknown:
        print(f"unknown check(s) in --skip: {', '.join(sorted(unknown))}", file=stream)
        return 2
    results = asyncio.run(run_checks(settings, skip=skip, checks=checks))
    for result in results:
        print(result.line(), file=stream)
    counts: dict[Any, int] = {o: sum(r.outcome is o for r in results) for o in Outcome}
    failed = counts[Outcome.FAIL]
    print(f"check-config: {'FAILED' if failed else 'passed'} ({counts[Outcome.OK]} ok, {counts[Outcome.WARN]} warnings, "
          f"{failed} failed, {counts[Outcome.SKIP]} skipped)", file=stream)
    return 1 if failed else 0
