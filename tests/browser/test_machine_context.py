"""Production without a host database: the widget offers no machine picker and no machine chip, even
when the host page and the token list machines (the service tells it in the ready frame)."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from testkit.scripted_llm import free_port
from tests.browser.helpers import TIMEOUT, ask, finished_answer
from tests.conftest import PRODUCTION


def _serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{port}"


async def test_no_machine_picker_without_a_host_database(widget_settings: Any, running_server: Any, make_token: Any,
                                                        new_page: Any, shot: Any, tmp_path: Path) -> None:
    httpd, origin = _serve(tmp_path)
    try:
        settings = widget_settings(**PRODUCTION, host_database_url="", allowed_origins=(origin,))
        token = make_token(machines=["AB-1001", "AB-2002"])
        async with running_server(settings) as srv:
            (tmp_path / "host.html").write_text(
                "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Host</title></head><body>"
                f"<h1>Host app</h1><script src='{srv.url}/widget.js'></script><script>"
                f"ABPartsAssistant.init({{baseUrl: '{srv.url}', getToken: function () {{ return Promise.resolve('{token}'); }},"
                " machines: [{id: 'AB-1001', name: 'AutoBoss V4'}, {id: 'AB-2002', name: 'AutoBoss M6'}]});"
                "</script></body></html>")
            page = await new_page()
            await page.goto(f"{origin}/host.html")
            await page.locator(".launch").click()
            await expect(page.locator(".dot.on")).to_have_count(1, timeout=TIMEOUT)
            await ask(page, "Why does it stop?")
            await finished_answer(page)
            await expect(page.locator(".card.pick")).to_have_count(0)
            await expect(page.locator("button.mach")).to_be_hidden()
            await shot(page, "no-machine-context")
    finally:
        httpd.shutdown()
