"""A token that runs out on an open conversation: the server closes the socket with 4002 at its `exp`;
the widget fetches a new token and resumes the same session without the user seeing a reconnect."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from playwright.async_api import Route, expect

from server.http.web import DEMO_MACHINES

from .helpers import TIMEOUT, answers, ask, finished_answer, open_widget, shadow_eval

pytestmark = pytest.mark.browser

TTL = 6  # seconds each token lives: short enough to run out twice during the test


async def test_expired_token_is_refreshed_and_the_session_resumes_unnoticed(
        widget_settings: Any, running_server: Any, llm_server: Any, make_token: Any, new_page: Any) -> None:
    async with running_server(widget_settings(jwt_leeway_seconds=0)) as srv:
        page = await new_page()
        minted: list[str] = []
        closes: list[int] = []
        async def token(route: Route) -> None:  # the host app's token endpoint, handing out short-lived tokens
            minted.append(make_token("refresh-user", machines=[m["id"] for m in DEMO_MACHINES], ttl=TTL))
            await route.fulfill(status=200, content_type="application/json", body=json.dumps({
                "token": minted[-1], "user": {"id": "refresh-user", "name": "Refresh User", "role": "operator",
                                              "lang": "en", "machines": list(DEMO_MACHINES)}}))

        await page.route("**/demo/token*", token)
        expired_twice = asyncio.Event()

        def closed(_ws: Any) -> None:
            closes.append(1)
            if len(closes) >= 2:
                expired_twice.set()

        page.on("websocket", lambda ws: ws.on("close", closed))
        await open_widget(page, srv.url)
        # from here on, record every state the connection indicator and the banner show
        await shadow_eval(page, """
            window.__seen = [];
            const dot = root.querySelector('.dot'), banner = root.querySelector('.banner');
            const note = () => window.__seen.push(dot.className + (banner && !banner.hidden ? ' banner' : ''));
            new MutationObserver(note).observe(root, {attributes: true, subtree: true, attributeFilter: ['class', 'hidden']});
            return true;""")
        session_before = await page.evaluate(
            "Object.keys(sessionStorage).filter(k => k.endsWith(':session')).map(k => sessionStorage[k])")

        await ask(page, "first question before the token runs out")
        await finished_answer(page)
        # the server closes the socket at the token's exp (twice within this wait); the widget gets a new
        # token each time and reconnects. The widget also asks for tokens for its HTTP calls (history,
        # uploads), so the count of tokens alone does not show that sockets were closed: count the closes.
        await asyncio.wait_for(expired_twice.wait(), TTL * 10)
        await expect(page.locator(".dot.on")).to_have_count(1, timeout=TIMEOUT)
        await ask(page, "second question after the refresh")  # may meet the next expiry: it waits in the outbox
        await expect(answers(page)).to_have_count(2, timeout=TIMEOUT)
        second = await finished_answer(page, 1)
        await expect(second).to_be_visible()

        assert len(minted) >= 3, "the widget did not fetch a new token after each expiry"
        seen = await page.evaluate("window.__seen")
        assert not [s for s in seen if "off" in s or "banner" in s], f"the user saw a reconnect: {seen}"
        session_after = await page.evaluate(
            "Object.keys(sessionStorage).filter(k => k.endsWith(':session')).map(k => sessionStorage[k])")
        assert session_after == session_before and session_before, "the conversation did not resume"
        assert page.errors == []  # type: ignore[attr-defined]
        log = srv.log_text()
        assert "hub.token_expired" in log
