"""The access log of a real replica: one JSON line per HTTP request and per WebSocket connection, with
the route template and the ids, never the query string, a token or message text; level configurable."""

from __future__ import annotations

import json
import uuid

import httpx
import websockets

from testkit.wsclient import ChatClient
from tests.deploy.conftest import wait_until


def access_lines(log_text: str) -> list[dict]:
    out = []
    for line in log_text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") in ("http.access", "ws.access"):
            out.append(entry)
    return out


async def test_one_line_per_request_and_per_connection_without_secrets(replica_settings, running_server, make_token):
    secret = "qs-secret-" + uuid.uuid4().hex
    marker = "message-marker-" + uuid.uuid4().hex
    token = make_token()
    async with running_server(replica_settings()) as srv, httpx.AsyncClient(timeout=20) as http:
        ok = await http.get(srv.url + f"/health/ready?token={secret}", headers={"X-Correlation-Id": "corr-1"})
        missing = await http.get(srv.url + "/api/sessions/" + uuid.uuid4().hex, headers={"Authorization": f"Bearer {token}"})
        refused = await http.get(srv.url + "/api/sessions", headers={"Authorization": "Bearer " + secret})
        client = ChatClient(srv.ws_url + f"?access_token={secret}", token)
        await client.connect()
        await client.ask(marker)
        await client.until("done", timeout=60)
        await client.close()
        # a connection that never says hello and is closed by the client
        async with websockets.connect(srv.ws_url) as ws:
            await ws.close(code=1000)

        lines = await wait_until(lambda: (lambda found: found if len([e for e in found if e["event"] == "ws.access"]) >= 2
                                          else None)(access_lines(srv.log_text())), within=30)
        log_text = srv.log_text()

    http_lines = [e for e in lines if e["event"] == "http.access"]
    by_route = {(e["route"], e["status"]): e for e in http_lines}
    ready = by_route[("/health/ready", ok.status_code)]
    assert ready["method"] == "GET" and ready["correlation_id"] == "corr-1"
    assert ready["request_id"] == ok.headers["x-request-id"]
    assert ready["bytes_sent"] == len(ok.content) and ready["duration_ms"] >= 0
    assert ("/api/sessions/{session_id}", missing.status_code) in by_route, "the route template, not the path"
    assert ("/api/sessions", refused.status_code) in by_route and refused.status_code == 401
    ws_lines = [e for e in lines if e["event"] == "ws.access"]
    chat = next(e for e in ws_lines if e["accepted"] and e["bytes_received"] > len(marker))
    assert chat["route"] == "/ws" and chat["close_code"] in (1000, 1005) and chat["bytes_sent"] > 0
    assert chat["request_id"] and chat["correlation_id"]
    # no line of the log (access or other) holds the query-string secret; access lines hold no message text
    assert secret not in log_text
    assert all(marker not in json.dumps(e) for e in lines)
    for entry in lines:
        assert "?" not in entry["route"] and "path" not in entry and "query" not in entry


async def test_access_log_level_off_and_below_log_level(replica_settings, running_server):
    for settings in (replica_settings(access_log="off"), replica_settings(access_log="debug", log_level="info")):
        async with running_server(settings) as srv, httpx.AsyncClient(timeout=20) as http:
            for _ in range(3):
                assert (await http.get(srv.url + "/health/live")).status_code == 200
            text = srv.log_text()
        assert access_lines(text) == [], settings.access_log
    async with running_server(replica_settings(access_log="warning", log_level="warning")) as srv, \
            httpx.AsyncClient(timeout=20) as http:
        await http.get(srv.url + "/health/live")
        lines = await wait_until(lambda: access_lines(srv.log_text()), within=20)
    assert lines[0]["level"] == "warning" and lines[0]["route"] == "/health/live"
