"""Reviewing a proposed resolution in the admin console: edit, approve, and only then is it knowledge."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import pytest
from playwright.async_api import expect

from testkit.wsclient import ChatClient

from .helpers import TIMEOUT

pytestmark = pytest.mark.browser


async def test_support_edits_and_approves_a_proposed_resolution(server: Any, llm_server: Any, new_page: Any,
                                                                make_token: Any, database_url: str, shot: Any) -> None:
    llm_server.llm.set_default({"kind": "stream", "text": "Bleed the hydraulic circuit.", "interval": 0.002})
    client = ChatClient(server.ws_url, make_token("op-review", machines=["AB-1001"]))
    await client.connect(machine_id="AB-1001")
    await client.ask("My name is Ola, the arm drifts down on AB-1001")
    await client.until("done")
    await client.send({"type": "resolve", "resolved": True, "save": True})
    await client.until("resolved")
    await client.close()

    page = await new_page(width=1280, height=900)
    await page.goto(server.url + "/admin")
    await page.get_by_role("button", name="Use a development admin token").click()
    await page.get_by_role("tab", name="Expert knowledge").click()
    proposal = page.locator("#proposals li")
    await expect(proposal).to_have_count(1, timeout=TIMEOUT)
    text = proposal.locator("textarea")
    await expect(text).to_have_value(re.compile("^Problem: My name is Ola"), timeout=TIMEOUT)
    await text.fill("Problem: the arm drifts down.\nWhat fixed it: bleeding the hydraulic circuit.")
    await shot(page, "proposal-edited")
    await proposal.get_by_role("button", name="Approve").click()
    await expect(page.locator("#proposals-empty")).to_be_visible(timeout=TIMEOUT)
    await expect(page.locator("#entries li", has_text="bleeding the hydraulic circuit")).to_have_count(1, timeout=TIMEOUT)

    conn = await asyncpg.connect(database_url)
    try:
        [entry] = await conn.fetch("SELECT d.title, string_agg(c.text, ' ') AS text FROM kb_documents d"
                                   " JOIN kb_chunks c ON c.version_id = d.current_version_id"
                                   " WHERE d.kind = 'resolution' GROUP BY d.title")
        [review] = await conn.fetch("SELECT actor, action FROM audit_log WHERE action = 'resolution.approve'")
    finally:
        await conn.close()
    assert "Ola" not in entry["text"] and "bleeding the hydraulic circuit" in entry["text"]
    assert entry["title"] == "Resolution (AutoBoss V4)" and review["actor"] == "demo-admin"
    assert page.errors == []
