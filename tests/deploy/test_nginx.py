"""The repository's nginx.conf, run by Debian's nginx in front of two real app replicas."""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import websockets

from testkit.wsclient import Refused
from tests.deploy.conftest import (
    ROOT,
    Nginx,
    TLSChatClient,
    metric_value,
    nginx_test,
    render_nginx_conf,
    wait_until,
)

ANSWER = " ".join(f"step{i}" for i in range(80))


def test_nginx_accepts_the_configuration(tls_files, tmp_path):
    nginx = render_nginx_conf(tmp_path, ["127.0.0.1:9", "127.0.0.1:10"], tls_files)
    result = nginx_test(nginx.conf)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


def test_nginx_rejects_a_broken_configuration(tls_files, tmp_path):
    """The check above can fail: the same file with one brace removed does not pass `nginx -t`."""
    nginx = render_nginx_conf(tmp_path, ["127.0.0.1:9", "127.0.0.1:10"], tls_files)
    nginx.conf.write_text(nginx.conf.read_text().replace("location = /ai/ws {", "location = /ai/ws ", 1))
    assert nginx_test(nginx.conf).returncode != 0


async def _replica_with_connection(replicas: list[Any], http: httpx.AsyncClient) -> int:
    """Index of the replica holding the (single) open WebSocket, read from each replica's own metrics."""

    async def which() -> int | None:
        counts = []
        for r in replicas:
            text = (await http.get(r.url + "/metrics")).text
            counts.append(metric_value(text, "abparts_ws_connections"))
        if sorted(counts) == [0.0, 1.0]:
            return counts.index(1.0)
        return None

    return await wait_until(lambda: _not_none(which()), within=15)


async def _not_none(coro: Any) -> Any:
    value = await coro
    return (value,) if value is not None else None


async def test_conversation_through_nginx(nginx_in_front: Nginx, two_replicas, llm_server, make_token):
    llm_server.llm.set_default({"kind": "stream", "text": ANSWER, "interval": 0.0})
    ctx = nginx_in_front.tls.client_context()
    # a browser on the host app's own site: Origin is the site nginx serves, which the app accepts
    # because nginx passes the client's Host header through
    client = TLSChatClient(nginx_in_front.ws_url, make_token(), ctx, origin=nginx_in_front.base)
    ready = await client.connect()
    assert ready["protocol"] == 1 and ready["resumed"] is False
    await client.ask("the brushes do not turn")
    done = await client.until("done", timeout=30)
    await client.close()
    assert done["status"] == "complete"
    assert client.answer_text(done["message_id"]) == ANSWER
    seqs = [f["seq"] for f in client.frames if "seq" in f]
    assert seqs == list(range(1, len(seqs) + 1))
    # a page on another site is refused (close 4003) through the proxy as well
    stranger = TLSChatClient(nginx_in_front.ws_url, make_token(), ctx, origin="https://evil.example")
    assert await _close_code_of_refused_connect(stranger) == 4003
    assert stranger.ready is None


async def _close_code_of_refused_connect(client: TLSChatClient) -> int | None:
    """Connect expecting a refusal: the error frame may arrive before the close, or the close before
    the hello could even be sent."""
    try:
        await client.connect()
    except Refused as refused:  # an error frame instead of ready, then the close
        assert refused.code == "origin_forbidden"
        return refused.close_code
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    return None


async def test_reconnect_lands_on_the_other_replica_mid_answer(nginx_in_front: Nginx, two_replicas, llm_server,
                                                               make_token):
    """Cut the connection in the middle of an answer; reconnect through nginx until the new socket is
    held by the *other* replica; the answer completes there, every frame exactly once."""
    llm_server.llm.set_default({"kind": "stream", "text": ANSWER, "interval": 0.06})  # ~5 s of streaming
    ctx = nginx_in_front.tls.client_context()
    client = TLSChatClient(nginx_in_front.ws_url, make_token(), ctx)
    async with httpx.AsyncClient(timeout=5) as http:
        await client.connect()
        first = await _replica_with_connection(two_replicas, http)
        await client.ask("how do I replace the drive belt?")
        deltas = 0
        while deltas < 3:
            frame = await client.recv()
            deltas += frame["type"] == "delta"
        second = first
        attempts = 0
        while second == first:
            attempts += 1
            assert attempts <= 10, "nginx never sent the reconnect to the other replica"
            await client.abort()
            await wait_until(lambda: _no_connections(two_replicas, http), within=10)
            ready = await client.resume()
            assert ready["resumed"] is True
            second = await _replica_with_connection(two_replicas, http)
        done = await client.until("done", timeout=30)
        await client.close()
    assert second != first
    assert done["status"] == "complete"
    assert client.answer_text(done["message_id"]) == ANSWER
    seqs = [f["seq"] for f in client.frames if "seq" in f]
    assert seqs == list(range(1, len(seqs) + 1)), "every frame exactly once, in order"
    assert len(llm_server.llm.chat_requests()) == 1, "the answer was not generated twice"
    assert deltas < sum(f["type"] == "delta" for f in client.frames), "part of the answer came after the move"


