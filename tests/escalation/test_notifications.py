"""Escalation tickets and their notifications: e-mail to a real SMTP server, signed webhooks, retries."""

from __future__ import annotations

import json
import re

import asyncpg
import httpx
from cryptography.fernet import Fernet
from pgqueuer import Queries

from testkit.wsclient import ChatClient

from .conftest import WEBHOOK_SECRET
from .helpers import bearer, eventually, fetch, set_diagnostic, ticket

STEPS = [
    {"step_id": "s1", "text": "Check the brush motor fuse F3", "outcome": "not_fixed"},
    {"step_id": "s2", "text": "Inspect the brush motor cable for damage", "outcome": "cannot_do"},
]


async def test_escalate_creates_ticket_with_email_and_signed_webhook(esc_settings, llm_server, running_server,
                                                                     make_token, smtp_server, webhook_receiver,
                                                                     database_url):
    llm_server.llm.set_default({"kind": "stream", "text": "Check the brush motor fuse first.", "interval": 0.005})
    smtp = smtp_server()
    receiver, hook_url = webhook_receiver()
    settings = esc_settings(smtp_host="127.0.0.1", smtp_port=smtp.port, webhook_urls=(hook_url,),
                            webhook_secret=WEBHOOK_SECRET, conversation_encryption_key=Fernet.generate_key().decode())
    support = make_token("sup-1", role="support", name="Sam Support")
    async with running_server(settings) as srv, httpx.AsyncClient() as http:
        client = ChatClient(srv.ws_url, make_token("op-1", name="Maria", machines=["AB-1001"]))
        await client.connect(machine_id="AB-1001")
        await client.ask("The brushes stopped turning after the storm")
        await client.until("done")
        await set_diagnostic(database_url, client.session_id, STEPS)
        await client.send({"type": "escalate", "reason": "Nothing helped"})
        escalated = await client.until("escalated")
        assert re.fullmatch(r"ABP-\d{6}", escalated["ticket_number"])
        assert escalated["contact"] == {"email": "support@example.test", "phone": "+47 11 22 33 44"}
        assert escalated["trigger"] == "user" and escalated["seq"] > 0

        # e-mail: received by the SMTP server, readable, with the whole case
        [mail] = await smtp.mailbox.wait(1)
        assert escalated["ticket_number"] in mail["Subject"] and "AutoBoss V4" in mail["Subject"]
        assert mail["To"] == "support@example.test" and mail["From"] == "assistant@example.test"
        body = mail.get_payload(decode=True).decode()
        for expected in ("Nothing helped", "Maria", "V4-2021-0342", "1240 operating hours",
                         "The brushes stopped turning after the storm", "Check the brush motor fuse first.",
                         "Check the brush motor fuse F3 -> not_fixed", "Inspect the brush motor cable for damage -> cannot_do",
                         "Maintenance due_soon: 250 h service"):
            assert expected in body, f"{expected!r} missing from the e-mail:\n{body}"

        # webhook: signed, with a delivery id, the ticket and the transcript
        [hook] = await receiver.wait(1)
        assert hook["valid"]
        headers, payload = hook["headers"], hook["json"]
        assert headers["webhook-id"] == payload["delivery_id"] and headers["x-abparts-event"] == "escalation.created"
        assert re.fullmatch(r"\d{10}", headers["webhook-timestamp"]) and headers["webhook-signature"].startswith("v1,")
        assert payload["ticket"]["ticket_number"] == escalated["ticket_number"]
        assert payload["ticket"]["machine"]["serial"] == "V4-2021-0342"
        assert [s["outcome"] for s in payload["ticket"]["steps"]] == ["not_fixed", "cannot_do"]
        assert payload["ticket"]["transcript"][0]["text"] == "The brushes stopped turning after the storm"

        # a second escalate returns the same ticket and notifies nobody again
        await client.send({"type": "escalate"})
        again = await client.until("escalated")
        assert again["ticket_number"] == escalated["ticket_number"] and again["new"] is False
        listing = (await http.get(f"{srv.url}/api/escalations", headers=bearer(support))).json()["escalations"]
        assert [t["ticket_number"] for t in listing] == [escalated["ticket_number"]]
        detail = await eventually(
            lambda: _all_sent(http, srv.url, support, escalated["ticket_id"]), what="both deliveries sent")
        assert detail["reason"] == "Nothing helped" and listing and detail["transcript"][0]["text"].endswith("after the storm")
        assert detail["snapshot"]["transcript"][0]["text"] == "The brushes stopped turning after the storm"
        assert sorted(n["channel"] for n in detail["notifications"]) == ["email", "webhook"]
        assert detail["steps"][0]["text"] == "Check the brush motor fuse F3"

        ready = (await http.get(f"{srv.url}/health/ready")).json()["components"]
        assert ready["smtp"]["status"] == "healthy" and ready["notifications"]["status"] == "healthy"
        metrics = (await http.get(f"{srv.url}/metrics")).text
        assert 'abparts_escalations_total{trigger="user"} 1.0' in metrics
        assert 'abparts_notifications_total{channel="email",outcome="sent"} 1.0' in metrics
        assert 'abparts_notifications_total{channel="webhook",outcome="sent"} 1.0' in metrics
        await client.close()
    assert len(smtp.mailbox.messages) == 1 and len(receiver.accepted) == 1
    [session] = await fetch(database_url, "SELECT status FROM sessions WHERE id = $1", client.session_id)
    assert session["status"] == "escalated"
    events = await fetch(database_url, "SELECT machine_model, data FROM analytics_events WHERE kind = 'escalation'")
    assert len(events) == 1 and events[0]["machine_model"] == "AutoBoss V4"
    # with an encryption key, the stored copies of the conversation are encrypted like the messages
    stored = await fetch(database_url, "SELECT e.reason, e.snapshot::text AS snapshot, d.payload::text AS payload"
                                       " FROM escalations e JOIN notification_deliveries d ON d.escalation_id = e.id")
    for row in stored:
        for column in ("reason", "snapshot", "payload"):
            assert "after the storm" not in row[column] and "Nothing helped" not in row[column]
        assert row["reason"].startswith("enc:v1:")


