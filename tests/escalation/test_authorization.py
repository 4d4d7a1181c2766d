"""Every support/admin endpoint refuses missing tokens (401) and too-low roles (403)."""

from __future__ import annotations

import httpx

from testkit.wsclient import ChatClient

from .helpers import bearer

# (method, path, body, least role)
ENDPOINTS = [
    ("GET", "/api/escalations", None, "support"),
    ("GET", "/api/escalations/{tid}", None, "support"),
    ("POST", "/api/escalations/{tid}/reply", {"text": "hello"}, "support"),
    ("POST", "/api/escalations/{tid}/status", {"status": "in_progress"}, "support"),
    ("GET", "/api/analytics", None, "admin"),
]
RANK = {"operator": 0, "support": 1, "admin": 2}


async def test_admin_endpoints_need_a_token_and_the_role(esc_settings, running_server, make_token):
    async with running_server(esc_settings()) as srv, httpx.AsyncClient() as http:
        client = ChatClient(srv.ws_url, make_token("op-40"))
        await client.connect()
        await client.send({"type": "escalate"})
        tid = (await client.until("escalated"))["ticket_id"]
        await client.close()
        tokens = {role: make_token(f"{role}-40", role=role) for role in RANK}
        forged = make_token("admin-x", role="admin", secret="not-the-server-secret-but-long-enough-0123")
        for method, path, body, least in ENDPOINTS:
            url = srv.url + path.format(tid=tid)
            for headers in ({}, {"Authorization": "Basic abc"}, bearer(forged)):
                r = await http.request(method, url, json=body, headers=headers)
                assert r.status_code == 401, (method, path, headers, r.text)
                assert r.json()["error"]["code"] in ("token_missing", "token_invalid")
            for role, token in tokens.items():
                r = await http.request(method, url, json=body, headers=bearer(token))
                expected_ok = RANK[role] >= RANK[least]
                if expected_ok:
                    assert r.status_code in (200, 201), (method, path, role, r.text)
                else:
                    assert r.status_code == 403, (method, path, role, r.text)
                    assert r.json()["error"]["code"] == "forbidden"
        # machine context: only the machines in the operator's token
        r = await http.get(f"{srv.url}/api/machines/AB-1001", headers=bearer(tokens["operator"]))
        assert r.status_code == 403