async def _no_connections(replicas: list[Any], http: httpx.AsyncClient) -> bool:
    for r in replicas:
        if metric_value((await http.get(r.url + "/metrics")).text, "abparts_ws_connections") != 0:
            return False
    return True


async def test_widget_and_admin_served_through_nginx(nginx_in_front: Nginx, two_replicas):
    async with httpx.AsyncClient(verify=nginx_in_front.tls.client_context(), timeout=10) as http:
        responses = [await http.get(nginx_in_front.base + "/ai/widget.js", headers={"Accept-Encoding": "gzip"})
                     for _ in range(3)]
        admin = await http.get(nginx_in_front.base + "/ai/admin")
        raw = await http.get(nginx_in_front.base + "/ai/widget.js", headers={"Accept-Encoding": "identity"})
        metrics = [(await http.get(r.url + "/metrics")).text for r in two_replicas]
    widget = responses[0]
    assert widget.status_code == 200
    assert widget.headers["content-type"].startswith("application/javascript")
    assert widget.headers.get("content-encoding") == "gzip", "nginx compresses the widget"
    assert widget.text == raw.text and len(widget.text) > 1000
    assert "max-age" in widget.headers["cache-control"]
    for header in ("strict-transport-security", "x-content-type-options", "x-frame-options", "referrer-policy"):
        assert header in widget.headers, header
    # nginx's cache answered the repeated requests: the replicas saw the widget fetched only once
    upstream_fetches = sum(metric_value(t, "abparts_http_requests_total", {"route": "/widget.js"}) for t in metrics)
    assert upstream_fetches == 1, f"expected one upstream fetch of widget.js, saw {upstream_fetches}"
    assert admin.status_code == 200 and admin.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in admin.headers["content-security-policy"]
    assert "<html" in admin.text.lower()
    assert len(gzip.compress(raw.content)) < len(raw.content)


async def test_metrics_refused_from_outside(nginx_in_front: Nginx):
    """A client whose source address is 127.0.0.2 (not in the internal ranges) is refused, whatever
    X-Forwarded-For it sends and however it spells the path; 127.0.0.1 (internal) gets the metrics."""
    ctx = nginx_in_front.tls.client_context()
    outside = httpx.AsyncHTTPTransport(local_address="127.0.0.2", verify=ctx)
    base = nginx_in_front.base
    async with httpx.AsyncClient(transport=outside, timeout=10) as http:
        health = await http.get(base + "/ai/health/live")
        refused = [await http.get(base + path) for path in
                   ("/ai/metrics", "/ai/metrics/", "/ai//metrics", "/ai/%6detrics", "/ai/metrics?format=text")]
        spoofed = await http.get(base + "/ai/metrics", headers={"X-Forwarded-For": "127.0.0.1",
                                                                 "X-Real-IP": "127.0.0.1"})
    async with httpx.AsyncClient(verify=ctx, timeout=10) as http:
        inside = await http.get(base + "/ai/metrics")
    assert health.status_code == 200, "127.0.0.2 reaches nginx: the refusals below are the access rule"
    for response in [*refused, spoofed]:
        assert response.status_code == 403, (response.request.url, response.status_code)
        assert "abparts_" not in response.text
    assert inside.status_code == 200
    assert "abparts_http_requests_total" in inside.text


async def test_health_and_http_redirect(nginx_in_front: Nginx):
    async with httpx.AsyncClient(verify=nginx_in_front.tls.client_context(), timeout=10) as http:
        ready = await http.get(nginx_in_front.base + "/ai/health/ready")
        plain = await http.get(f"http://127.0.0.1:{nginx_in_front.http_port}/ai/widget.js")
        nginx_health = await http.get(f"http://127.0.0.1:{nginx_in_front.http_port}/nginx-health")
        missing_slash = await http.get(nginx_in_front.base + "/ai")
    assert ready.status_code == 200 and ready.json()["components"]["postgres"]["status"] == "healthy"
    assert "x-request-id" in ready.headers
    assert plain.status_code == 301 and plain.headers["location"].startswith("https://")
    assert nginx_health.status_code == 200
    assert missing_slash.status_code == 301 and missing_slash.headers["location"].endswith("/ai/")


def test_websocket_location_has_long_timeouts_and_no_buffering():
    """Long-lived sockets: the /ai/ws location keeps an idle connection for an hour, unbuffered."""
    text = (ROOT / "nginx.conf").read_text()
    block = text[text.index("location = /ai/ws {"):]
    block = block[:block.index("}")]
    assert "proxy_read_timeout 3600s;" in block and "proxy_send_timeout 3600s;" in block
    assert "proxy_buffering off;" in block
    assert "proxy_set_header Upgrade $http_upgrade;" in text and "proxy_set_header Connection $connection_upgrade;" in text
