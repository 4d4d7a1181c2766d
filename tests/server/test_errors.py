"""Error responses of the real app on a real uvicorn server: the JSON shape, the status, the request id."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import structlog
import uvicorn

from core.settings import Settings
from server.app import create_app
from testkit.scripted_llm import free_port


class BrokenMachines:
    """A machine source whose every read fails with an error nothing in the app expects."""

    async def context(self, machine_id: str) -> dict[str, Any] | None:
        raise RuntimeError("the host database driver crashed")

    async def models(self, machine_ids: list[str]) -> dict[str, str]:
        raise RuntimeError("the host database driver crashed")


@contextlib.asynccontextmanager
async def serving(settings: Settings, **components: Any) -> AsyncIterator[str]:
    """The app on uvicorn in this event loop (created there, as ``python -m server serve`` does)."""
    port = free_port()
    config = uvicorn.Config(functools.partial(create_app, settings, **components), factory=True,
                            host="127.0.0.1", port=port, lifespan="on", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the server stopped during start-up")
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def test_an_unexpected_error_is_a_json_500_with_the_request_id(settings_factory, make_token):
    settings = settings_factory(voice_enabled=False)
    async with serving(settings, machines=BrokenMachines(), kb=None, llm=None) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            with structlog.testing.capture_logs() as logs:
                r = await client.get("/api/machines/AB-1", headers={
                    "Authorization": f"Bearer {make_token(machines=['AB-1'])}", "X-Request-Id": "req-boom-1"})
            assert r.status_code == 500
            assert r.headers["content-type"].startswith("application/json")
            assert r.json() == {"error": {"code": "internal_error", "message": "the server hit an unexpected error",
                                          "request_id": "req-boom-1"}}
            assert r.headers["x-request-id"] == "req-boom-1"
            failures = [e for e in logs if e["event"] == "http.unhandled_error"]
            assert len(failures) == 1 and failures[0]["error"] == "RuntimeError"
            assert failures[0]["exc_info"] is not None  # the traceback, logged once

            # an AppError keeps its status and carries the request id too
            r = await client.get("/api/kb/documents", headers={
                "Authorization": f"Bearer {make_token(role='admin')}", "X-Request-Id": "req-kb-1"})
            assert r.status_code == 503
            assert r.json() == {"error": {"code": "kb_unavailable", "message": "the knowledge base is not available",
                                          "request_id": "req-kb-1"}}
            # the router's own refusals (no such path, wrong method) in the same shape
            r = await client.get("/api/no-such-thing", headers={"X-Request-Id": "req-404"})
            assert r.status_code == 404
            assert r.json()["error"]["code"] == "not_found" and r.json()["error"]["request_id"] == "req-404"
            r = await client.delete("/health/live", headers={"X-Request-Id": "req-405"})
            assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
            assert "GET" in r.headers["allow"]
            # and the server keeps serving
            assert (await client.get("/health/live")).status_code == 200
