"""Encryption at rest covers every free-text field: a real conversation with citations, diagnostic steps
(with a user's comment), the machine and an escalation leaves none of its words in clear in the
database, while the session history, the ticket view, the export and analytics show them decrypted,
and a key rotation re-seals them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from server.crypto.cipher import Sealing, TextCipher
from testkit.wsclient import ChatClient
from tests.server.test_engine import upload_manual

from .helpers import bearer, fetch, ticket

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[2]
MARK = "Quokka-5519"
SERIAL = "V4-2021-0342"  # the demo machine AB-1001's serial: in the ticket snapshot's machine part
ANSWER = ("The brush motor is most likely overloaded [1].\n\n"
          f"1. Remove netting tangled around the {MARK} brush heads [1].\n"
          "2. Check the brush motor fuse F2 and replace it if blown [1].\n"
          "3. Inspect the drive belt tension [1].\n")

# every column the conversation's words may reach, with the rows of this session
RAW = {
    "sessions.state": "SELECT state::text AS v FROM sessions WHERE id = $1",
    "sessions.user_name": "SELECT user_name AS v FROM sessions WHERE id = $1",
    "messages.text": "SELECT text AS v FROM messages WHERE session_id = $1",
    "messages.steps": "SELECT steps::text AS v FROM messages WHERE session_id = $1",
    "messages.citations": "SELECT citations::text AS v FROM messages WHERE session_id = $1",
    "escalations.reason": "SELECT reason AS v FROM escalations WHERE session_id = $1",
    "escalations.snapshot": "SELECT snapshot::text AS v FROM escalations WHERE session_id = $1",
    "notification_deliveries.payload": "SELECT d.payload::text AS v FROM notification_deliveries d"
                                       " JOIN escalations e ON e.id = d.escalation_id WHERE e.session_id = $1",
    "analytics_events.data": "SELECT data::text AS v FROM analytics_events WHERE session_id = $1",
}


async def _raw(database_url: str, session_id: str) -> dict[str, list[str]]:
    return {name: [r["v"] for r in await fetch(database_url, sql, session_id) if r["v"] is not None]
            for name, sql in RAW.items()}


def _reencrypt(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server", "reencrypt"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


async def _sealed_parts(database_url: str, session_id: str) -> list[str]:
    """The sealed JSON values: the session's diagnostic, each answer's steps and citations, the ticket's
    user, machine and steps."""
    rows = await fetch(
        database_url,
        "SELECT state->>'diagnostic' AS v FROM sessions WHERE id = $1"
        " UNION ALL SELECT steps #>> '{}' FROM messages WHERE session_id = $1 AND jsonb_typeof(steps) = 'string'"
        " UNION ALL SELECT citations #>> '{}' FROM messages WHERE session_id = $1 AND jsonb_typeof(citations) = 'string'"
        " UNION ALL SELECT snapshot->>p FROM escalations, unnest(ARRAY['user', 'machine', 'steps']) p"
        "  WHERE session_id = $1", session_id)
    return [r["v"] for r in rows]


async def test_every_free_text_field_is_sealed_and_every_reader_opens_it(
        esc_settings, llm_server, running_server, make_token, database_url, redis_url, tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    llm_server.llm.push({"kind": "stream", "text": ANSWER})
    llm_server.llm.set_default({"kind": "stream", "text": "Check the belt next.", "interval": 0.0})
    user = make_token("op-sealed", name=f"{MARK} user", machines=["AB-1001"])
    support = make_token("sup-sealed", role="support", name="Sam")
    admin = make_token("adm-sealed", role="admin")
    settings = esc_settings(conversation_encryption_key=old, data_dir=tmp_path / "data",
                            webhook_urls=("http://127.0.0.1:9/hook",),
                            webhook_secret="webhook-secret-for-the-sealing-test-0123")
    async with running_server(settings) as srv, httpx.AsyncClient(timeout=60) as http:
        await upload_manual(srv, admin)
        client = ChatClient(srv.ws_url, user)
        await client.connect(machine_id="AB-1001")
        await client.ask(f"The brushes stopped, error E04, {MARK} question")
        step1 = await client.until("step")
        done = await client.until("done")
        assert MARK in step1["text"] and done["citations"], (step1, done)
        await client.send({"type": "step_outcome", "step_id": step1["step_id"], "outcome": "not_fixed",
                           "comment": f"{MARK} comment"})
        await client.until("step_result", step_id=step1["step_id"])
        await client.send({"type": "escalate", "reason": f"{MARK} reason"})
        escalated = await client.until("escalated")
        session_id = client.session_id
        assert session_id
        await client.close()

        # nothing of the conversation in clear, in any column it reaches
        raw = await _raw(database_url, session_id)
        for name in ("sessions.state", "messages.steps", "messages.citations", "escalations.snapshot",
                     "notification_deliveries.payload"):
            assert raw[name], f"{name}: no row written"
        leaks = {name: v for name, values in raw.items() for v in values
                 if MARK in v or SERIAL in v or "brushdrive" in v}
        assert leaks == {}, leaks
        # what stays plain is what SQL itself reads: the escalation trigger, who answers the session
        [state] = await fetch(database_url, "SELECT jsonb_typeof(state->'diagnostic') AS d FROM sessions WHERE id = $1",
                              session_id)
        assert state["d"] == "string"
        parts = await _sealed_parts(database_url, session_id)
        assert len(parts) >= 6 and all(p.startswith("enc:v1:") for p in parts), parts

        # every reader opens it: the session history (widget replay), the ticket view, the export, analytics
        r = await http.get(f"{srv.url}/api/sessions/{session_id}", headers=bearer(user))
        assert r.status_code == 200, r.text
        answer = next(m for m in r.json()["messages"] if m["id"] == done["message_id"])
        assert MARK in answer["steps"][0]["text"] and answer["steps"][0]["outcome"] == "not_fixed"
        assert answer["citations"] and answer["citations"][0]["title"]
        detail = await ticket(http, srv.url, support, escalated["ticket_id"])
        assert MARK in detail["steps"][0]["text"] and detail["steps"][0]["outcome"] == "not_fixed"
        assert MARK in json.dumps(detail["steps"])  # the comment too
        assert detail["machine"]["serial"] == SERIAL
        assert detail["snapshot"]["user"]["name"] == f"{MARK} user" and detail["reason"] == f"{MARK} reason"
        assert any(MARK in m["text"] for m in detail["snapshot"]["transcript"])
        r = await http.get(f"{srv.url}/api/me/export", headers=bearer(user))
        assert r.status_code == 200 and "enc:" not in r.text
        export = r.json()
        [exported] = export["sessions"]
        assert exported["state"]["diagnostic"]["steps"][0]["comment"] == f"{MARK} comment"
        assert any(m["citations"] for m in exported["messages"])
        assert export["tickets"][0]["snapshot"]["machine"]["serial"] == SERIAL
        r = await http.get(f"{srv.url}/api/analytics", headers=bearer(admin))
        assert r.status_code == 200, r.text
        assert r.json()["top_topics"] and r.json()["top_topics"][0]["title"], r.json()["top_topics"]

    # a key rotation re-seals them too
    env = {**os.environ, "ENV": "development", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "CONVERSATION_ENCRYPTION_KEY": new, "CONVERSATION_ENCRYPTION_PREVIOUS_KEYS": old}
    out = await asyncio.to_thread(_reencrypt, env)
    assert out.returncode == 0, out.stdout + out.stderr
    only_new = TextCipher(new)
    parts = await _sealed_parts(database_url, session_id)
    assert parts and all(only_new.sealing(p) is Sealing.CURRENT for p in parts), parts
    [row] = await fetch(database_url, "SELECT state->>'diagnostic' AS d FROM sessions WHERE id = $1", session_id)
    assert only_new.open_json(row["d"])["steps"][0]["comment"] == f"{MARK} comment"