async def _all_sent(http, base, token, ticket_id):
    detail = await ticket(http, base, token, ticket_id)
    return detail if detail["notifications"] and all(n["status"] == "sent" for n in detail["notifications"]) else None


async def test_smtp_down_then_up_delivers_exactly_one_email_and_a_lost_reply_is_resent(esc_settings, running_server, make_token, smtp_server,
                                                            database_url):
    smtp = smtp_server(start=False)  # nothing listens on this port yet
    support = make_token("sup-2", role="support")
    async with running_server(esc_settings(smtp_host="127.0.0.1", smtp_port=smtp.port)) as srv, \
            httpx.AsyncClient() as http:
        client = ChatClient(srv.ws_url, make_token("op-2"))
        await client.connect()
        await client.send({"type": "escalate", "reason": "Need a technician"})
        escalated = await client.until("escalated")

        async def failing():
            [n] = (await ticket(http, srv.url, support, escalated["ticket_id"]))["notifications"]
            return n if n["attempts"] >= 2 and n["status"] == "failed" else None

        failed = await eventually(failing, what="two failed attempts while SMTP is down")
        assert "SMTP failed" in failed["last_error"] and failed["uncertain"] is False
        ready = (await http.get(f"{srv.url}/health/ready")).json()
        assert ready["components"]["smtp"]["status"] == "degraded"
        assert ready["components"]["notifications"]["status"] == "degraded"
        assert ready["status"] == "degraded"  # e-mail failing degrades the service, it does not take it down

        smtp.start()
        [mail] = await smtp.mailbox.wait(1)
        assert escalated["ticket_number"] in mail["Subject"]

        async def sent():
            [n] = (await ticket(http, srv.url, support, escalated["ticket_id"]))["notifications"]
            return n if n["status"] == "sent" else None

        delivered = await eventually(sent, what="the delivery recorded as sent")
        assert delivered["attempts"] >= 3
        await eventually(lambda: _no_jobs(database_url), what="no notification job left")
        # the job runs again (a queue re-delivery, a replica re-picking it): the delivery is not sent twice
        await _enqueue_again(database_url, delivered["id"])
        await eventually(lambda: _no_jobs(database_url), what="the repeated job finished")
        metrics = (await http.get(f"{srv.url}/metrics")).text
        assert 'abparts_notifications_total{channel="any",outcome="already_done"} 1.0' in metrics
        await client.close()
        assert len(smtp.mailbox.messages) == 1
        assert smtp.mailbox.messages[0]["Message-ID"] == f"<{delivered['id']}@abparts-assistant>"

        # The documented window: the server keeps the message but the connection drops before its reply.
        # Losing a support request is worse than a duplicate: it is sent again, flagged, with the same Message-ID.
        smtp.mailbox.drop_after_data = 1
        other = ChatClient(srv.ws_url, make_token("op-6"))
        await other.connect()
        await other.send({"type": "escalate"})
        second = await other.until("escalated")
        lost, resent = (await smtp.mailbox.wait(3))[1:]

        async def resent_ok():
            [n] = (await ticket(http, srv.url, support, second["ticket_id"]))["notifications"]
            return n if n["status"] == "sent" else None

        again = await eventually(resent_ok, what="the interrupted delivery recorded as sent")
        metrics = (await http.get(f"{srv.url}/metrics")).text
        await other.close()
    assert again["attempts"] == 2 and again["uncertain"] is True
    assert lost["Message-ID"] == resent["Message-ID"] == f"<{again['id']}@abparts-assistant>"
    assert 'abparts_notifications_total{channel="email",outcome="possible_duplicate"} 1.0' in metrics


