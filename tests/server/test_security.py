"""Security against a real server: safe defaults at start-up, the token checked for the socket's whole
life (close 4002 at exp, then a resume with a new token), rate limits on every frame type and HTTP
route with clear refusals, the connection cap, the audio idle time-out."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
import websockets
from cryptography.fernet import Fernet

from server.chat.sessions import stream_key
from server.crypto.cipher import Sealing, TextCipher
from server.protocol import CLIENT_FRAMES
from server.voice.model import ensure_model
from testkit.wsclient import ChatClient, Refused
from tests.conftest import GENEROUS

ROOT = Path(__file__).resolve().parents[2]


def frame_limits(**low: int) -> tuple[str, ...]:
    """WS_FRAME_LIMITS with the suite's generous budgets, except the ones given."""
    return tuple(f"{name}={low.get(name, GENEROUS)}" for name in CLIENT_FRAMES if name != "message")


async def in_one_window(check: Callable[[], Awaitable[None]]) -> None:
    """Run ``check`` inside one one-minute rate window (again once if the minute turned meanwhile)."""
    for _ in range(2):
        window = int(time.time() // 60)
        try:
            await check()
            return
        except AssertionError:
            if int(time.time() // 60) == window:
                raise
    raise AssertionError("the rate window turned twice")


# -- safe by default ---------------------------------------------------------------------------------

def serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([sys.executable, "-m", "server", "serve"], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def test_without_settings_the_service_is_production_and_refuses_to_start(tmp_path: Path) -> None:
    out = serve({"DATA_DIR": str(tmp_path)})
    assert out.returncode == 2
    for named in ("JWT_SECRET", "JWT_AUDIENCE", "JWT_ISSUER", "CONVERSATION_ENCRYPTION_KEY"):
        assert named in out.stderr, out.stderr
    # the placeholder of the Kubernetes secret template, and an http:// webhook without a secret
    out = serve({"DATA_DIR": str(tmp_path), "JWT_SECRET": "CHANGE_ME", "WEBHOOK_URLS": "http://hooks.example/in"})
    assert out.returncode == 2 and "placeholder" in out.stderr and "WEBHOOK_SECRET" in out.stderr
    assert "https" in out.stderr


def test_development_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    out = serve({"ENV": "development", "HOST": "0.0.0.0", "DATA_DIR": str(tmp_path)})
    assert out.returncode == 2 and "HOST" in out.stderr and "loopback" in out.stderr


# -- the token lives as long as the socket -----------------------------------------------------------

async def test_socket_closes_with_4002_at_exp_and_resumes_with_a_new_token(settings_factory, running_server,
                                                                          make_token) -> None:
    async with running_server(settings_factory(jwt_leeway_seconds=0)) as srv:
        client = ChatClient(srv.ws_url, make_token("expiring", ttl=2))
        ready = await client.connect()
        error = await client.until("error", timeout=30)
        assert error["code"] == "token_expired"
        assert client.ws is not None
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(client.ws.recv(), 30)
        assert client.ws.close_code == 4002
        client.token = make_token("expiring", ttl=600)
        again = await client.resume()
        assert again["resumed"] and again["session_id"] == ready["session_id"]
        await client.send({"type": "ping"})
        assert (await client.until("pong"))["type"] == "pong"
        await client.close()


# -- rate limits --------------------------------------------------------------------------------------

async def test_every_frame_type_is_limited_and_connections_are_capped(settings_factory, running_server,
                                                                     make_token) -> None:
    settings = settings_factory(ws_frame_limits=frame_limits(ping=3, hello=3, feedback=1),
                                ws_connections_per_user=2)
    async with running_server(settings) as srv:
        async def pings() -> None:
            client = ChatClient(srv.ws_url, make_token())
            await client.connect()
            for _ in range(4):
                await client.send({"type": "ping"})
            replies = [await client.recv() for _ in range(4)]
            await client.close()
            assert [r["type"] for r in replies] == ["pong", "pong", "pong", "error"], replies
            assert replies[-1]["code"] == "rate_limited" and 0 < replies[-1]["retry_after"] <= 60

        await in_one_window(pings)

        async def feedback() -> None:  # a frame the actions table handles: limited before it is handled
            client = ChatClient(srv.ws_url, make_token())
            await client.connect()
            for _ in range(2):
                await client.send({"type": "feedback", "message_id": "nope", "rating": "up"})
            first, second = await client.recv(), await client.recv()
            await client.close()
            assert first["code"] == "message_unknown" and second["code"] == "rate_limited", (first, second)

        await in_one_window(feedback)

        async def connection_cap() -> None:
            token = make_token()
            held = [ChatClient(srv.ws_url, token) for _ in range(2)]
            for c in held:
                await c.connect()
            with pytest.raises(Refused) as refused:
                await ChatClient(srv.ws_url, token).connect()
            assert refused.value.code == "too_many_connections" and refused.value.close_code == 4029
            for c in held:
                await c.close()

        await in_one_window(connection_cap)

        async def hellos() -> None:  # each hello may open a session: bounded per user
            token = make_token()
            for _ in range(3):
                c = ChatClient(srv.ws_url, token)
                await c.connect()
                await c.close()
            with pytest.raises(Refused) as refused:
                await ChatClient(srv.ws_url, token).connect()
            assert refused.value.code == "rate_limited" and refused.value.close_code == 4029

        await in_one_window(hellos)


async def test_every_http_route_is_limited_per_user_and_per_address(settings_factory, running_server,
                                                                    make_token) -> None:
    settings = settings_factory(http_requests_per_minute_per_user=3, transcriptions_per_minute=1,
                                http_requests_per_minute_per_address=40)
    async with running_server(settings) as srv, httpx.AsyncClient(base_url=srv.url, timeout=30) as http:
        async def per_user() -> None:
            auth = {"Authorization": f"Bearer {make_token()}"}
            codes = [(await http.get("/api/me", headers=auth)).status_code for _ in range(3)]
            refused = await http.get("/api/me", headers=auth)
            assert codes == [200, 200, 200] and refused.status_code == 429, (codes, refused.text)
            assert refused.json()["error"]["code"] == "rate_limited"
            assert 1 <= int(refused.headers["retry-after"]) <= 61

        await in_one_window(per_user)

        async def transcriptions() -> None:  # the shared speech queue: its own, smaller budget
            auth = {"Authorization": f"Bearer {make_token()}", "Content-Type": "audio/webm"}
            first = await http.post("/api/transcribe", headers=auth, content=b"\x1a\x45\xdf\xa3" + b"\0" * 64)
            second = await http.post("/api/transcribe", headers=auth, content=b"\x1a\x45\xdf\xa3" + b"\0" * 64)
            assert first.status_code != 429 and second.status_code == 429, (first.text, second.text)

        await in_one_window(transcriptions)

        async def per_address() -> None:  # no token at all: the address's budget
            statuses = [(await http.get("/health/live")).status_code for _ in range(40)]
            assert 429 in statuses and statuses[0] == 200, statuses
            refused = await http.get("/health/live")
            assert refused.status_code == 429 and "retry-after" in refused.headers

        await in_one_window(per_address)


# -- audio idle time-out ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_model(tmp_path_factory.mktemp("models") / "whisper-base")


async def test_an_idle_recording_is_dropped(settings_factory, running_server, make_token, whisper_dir) -> None:
    settings = settings_factory(voice_enabled=True, whisper_model=str(whisper_dir), audio_idle_seconds=1.0,
                                voice_workers=1, voice_queue_max=1)
    async with running_server(settings) as srv:
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        assert client.ws is not None
        await client.send({"type": "audio_start", "format": "webm"})
        await client.ws.send(b"\x1a\x45\xdf\xa3" + b"\0" * 1000)  # some audio, then nothing more
        error = await client.until("error", timeout=30)
        assert error["code"] == "audio_idle"
        await client.send({"type": "audio_end"})  # the recording is gone: nothing to transcribe
        assert (await client.until("error"))["code"] == "audio_not_started"
        await client.close()


# -- encryption at rest and key rotation ----------------------------------------------------------------

MARKER = "Zebrafish-7731 brush motor"


async def _sealed_everywhere(database_url: str, redis_url: str, session_id: str, cipher: TextCipher) -> None:
    """The marker is nowhere in clear: PostgreSQL columns and JSON, and the Redis stream of the session."""
    conn = await asyncpg.connect(database_url)
    try:
        user_name = await conn.fetchval("SELECT user_name FROM sessions WHERE id = $1", session_id)
        texts = [r["text"] for r in await conn.fetch("SELECT text FROM messages WHERE session_id = $1", session_id)]
        comment = await conn.fetchval("SELECT data->>'comment' FROM analytics_events WHERE kind = 'feedback'"
                                      " AND session_id = $1", session_id)
        dump = await conn.fetchval("SELECT string_agg(t::text, ' ') FROM (SELECT row_to_json(s) AS t FROM sessions s"
                                   " UNION ALL SELECT row_to_json(m) FROM messages m"
                                   " UNION ALL SELECT row_to_json(a) FROM analytics_events a) rows")
    finally:
        await conn.close()
    for value in (user_name, comment, *texts):
        if value:
            assert value.startswith("enc:v1:") and cipher.sealing(value) is Sealing.CURRENT, value
    assert cipher.open(user_name) == MARKER + " user" and cipher.open(comment) == MARKER + " comment"
    assert MARKER not in dump
    client = aioredis.from_url(redis_url)
    try:
        entries = await client.xrange(stream_key(session_id))
    finally:
        await client.aclose()
    assert entries and all(fields[b"f"].startswith(b"enc:v1:") for _, fields in entries)
    assert not any(MARKER.encode() in fields[b"f"] for _, fields in entries)


def reencrypt_command(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server", "reencrypt"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


async def test_conversation_is_sealed_in_postgres_and_redis_and_keys_rotate(
        llm_settings, running_server, make_token, llm_server, database_url, redis_url) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    llm_server.llm.set_default({"kind": "stream", "text": f"Check the {MARKER} fuse first.", "interval": 0.0})
    async with running_server(llm_settings(conversation_encryption_key=old)) as srv:
        client = ChatClient(srv.ws_url, make_token(name=MARKER + " user"))
        await client.connect()
        await client.ask(f"The {MARKER} stopped")
        done = await client.until("done")
        assert MARKER in client.answer_text(done["message_id"])  # the client reads plain frames
        await client.send({"type": "feedback", "message_id": done["message_id"], "rating": "up",
                           "comment": MARKER + " comment"})
        await client.until("feedback_recorded")
        session_id = client.session_id
        assert session_id
        await client.close()
    await _sealed_everywhere(database_url, redis_url, session_id, TextCipher(old))

    env = {**os.environ, "ENV": "development", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "CONVERSATION_ENCRYPTION_KEY": new, "CONVERSATION_ENCRYPTION_PREVIOUS_KEYS": old}
    out = await asyncio.to_thread(reencrypt_command, env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "messages" in out.stdout and "sessions" in out.stdout and "analytics_events" in out.stdout
    again = await asyncio.to_thread(reencrypt_command, env)
    assert again.returncode == 0 and "0 value(s)" in again.stdout  # nothing left under the old key

    conn = await asyncpg.connect(database_url)
    try:
        texts = [r["text"] for r in await conn.fetch("SELECT text FROM messages WHERE session_id = $1", session_id)]
        user_name = await conn.fetchval("SELECT user_name FROM sessions WHERE id = $1", session_id)
    finally:
        await conn.close()
    only_new = TextCipher(new)
    assert only_new.open(user_name) == MARKER + " user"
    assert any(MARKER in only_new.open(t) for t in texts) and all(only_new.sealing(t) is Sealing.CURRENT for t in texts if t)


# -- staff attached to a user's session ----------------------------------------------------------------

async def test_staff_attached_to_a_session_cannot_act_as_the_user_and_the_attach_is_audited(
        settings_factory, running_server, make_token, database_url) -> None:
    async with running_server(settings_factory()) as srv:
        owner = ChatClient(srv.ws_url, make_token("owner-1"))
        await owner.connect()
        watcher = ChatClient(srv.ws_url, make_token("sup-watch", role="support"))
        await watcher.connect(session_id=owner.session_id, last_seq=0)
        for frame in ({"type": "message", "client_id": "c1", "text": "pretending to be the user"},
                      {"type": "escalate", "reason": "not mine to ask"},
                      {"type": "resolve", "resolved": True, "save": True}):
            await watcher.send(frame)
            refused = await watcher.until("error")
            assert refused["code"] == "attached_read_only", refused
        await watcher.send({"type": "ping"})
        assert (await watcher.until("pong"))["type"] == "pong"
        stranger = ChatClient(srv.ws_url, make_token("operator-2"))
        with pytest.raises(Refused) as refused_hello:  # another operator cannot attach at all
            await stranger.connect(session_id=owner.session_id)
        assert refused_hello.value.code == "session_unknown"
        await watcher.close()
        await owner.close()
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM messages WHERE session_id = $1", owner.session_id)
        attach = await conn.fetch("SELECT actor, target FROM audit_log WHERE action = 'session.attach'")
    finally:
        await conn.close()
    assert stored == 0
    assert [(r["actor"], r["target"]) for r in attach] == [("sup-watch", owner.session_id)]
