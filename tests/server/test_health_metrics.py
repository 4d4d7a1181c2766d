"""Health endpoints and metrics of a running server."""

from __future__ import annotations

import httpx

from testkit.wsclient import ChatClient


async def test_ready_reports_each_component(llm_settings, llm_server, running_server):
    async with running_server(llm_settings()) as srv, httpx.AsyncClient() as http:
        live = await http.get(srv.url + "/health/live")
        ready = await http.get(srv.url + "/health/ready")
    assert live.status_code == 200
    body = ready.json()
    assert ready.status_code == 200
    for name in ("postgres", "redis", "llm"):
        assert body["components"][name]["status"] == "healthy", body
        assert body["components"][name]["latency_ms"] is not None


async def test_llm_down_shows_degraded_not_down(llm_settings, running_server):
    # nothing listens on this port: the provider is unreachable
    async with running_server(llm_settings(openai_base_url="http://127.0.0.1:9/v1")) as srv, httpx.AsyncClient() as http:
        ready = await http.get(srv.url + "/health/ready")
    body = ready.json()
    assert ready.status_code == 200 and body["status"] == "degraded"
    assert body["components"]["llm"]["status"] == "unhealthy"
    assert body["components"]["postgres"]["status"] == "healthy"


async def test_metrics_count_turns_and_tokens(llm_settings, llm_server, running_server, make_token):
    async with running_server(llm_settings()) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("q")
        await client.until("done")
        await client.close()
        async with httpx.AsyncClient() as http:
            text = (await http.get(srv.url + "/metrics")).text
    assert 'abparts_turns_total{mode="llm",status="complete"} 1.0' in text
    assert 'abparts_llm_calls_total{model="primary",outcome="ok"} 1.0' in text
    assert "abparts_time_to_first_token_seconds_count 1.0" in text
    assert 'abparts_llm_tokens_total{kind="completion",model="primary"}' in text
    assert "abparts_db_pool_connections" in text