async def _enqueue_again(database_url, delivery_id):
    conn = await asyncpg.connect(database_url)
    try:
        await Queries.from_asyncpg_connection(conn).enqueue("notify.deliver", json.dumps({"delivery_id": delivery_id}).encode())
    finally:
        await conn.close()


async def _no_jobs(database_url):
    rows = await fetch(database_url, "SELECT count(*) AS n FROM pgqueuer WHERE entrypoint = 'notify.deliver'")
    return rows[0]["n"] == 0


async def test_webhook_is_retried_until_the_receiver_accepts(esc_settings, running_server, make_token,
                                                            webhook_receiver):
    receiver, hook_url = webhook_receiver(fail_first=2)
    support = make_token("sup-3", role="support")
    settings = esc_settings(webhook_urls=(hook_url,), webhook_secret=WEBHOOK_SECRET)
    async with running_server(settings) as srv, httpx.AsyncClient() as http:
        client = ChatClient(srv.ws_url, make_token("op-3"))
        await client.connect()
        await client.send({"type": "escalate"})
        escalated = await client.until("escalated")
        [accepted] = await receiver.wait(1)
        detail = await eventually(lambda: _all_sent(http, srv.url, support, escalated["ticket_id"]),
                                  what="the webhook delivery recorded as sent")
        await client.close()
    assert len(receiver.calls) == 3 and all(c["valid"] for c in receiver.calls)
    # every attempt is the same delivery (receivers dedupe on it) with the same body
    assert {c["headers"]["webhook-id"] for c in receiver.calls} == {accepted["json"]["delivery_id"]}
    assert len({c["body"] for c in receiver.calls}) == 1
    [n] = detail["notifications"]
    assert n["attempts"] == 3 and n["channel"] == "webhook"


async def test_email_over_starttls_and_implicit_tls(esc_settings, running_server, make_token, smtp_server, tls_files):
    """SMTP_SECURITY is honoured: STARTTLS and implicit TLS deliver with a verified certificate; a server that
    requires STARTTLS refuses a plain-text client, and the refusal is recorded and retried, not lost."""
    starttls, implicit = smtp_server(security="starttls"), smtp_server(security="tls")
    trust = {"SSL_CERT_FILE": str(tls_files.cert)}  # the test CA, as an operator would install theirs
    support = make_token("sup-4", role="support")
    for server, security in ((starttls, "starttls"), (implicit, "tls")):
        settings = esc_settings(smtp_host="127.0.0.1", smtp_port=server.port, smtp_security=security)
        async with running_server(settings, extra_env=trust) as srv:
            client = ChatClient(srv.ws_url, make_token("op-4"))
            await client.connect()
            await client.send({"type": "escalate", "reason": f"over {security}"})
            escalated = await client.until("escalated")
            [mail] = await server.mailbox.wait(1)
            assert escalated["ticket_number"] in mail["Subject"] and f"over {security}" in mail.get_payload()
            await client.close()

    plain = esc_settings(smtp_host="127.0.0.1", smtp_port=starttls.port, smtp_security="none")
    async with running_server(plain, extra_env=trust) as srv, httpx.AsyncClient() as http:
        client = ChatClient(srv.ws_url, make_token("op-5"))
        await client.connect()
        await client.send({"type": "escalate"})
        escalated = await client.until("escalated")

        async def refused():
            [n] = (await ticket(http, srv.url, support, escalated["ticket_id"]))["notifications"]
            return n if n["status"] == "failed" else None

        failed = await eventually(refused, what="the plain-text attempt refused")
        assert "SMTP refused: 530" in failed["last_error"] and failed["uncertain"] is False
        await client.close()
    assert len(starttls.mailbox.messages) == 1
