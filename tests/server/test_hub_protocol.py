"""Authentication, origins, bad frames, limits and back-pressure."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from testkit.wsclient import ChatClient


async def _hello_and_close(ws_url: str, hello: dict, origin: str | None = None) -> tuple[dict, int]:
    ws = await websockets.connect(ws_url, origin=origin)
    frames = []
    try:
        await ws.send(json.dumps(hello))
    except ConnectionClosed:
        pass  # the server may refuse before reading hello (origin check)
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    except ConnectionClosed:
        pass
    assert len(frames) == 1, frames
    return frames[0], ws.close_code


async def test_auth_failures_get_error_frame_and_close_code(settings_factory, running_server, make_token):
    async with running_server(settings_factory()) as srv:
        frame, code = await _hello_and_close(srv.ws_url, {"type": "hello", "token": None})
        assert (frame["code"], code) == ("token_missing", 4001)
        frame, code = await _hello_and_close(srv.ws_url, {"type": "hello", "token": "not.a.jwt"})
        assert (frame["code"], code) == ("token_invalid", 4001)
        frame, code = await _hello_and_close(srv.ws_url, {"type": "hello", "token": make_token(secret="other-secret")})
        assert (frame["code"], code) == ("token_invalid", 4001)
        frame, code = await _hello_and_close(srv.ws_url, {"type": "hello", "token": make_token(ttl=-120)})
        assert (frame["code"], code) == ("token_expired", 4002)
        frame, code = await _hello_and_close(srv.ws_url, {"type": "message", "text": "hi", "client_id": "x"})
        assert (frame["code"], code) == ("protocol_error", 4400)
        # another user's session cannot be opened
        owner = ChatClient(srv.ws_url, make_token("alice"))
        await owner.connect()
        await owner.close()
        frame, code = await _hello_and_close(srv.ws_url, {"type": "hello", "token": make_token("mallory"),
                                                          "session_id": owner.session_id})
        assert (frame["code"], code) == ("session_unknown", 4004)


async def test_http_api_requires_bearer_token(settings_factory, running_server, make_token):
    import httpx

    async with running_server(settings_factory()) as srv, httpx.AsyncClient() as http:
        r = await http.get(srv.url + "/api/me")
        assert r.status_code == 401 and r.json()["error"]["code"] == "token_missing"
        r = await http.get(srv.url + "/api/me", headers={"Authorization": "Bearer garbage"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "token_invalid"
        r = await http.get(srv.url + "/api/me", headers={"Authorization": f"Bearer {make_token('bob', lang='el')}"})
        assert r.status_code == 200 and r.json()["id"] == "bob" and r.json()["lang"] == "el"


async def test_origin_is_checked(settings_factory, running_server, make_token):
    async with running_server(settings_factory(allowed_origins=("https://parts.example.com",))) as srv:
        frame, code = await _hello_and_close(srv.ws_url, {"type": "hello", "token": make_token()},
                                             origin="https://evil.example.com")
        assert (frame["code"], code) == ("origin_forbidden", 4003)
        client = ChatClient(srv.ws_url, make_token(), origin="https://parts.example.com")
        await client.connect()
        await client.close()


async def test_bad_frames_get_clear_errors_and_connection_survives(settings_factory, running_server, make_token):
    async with running_server(settings_factory(message_max_chars=100)) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        assert client.ws is not None
        await client.ws.send("{not json")
        assert (await client.until("error"))["code"] == "bad_json"
        await client.send({"type": "teleport"})
        assert (await client.until("error"))["code"] == "unknown_type"
        await client.send({"type": "message", "text": "hi"})
        assert (await client.until("error"))["code"] == "missing_field"
        await client.send({"type": "message", "client_id": "c1", "text": "x" * 101})
        err = await client.until("error")
        assert err["code"] == "message_too_long" and err["client_id"] == "c1"
        await client.send({"type": "feedback", "message_id": "nope", "rating": "meh"})
        assert (await client.until("error"))["code"] == "bad_field"
        # still usable
        await client.ask("a real question")
        done = await client.until("done")
        assert done["status"] == "complete"
        await client.close()


async def test_oversized_frame_closes_with_1009(settings_factory, running_server, make_token):
    async with running_server(settings_factory(ws_max_frame_bytes=2048)) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        assert client.ws is not None
        await client.ws.send(json.dumps({"type": "message", "client_id": "big", "text": "y" * 5000}))
        err = await client.until("error")
        assert err["code"] == "frame_too_large"
        with pytest.raises(ConnectionClosed):
            await client.recv(5)
        assert client.ws.close_code == 1009


async def test_a_refused_frame_is_read_to_its_end_so_the_close_frame_arrives(settings_factory, running_server):
    """A client still sending the rest of a frame over the parser's limit, as a browser on a slow link
    does: the server must keep reading (and dropping) it after its close frame, so the client can read
    1009. Closing the socket with the rest unread makes the kernel reset the connection: the client's
    next write fails and the close frame it had not read yet is gone (it sees 1006)."""
    async with running_server(settings_factory()) as srv:
        sock = socket.create_connection((srv.settings.host, srv.settings.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {srv.settings.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += sock.recv(4096)
        assert response.startswith(b"HTTP/1.1 101")
        size = 3 * 2**20  # over the 1 MiB the parser accepts
        sock.sendall(bytes([0x81, 0x80 | 127]) + struct.pack("!Q", size) + os.urandom(4) + b"x" * 2**18)
        await asyncio.sleep(1.0)  # the server has read the header and refused the frame
        sent = 2**18
        try:
            while sent < size:
                sock.sendall(b"x" * 2**16)
                sent += 2**16
        except OSError as exc:  # reset: the server stopped reading
            pytest.fail(f"the server reset the connection after {sent} of {size} bytes: {exc!r}")
        data = b""
        while len(data) < 4:
            chunk = sock.recv(64)
            if not chunk:
                break
            data += chunk
        sock.close()
        assert data[0] == 0x88 and struct.unpack("!H", data[2:4])[0] == 1009, data[:8]  # close, 1009


async def test_message_rate_limit(settings_factory, running_server, make_token):
    async with running_server(settings_factory(messages_per_minute=2)) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        for _ in range(2):
            await client.ask("q")
            await client.until("done")
        cid = await client.ask("one too many")
        err = await client.until("error")
        assert err["code"] == "rate_limited" and err["client_id"] == cid
        await client.close()


def _masked_text_frame(payload: bytes) -> bytes:
    header = bytearray([0x81])
    if len(payload) < 126:
        header.append(0x80 | len(payload))
    else:
        header.append(0x80 | 126)
        header += struct.pack("!H", len(payload))
    mask = os.urandom(4)
    return bytes(header) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_slow_reader_is_disconnected_not_buffered(llm_settings, llm_server, running_server, make_token):
    # a client that never reads: past WS_SEND_QUEUE_MAX frames it falls behind (served from Redis, nothing
    # more buffered), and a write that cannot complete for 2 x the ping interval closes it
    # tokens 5 ms apart: each becomes its own frame (no batching), so the outbox limit is what gives way
    llm_server.llm.set_default({"kind": "stream", "text": " ".join(["padding" * 500] * 3000), "interval": 0.005})
    token = make_token()
    async with running_server(llm_settings(ws_send_queue_max=3, ws_ping_interval_seconds=5)) as srv:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tiny window, like a stalled phone
        sock.connect((srv.settings.host, srv.settings.port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {srv.settings.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        await asyncio.sleep(0.3)
        sock.sendall(_masked_text_frame(json.dumps({"type": "hello", "token": token}).encode()))
        await asyncio.sleep(0.5)
        sock.sendall(_masked_text_frame(json.dumps({"type": "message", "client_id": "c", "text": "flood me"}).encode()))
        # never read; the answer is ~10 MB
        import httpx

        # the gauge counts a connection once its hello is served, which on a busy machine can take a second or
        # more: wait to see it counted before waiting for it to go, or a 0 read before the hello ends the test
        counted = False
        async with httpx.AsyncClient() as http:
            for _ in range(150):
                await asyncio.sleep(0.2)
                metrics = (await http.get(srv.url + "/metrics")).text
                counted = counted or "abparts_ws_connections 1.0" in metrics
                if counted and "abparts_ws_connections 0.0" in metrics:
                    break
        sock.close()
        log = srv.log_text()
    # it fell behind (served from Redis at its pace, the outbox stays bounded), then the write timeout closed it
    assert counted, "the connection was never counted as open"
    assert "abparts_ws_connections 0.0" in metrics
    assert "hub.client_behind" in log and "hub.write_timeout" in log


async def test_lagging_client_gets_every_frame_once(llm_settings, llm_server, running_server, make_token):
    # the outbox holds 5 frames; a resume replays 400 at once and live frames keep coming
    text = " ".join(f"w{i}" for i in range(400))
    llm_server.llm.set_default({"kind": "stream", "text": text, "interval": 0.002})
    async with running_server(llm_settings(ws_send_queue_max=5)) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("q")
        await client.until("delta")
        await client.abort()
        await asyncio.sleep(0.5)
        await client.resume()
        done = await client.until("done")
        await client.ask("again")
        done2 = await client.until("done")
        await client.close()
    assert client.answer_text(done["message_id"]) == text
    assert client.answer_text(done2["message_id"]) == text
