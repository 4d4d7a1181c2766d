"""Support staff work the queue: a reply reaches the user's open chat live; status changes are audited."""

from __future__ import annotations

import httpx

from testkit.wsclient import ChatClient

from .helpers import bearer, fetch, set_diagnostic, ticket


async def test_support_reply_reaches_the_open_chat_live(esc_settings, llm_server, running_server, make_token,
                                                        database_url):
    llm_server.llm.set_default({"kind": "stream", "text": "Check the winch brake.", "interval": 0.005})
    operator = make_token("op-10", name="Maria", machines=["AB-2002"])
    support = make_token("sup-10", role="support", name="Sam Support")
    async with running_server(esc_settings()) as srv, httpx.AsyncClient() as http:
        client = ChatClient(srv.ws_url, operator)
        await client.connect(machine_id="AB-2002")
        await client.ask("The winch makes a grinding noise")
        await client.until("done")
        await client.send({"type": "escalate", "reason": "grinding gets worse"})
        escalated = await client.until("escalated")
        tid = escalated["ticket_id"]

        listing = (await http.get(f"{srv.url}/api/escalations?status=open", headers=bearer(support))).json()
        [item] = listing["escalations"]
        assert item["ticket_number"] == escalated["ticket_number"] and item["user_name"] == "Maria"
        assert item["machine_id"] == "AB-2002" and item["reason"] == "grinding gets worse"

        r = await http.post(f"{srv.url}/api/escalations/{tid}/reply", headers=bearer(support),
                            json={"text": "Hello Maria, please stop the winch and send a photo."})
        assert r.status_code == 201, r.text
        live = await client.until("support_message")
        assert live["text"] == "Hello Maria, please stop the winch and send a photo."
        assert live["agent"] == "Sam Support" and live["message_id"] == r.json()["message_id"]

        # a second device opening the session later sees the reply in the record
        history = (await http.get(f"{srv.url}/api/sessions/{client.session_id}", headers=bearer(operator))).json()
        reply = history["messages"][-1]
        assert reply["role"] == "support" and reply["mode"] == "support" and reply["status"] == "complete"

        detail = await ticket(http, srv.url, support, tid)
        assert detail["status"] == "in_progress" and detail["assignee"] == "Sam Support"
        assert [m["role"] for m in detail["transcript"]] == ["user", "assistant", "support"]
        assert detail["transcript"][-1]["agent"] == "Sam Support"
        assert detail["machine"]["model"] == "AutoBoss M6" and detail["machine"]["hours"] == 2980
        assert [n["channel"] for n in detail["notifications"]] == []  # no SMTP_HOST, no WEBHOOK_URLS
        smtp = (await http.get(f"{srv.url}/health/ready")).json()["components"]["smtp"]
        assert smtp["status"] == "degraded" and "SMTP_HOST empty" in smtp["detail"]

        r = await http.post(f"{srv.url}/api/escalations/{tid}/status", headers=bearer(support), json={"status": "closed"})
        assert r.status_code == 200 and r.json()["status"] == "closed"
        r = await http.post(f"{srv.url}/api/escalations/{tid}/status", headers=bearer(support), json={"status": "done"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_status"
        r = await http.post(f"{srv.url}/api/escalations/{tid}/reply", headers=bearer(support), json={"text": "  "})
        assert r.status_code == 400
        r = await http.post(f"{srv.url}/api/escalations/999999/reply", headers=bearer(support), json={"text": "hi"})
        assert r.status_code == 404

        # closed: the next escalation of the session is a new ticket, with the trigger the assistant offered
        await set_diagnostic(database_url, client.session_id, [], escalation_offer={"trigger": "failed_steps"})
        await client.send({"type": "escalate"})
        second = await client.until("escalated")
        assert second["ticket_number"] != escalated["ticket_number"] and second["new"] is True
        assert second["trigger"] == "failed_steps"
        await client.close()
    [row] = await fetch(database_url, "SELECT state FROM sessions WHERE id = $1", client.session_id)
    assert "escalation_offer" not in row["state"]  # used up by the ticket it led to
    audit = await fetch(database_url, "SELECT actor, action, target FROM audit_log ORDER BY id")
    actions = [(a["actor"], a["action"], a["target"]) for a in audit]
    assert ("sup-10", "escalation.reply", str(tid)) in actions
    assert ("sup-10", "escalation.status", str(tid)) in actions
    assert ("sup-10", "escalation.view", str(tid)) in actions


async def test_support_reply_reaches_a_chat_on_another_replica(esc_settings, running_server, make_token):
    """The reply is published through the session stream, so it reaches the user wherever they are connected."""
    operator = make_token("op-11")
    support = make_token("adm-11", role="admin", name="Ada Admin")
    settings = esc_settings()
    async with running_server(settings) as one, running_server(settings.replace(port=0)) as two, \
            httpx.AsyncClient() as http:
        client = ChatClient(one.ws_url, operator)
        await client.connect()
        await client.send({"type": "escalate"})
        escalated = await client.until("escalated")
        r = await http.post(f"{two.url}/api/escalations/{escalated['ticket_id']}/reply", headers=bearer(support),
                            json={"text": "On my way."})
        assert r.status_code == 201
        live = await client.until("support_message")
        assert live["text"] == "On my way." and live["agent"] == "Ada Admin"
        await client.close()
