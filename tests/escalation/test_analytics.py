"""Resolution, proposed (then approved) resolutions and the analytics report after a few scripted conversations."""

from __future__ import annotations

import datetime as dt

import httpx

from testkit.wsclient import ChatClient

from .helpers import bearer


async def _conversation(srv, token, text, *, lang=None, machine_id=None):
    client = ChatClient(srv.ws_url, token)
    await client.connect(**({"machine_id": machine_id} if machine_id else {}))
    await client.ask(text, **({"lang": lang} if lang else {}))
    done = await client.until("done")
    return client, done


async def test_analytics_after_scripted_sessions(esc_settings, llm_server, running_server, make_token):
    llm_server.llm.set_default({"kind": "stream", "text": "Clean the brush motor contacts and restart.", "interval": 0.002})
    admin = make_token("adm-30", role="admin")
    async with running_server(esc_settings()) as srv, httpx.AsyncClient(timeout=30) as http:
        a, done_a = await _conversation(srv, make_token("u-a", machines=["AB-1001"]), "Brushes do not turn",
                                        machine_id="AB-1001")
        await a.send({"type": "feedback", "message_id": done_a["message_id"], "rating": "up"})
        await a.until("feedback_recorded")
        await a.send({"type": "resolve", "resolved": True, "save": True})
        resolved = await a.until("resolved", timeout=60)
        assert resolved["resolved"] is True and resolved["saved"] is True

        b, done_b = await _conversation(srv, make_token("u-b", lang="el", machines=["AB-1001"]),
                                        "Οι βούρτσες δεν γυρίζουν καθόλου", lang="el", machine_id="AB-1001")
        await b.send({"type": "feedback", "message_id": done_b["message_id"], "rating": "down", "comment": "wrong part"})
        await b.until("feedback_recorded")
        assert (await b.until("escalation_offer"))["reason"] == "feedback"  # a thumbs-down offers a human
        await b.send({"type": "escalate"})
        await b.until("escalated")

        c, _ = await _conversation(srv, make_token("u-c", machines=["AB-2002"]), "brushes do NOT turn?",
                                   machine_id="AB-2002")
        await c.send({"type": "resolve", "resolved": False, "save": True})
        assert (await c.until("resolved"))["saved"] is False

        d = ChatClient(srv.ws_url, make_token("u-d"))
        await d.connect()  # opened but never asked: not a conversation
        for client in (a, b, c, d):
            await client.close()

        r = await http.get(f"{srv.url}/api/analytics", headers=bearer(admin))
        assert r.status_code == 200, r.text
        rep = r.json()
        assert (rep["sessions"], rep["resolved"], rep["unresolved"], rep["escalated"]) == (3, 1, 1, 1)
        assert rep["resolution_rate"] == 0.3333 and rep["escalation_rate"] == 0.3333
        assert rep["feedback"] == {"up": 1, "down": 1}
        assert rep["escalations_by_trigger"] == {"feedback": 1}  # the escalation accepted the offer
        assert rep["top_problems"][0] == {"text": "Brushes do not turn", "count": 2}
        flagged = [q for q in rep["unanswered"] if q["reason"] == "negative_feedback"]
        assert [q["text"] for q in flagged] == ["Οι βούρτσες δεν γυρίζουν καθόλου"]
        assert flagged[0]["comment"] == "wrong part" and flagged[0]["lang"] == "el"
        assert flagged[0]["machine_model"] == "AutoBoss V4"
        by_model = {g["model"]: g for g in rep["by_model"]}
        assert by_model["AutoBoss V4"]["sessions"] == 2 and by_model["AutoBoss V4"]["escalation_rate"] == 0.5
        assert by_model["AutoBoss M6"]["sessions"] == 1 and by_model["AutoBoss M6"]["resolution_rate"] == 0.0
        assert {g["lang"]: g["sessions"] for g in rep["by_language"]} == {"en": 2, "el": 1}
        today = dt.datetime.now(dt.UTC).date().isoformat()
        assert rep["daily"] == [{"date": today, "sessions": 3, "escalations": 1, "resolved": 1}]

        m6 = (await http.get(f"{srv.url}/api/analytics", params={"model": "AutoBoss M6"}, headers=bearer(admin))).json()
        assert (m6["sessions"], m6["unresolved"], m6["feedback"]) == (1, 1, {"up": 0, "down": 0})
        greek = (await http.get(f"{srv.url}/api/analytics", params={"lang": "el"}, headers=bearer(admin))).json()
        assert (greek["sessions"], greek["escalation_rate"]) == (1, 1.0)
        yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
        past = (await http.get(f"{srv.url}/api/analytics", params={"from": "2020-01-01", "to": yesterday},
                               headers=bearer(admin))).json()
        assert past["sessions"] == 0 and past["resolution_rate"] is None
        bad = await http.get(f"{srv.url}/api/analytics", params={"from": "yesterday"}, headers=bearer(admin))
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_range"

        # the saved resolution is a proposal; once support approves it, knowledge for that model
        entries = (await http.get(f"{srv.url}/api/kb/entries", params={"kind": "resolution"},
                                  headers=bearer(admin))).json()["entries"]
        assert entries == []
        [proposal] = (await http.get(f"{srv.url}/api/resolutions", headers=bearer(admin))).json()["resolutions"]
        r = await http.post(f"{srv.url}/api/resolutions/{proposal['id']}/approve", headers=bearer(admin), json={})
        assert r.status_code == 200, r.text
        entries = (await http.get(f"{srv.url}/api/kb/entries", params={"kind": "resolution"},
                                  headers=bearer(admin))).json()["entries"]
        [entry] = entries
        assert entry["machine_models"] == ["AutoBoss V4"] and entry["title"] == "Resolution (AutoBoss V4)"
        assert "Problem: Brushes do not turn" in entry["text"] and "Clean the brush motor contacts" in entry["text"]
        sessions = (await http.get(f"{srv.url}/api/sessions", headers=bearer(make_token("u-a")))).json()["sessions"]
        assert sessions[0]["status"] == "resolved"
