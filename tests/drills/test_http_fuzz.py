"""Drill: schemathesis generates requests from docs/openapi.yaml against a real server (offline).

What must hold for every generated request, with an admin's token and with none: no 500, no status
the document does not list for the operation, and an error body of the documented shape for every
4xx/5xx. Operations that stream forever (server-sent events) are called with a short read time-out.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
EXAMPLES_PER_OPERATION = 20


def _documented(operation: Any, status: int) -> bool:
    responses = operation.definition.raw.get("responses", {})
    return str(status) in responses or f"{str(status)[0]}XX" in responses or "default" in responses


async def test_generated_requests_get_documented_answers(settings_factory, running_server, make_token,
                                                         record_figures):
    schema = schemathesis.openapi.from_path(str(SPEC))
    operations = [result.ok() for result in schema.get_all_operations()]
    admin = make_token("fuzz-admin", role="admin")
    failures: list[str] = []
    calls = {"requests": 0}
    async with running_server(settings_factory(voice_enabled=False)) as srv:
        base_url = srv.url

        def exercise(operation: Any) -> None:
            streaming = "text/event-stream" in str(operation.definition.raw.get("responses", {}))

            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(), authorised=st.booleans())
            def check(case: Any, authorised: bool) -> None:
                headers = dict(case.headers or {})
                if authorised:  # else whatever Authorization the generator made up, or none
                    headers["Authorization"] = f"Bearer {admin}"
                case.headers = headers
                calls["requests"] += 1
                try:
                    response = case.call(base_url=base_url, headers=headers, timeout=2 if streaming else 30,
                                         stream=streaming)
                except requests.exceptions.ReadTimeout:
                    if streaming:
                        return
                    raise
                status = response.status_code
                where = f"{operation.label} {case.path_parameters or {}} {case.query or {}} -> {status}"
                if status >= 500 and status != 503:
                    failures.append(f"{where}: {response.text[:200]}")
                elif not _documented(operation, status):
                    failures.append(f"{where}: status not documented ({response.text[:120]})")
                elif status >= 400 and "application/json" in str(response.headers.get("content-type", "")):
                    body = response.json()
                    if not (isinstance(body, dict) and isinstance(body.get("error"), dict)
                            and "code" in body["error"]):
                        failures.append(f"{where}: error body not in the documented shape: {response.text[:120]}")

            check()

        for operation in operations:
            await asyncio.to_thread(exercise, operation)
        log = srv.log_text()
    record_figures("http_fuzz", {"operations": len(operations), "requests": calls["requests"],
                                 "failures": len(failures)})
    kinds = sorted({f.split(" {")[0].split("  ")[0] + " " + f.split("-> ")[1][:3] for f in failures})
    assert not failures, "\n".join(kinds + sorted(set(failures))[:20])
    assert "http.unhandled_error" not in log
