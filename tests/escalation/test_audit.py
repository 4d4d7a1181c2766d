"""The audit log: append-only in the database, hash-chained, verified by the CLI; every staff action lands in it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
import httpx
import pytest

from server.storage.audit import verify_chain
from server.storage.store import Store, TextCipher
from testkit.wsclient import ChatClient

from .helpers import bearer, eventually, fetch


def _cli(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENV": "development", "DATABASE_URL": database_url, "REDIS_URL": "redis://127.0.0.1:1",
           "LOG_LEVEL": "error"}
    return subprocess.run([sys.executable, "-m", "server", "audit-verify"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


async def test_the_audit_log_refuses_changes_and_its_chain_finds_tampering(db_pool: asyncpg.Pool, database_url):
    store = Store(db_pool, TextCipher(""))

    async def write(i: int) -> None:
        await store.audit(f"admin-{i % 3}", "kb.delete", str(i), {"n": i, "text": "ünïcode ✓"})

    await asyncio.gather(*(write(i) for i in range(30)))  # concurrent writers still make one chain
    report = await verify_chain(db_pool, batch=7)  # several batches
    assert report.ok and report.rows == 30
    ids = [r["id"] for r in await db_pool.fetch("SELECT id FROM audit_log ORDER BY id")]
    for sql in ("UPDATE audit_log SET actor = 'someone-else' WHERE id = $1", "DELETE FROM audit_log WHERE id = $1"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await db_pool.execute(sql, ids[3])
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db_pool.execute("TRUNCATE audit_log")
    cli = _cli(database_url)
    assert cli.returncode == 0 and "30 rows, hash chain intact" in cli.stdout, cli.stderr

    # someone able to drop the trigger changes a row: the chain names it
    await db_pool.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
    await db_pool.execute("UPDATE audit_log SET data = '{\"n\": 999}' WHERE id = $1", ids[10])
    report = await verify_chain(db_pool)
    assert not report.ok and report.first_bad_id == ids[10] and "changed" in report.problem
    cli = _cli(database_url)
    assert cli.returncode == 1 and f"chain broken at row {ids[10]}" in cli.stderr
    # ... or removes one (after putting the changed one back as it was is impossible: the hash covers it)
    await db_pool.execute("DELETE FROM audit_log WHERE id <= $1", ids[10])
    report = await verify_chain(db_pool)
    assert not report.ok and report.first_bad_id == ids[11] and "removed" in report.problem


async def test_every_staff_action_is_audited(esc_settings, llm_server, running_server, make_token, database_url):
    llm_server.llm.set_default({"kind": "stream", "text": "Check the filter.", "interval": 0.002})
    operator = make_token("op-audit", machines=["AB-1001"])
    support = make_token("sup-audit", role="support")
    admin = make_token("adm-audit", role="admin")
    async with running_server(esc_settings()) as srv, httpx.AsyncClient(timeout=60) as http:
        base = srv.url
        # knowledge: upload, replace, entry, re-index, delete
        r = await http.post(f"{base}/api/kb/documents", headers=bearer(admin),
                            files={"file": ("pump.md", b"# Pump\n\nClean the pump filter every 250 hours.\n",
                                            "text/markdown")}, data={"models": "AutoBoss V4", "lang": "en"})
        assert r.status_code == 202, r.text
        doc = r.json()["id"]
        await eventually(lambda: _ready(http, base, admin, doc), what="the manual indexed")
        r = await http.put(f"{base}/api/kb/documents/{doc}", headers=bearer(admin),
                           files={"file": ("pump.md", b"# Pump\n\nClean the pump filter every 200 hours.\n",
                                           "text/markdown")})
        assert r.status_code == 202, r.text
        await eventually(lambda: _ready(http, base, admin, doc), what="the new version indexed")
        r = await http.post(f"{base}/api/kb/entries", headers=bearer(admin),
                            json={"kind": "expert", "title": "Pump tip", "text": "Prime the pump before start."})
        assert r.status_code == 201, r.text
        entry = r.json()["id"]
        assert (await http.post(f"{base}/api/kb/documents/{doc}/reindex", headers=bearer(admin))).status_code == 202
        await eventually(lambda: _ready(http, base, admin, doc), what="the re-index")
        assert (await http.delete(f"{base}/api/kb/documents/{entry}", headers=bearer(admin))).status_code == 204

        # a conversation; support reads it, attaches to it, replies to its ticket
        client = ChatClient(srv.ws_url, operator)
        await client.connect(machine_id="AB-1001")
        await client.ask("The pump is loud")
        await client.until("done")
        await client.send({"type": "escalate", "reason": "loud"})
        tid = (await client.until("escalated"))["ticket_id"]
        sid = client.session_id
        await client.close()
        assert (await http.get(f"{base}/api/sessions/{sid}", headers=bearer(support))).status_code == 200
        assert (await http.get(f"{base}/api/sessions/{sid}", headers=bearer(operator))).status_code == 200
        agent = ChatClient(srv.ws_url, support)
        await agent.connect(session_id=sid)
        await agent.close()
        assert (await http.get(f"{base}/api/escalations/{tid}", headers=bearer(support))).status_code == 200
        assert (await http.post(f"{base}/api/escalations/{tid}/reply", headers=bearer(support),
                                json={"text": "On my way"})).status_code == 201
        # privacy: an export and an erasure by an admin
        assert (await http.get(f"{base}/api/admin/users/op-audit/export", headers=bearer(admin))).status_code == 200
        assert (await http.delete(f"{base}/api/admin/users/op-audit/data", headers=bearer(admin))).status_code == 200

    rows = await fetch(database_url, "SELECT actor, action, target, data::text AS data FROM audit_log ORDER BY id")
    actions = [(r["actor"], r["action"], r["target"]) for r in rows]
    for expected in [("adm-audit", "kb.upload", str(doc)), ("adm-audit", "kb.replace", str(doc)),
                     ("adm-audit", "kb.entry", str(entry)), ("adm-audit", "kb.reindex", str(doc)),
                     ("adm-audit", "kb.delete", str(entry)), ("sup-audit", "session.read", sid),
                     ("sup-audit", "session.attach", sid), ("sup-audit", "escalation.view", str(tid)),
                     ("sup-audit", "escalation.reply", str(tid)), ("adm-audit", "privacy.export", "op-audit"),
                     ("adm-audit", "privacy.erase", "op-audit")]:
        assert expected in actions, (expected, actions)
    # the owner reading their own session is not a staff action
    assert [a for a in actions if a[1] == "session.read"] == [("sup-audit", "session.read", sid)]
    # the log says an erasure happened, with counts, not the data
    erase = next(r for r in rows if r["action"] == "privacy.erase")
    assert '"sessions": 1' in erase["data"] and "loud" not in " ".join(r["data"] for r in rows)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        assert (await verify_chain(pool)).ok
    finally:
        await pool.close()


async def _ready(http: httpx.AsyncClient, base: str, token: str, doc: int) -> bool:
    r = await http.get(f"{base}/api/kb/documents/{doc}", headers=bearer(token))
    return r.status_code == 200 and r.json()["status"] == "ready"
