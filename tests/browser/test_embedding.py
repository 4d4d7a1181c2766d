"""Embedding the widget: size budget, caching, script tag on another origin, isolation, demo routes."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.conftest import PRODUCTION

from .helpers import TIMEOUT, ask, finished_answer, shadow_eval

pytestmark = pytest.mark.browser

WIDGET = Path(__file__).resolve().parents[2] / "widget" / "widget.js"
BUDGET_GZIP_BYTES = 30 * 1024


def test_widget_script_fits_the_size_budget() -> None:
    size = len(gzip.compress(WIDGET.read_bytes(), compresslevel=9))
    print(f"widget.js: {WIDGET.stat().st_size} bytes, {size} bytes gzipped (budget {BUDGET_GZIP_BYTES})")
    assert size <= BUDGET_GZIP_BYTES


async def test_widget_is_served_with_cache_headers_and_etag(server: Any) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        r = await client.get("/widget.js", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/javascript")
        assert "max-age" in r.headers["cache-control"]
        assert r.headers.get("content-encoding") == "gzip"  # the app's GZip middleware
        assert r.content == WIDGET.read_bytes()
        again = await client.get("/widget.js", headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304


async def test_loading_twice_is_harmless_and_only_one_global(server: Any, new_page: Any) -> None:
    page = await new_page()
    before = await page.evaluate("Object.keys(window)")
    await page.goto(server.url)
    await page.locator(".launch").wait_for()
    await page.evaluate("""new Promise(r => { const s = document.createElement('script'); s.src = 'widget.js';
                           s.onload = r; document.body.appendChild(s); })""")
    assert await page.evaluate("document.querySelectorAll('#abparts-assistant').length") == 1
    added = await page.evaluate("Object.keys(window)")
    new_globals = set(added) - set(before)
    assert "ABPartsAssistant" in new_globals
    assert await page.evaluate("typeof window.ABPartsAssistant.init") == "function"
    assert page.errors == []


async def test_host_css_does_not_leak_into_the_widget(server: Any, new_page: Any) -> None:
    page = await new_page(bypass_csp=True)  # the demo page's own CSP forbids the inline style injected here
    await page.goto(server.url)
    await page.add_style_tag(content="button, textarea, div { background: red !important; font-family: serif !important; }")
    await page.locator(".launch").click()
    bg = await shadow_eval(page, "return getComputedStyle(root.querySelector('.launch')).backgroundColor;")
    assert bg == "rgb(11, 92, 173)"


async def test_demo_routes_exist_only_in_development(widget_settings: Any, running_server: Any) -> None:
    async with running_server(widget_settings(**PRODUCTION)) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as client:
            assert (await client.get("/demo/token?role=admin")).status_code == 404
            assert (await client.get("/")).status_code == 404
            assert (await client.get("/widget.js")).status_code == 200
            assert (await client.get("/admin")).status_code == 200


async def test_demo_token_endpoint_mints_a_token_the_server_accepts(server: Any) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        r = await client.get("/demo/token", params={"user": "ana", "role": "admin", "lang": "es"})
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        token = r.json()["token"]
        me = (await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})).json()
        assert me["id"] == "ana" and me["role"] == "admin" and me["lang"] == "es"
        assert me["machines"] == ["AB-1001", "AB-2002"]
        assert (await client.get("/demo/token", params={"role": "root"})).status_code == 400


@pytest.fixture
def host_site(tmp_path: Path) -> Any:
    """A separate origin (a plain static HTTP server on loopback) standing in for the host app's pages."""
    import functools
    import http.server
    import threading

    from testkit.scripted_llm import free_port

    class Site:
        def __init__(self) -> None:
            self.port = free_port()
            self.origin = f"http://127.0.0.1:{self.port}"
            handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
            handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
            self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
            threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

        def page(self, name: str, html: str) -> str:
            (tmp_path / name).write_text(html)
            return f"{self.origin}/{name}"

    site = Site()
    yield site
    site.httpd.shutdown()


async def test_script_tag_embedding_on_another_origin(widget_settings: Any, running_server: Any, host_site: Any,
                                                      new_page: Any, shot: Any) -> None:
    settings = widget_settings(allowed_origins=(host_site.origin,))
    async with running_server(settings) as srv:
        url = host_site.page("host.html", (
            "<!doctype html><html lang='es'><head><meta charset='utf-8'><title>Host</title></head><body><h1>Host app</h1>"
            f"<script src='{srv.url}/widget.js' data-token-url='{srv.url}/demo/token?user=tag-user&amp;lang=es'"
            " data-lang='es' data-theme='dark' data-color='#1e7b46'></script></body></html>"))
        page = await new_page()
        await page.goto(url)
        await page.locator(".launch").click()
        await expect(page.locator(".dot.on")).to_have_count(1, timeout=TIMEOUT)
        await expect(page.locator("h2#abpa-title")).to_have_text("Asistente ABParts")
        await expect(page.locator(".w")).to_have_attribute("data-theme", "dark")
        # the token carries machine ids only; the widget asks the service for their names
        first = page.locator(".card.pick button[data-machine-id='AB-1001']")
        await expect(first).to_have_text(re.compile(r".+ · AB-1001"), timeout=TIMEOUT)
        assert await first.text_content() != "AB-1001 · AB-1001"
        await first.click()
        await ask(page, "¿Por qué se para?")
        await finished_answer(page)
        await shot(page, "other-origin")


async def test_an_origin_not_allowed_is_refused(widget_settings: Any, running_server: Any, host_site: Any,
                                                new_page: Any) -> None:
    async with running_server(widget_settings()) as srv:
        url = host_site.page("host.html", (
            f"<!doctype html><html><body><script src='{srv.url}/widget.js'"
            f" data-token-url='/token.json'></script></body></html>"))
        async with httpx.AsyncClient(base_url=srv.url) as client:
            token = (await client.get("/demo/token")).json()["token"]
        host_site.page("token.json", json.dumps({"token": token}))
        page = await new_page()
        await page.goto(url)
        await page.locator(".launch").click()
        await expect(page.locator(".banner")).to_contain_text("Could not sign in", timeout=TIMEOUT)


async def test_expired_token_is_replaced_by_a_fresh_one(widget_settings: Any, running_server: Any, host_site: Any,
                                                        new_page: Any, make_token: Any) -> None:
    settings = widget_settings(allowed_origins=(host_site.origin,))
    expired = make_token("tok-user", ttl=-120)
    fresh = make_token("tok-user", ttl=600)
    async with running_server(settings) as srv:
        url = host_site.page("init.html", (
            "<!doctype html><html><body><h1>Host</h1>"
            f"<script src='{srv.url}/widget.js'></script><script>"
            f"var tokens = ['{expired}', '{fresh}'], calls = 0;"
            "ABPartsAssistant.init({getToken: function () { calls++; return tokens.shift() || tokens[0] || '"
            f"{fresh}'" "; }});"
            "</script></body></html>"))
        page = await new_page()
        await page.goto(url)
        await page.locator(".launch").click()
        await expect(page.locator(".dot.on")).to_have_count(1, timeout=TIMEOUT)
        assert await page.evaluate("calls") >= 2  # refused with 4002, asked the host again
