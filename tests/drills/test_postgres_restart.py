"""Drill: the embedded PostgreSQL restarted with its own ``pg_ctl`` while users chat.

What must hold: the server is not restarted and recovers by itself (its pools drop the broken
connections and open new ones); every turn in progress ends, with its answer or a clear failed
status (never an endless wait); /health/ready answers throughout, reports PostgreSQL unhealthy while
it is away and healthy again afterwards; new questions are answered after it. The times are recorded.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from core.embedded import pg_ctl
from testkit.wsclient import ChatClient, Refused

pytestmark = pytest.mark.slow

USERS = 4
ANSWER = " ".join(f"word{i}" for i in range(60))


async def _poll_health(url: str, samples: list[tuple[float, int | None, float]], stop: asyncio.Event) -> None:
    """Every 0.2 s: (time, status code or None when no answer within 5 s, seconds it took)."""
    async with httpx.AsyncClient() as client:
        while not stop.is_set():
            started = time.monotonic()
            try:
                r = await client.get(url + "/health/ready", timeout=5)
                code: int | None = r.status_code
            except httpx.HTTPError:
                code = None
            samples.append((started, code, time.monotonic() - started))
            await asyncio.sleep(0.2)


async def _ask_until_answered(chat: ChatClient, text: str) -> dict[str, Any]:
    """Ask once; the end of the turn: its ``done`` frame, or the error frame that closes it."""
    client_id = await chat.ask(text)
    while True:
        frame = await chat.recv(timeout=60)  # a turn that never ends fails the drill here
        if frame["type"] == "done":
            return frame
        if frame["type"] == "error" and (frame.get("client_id") == client_id or frame.get("message_id")):
            return frame


async def test_postgres_restart_under_traffic_recovers_without_a_process_restart(
        llm_settings, llm_server, running_server, make_token, tmp_path, record_figures):
    llm_server.llm.set_default({"kind": "stream", "text": ANSWER, "interval": 0.03})
    data_dir = tmp_path / "data"
    settings = llm_settings(database_url="", data_dir=data_dir, messages_per_minute=200)
    figures: dict[str, Any] = {"users": USERS}
    async with running_server(settings, ready_timeout=120) as srv:
        samples: list[tuple[float, int | None, float]] = []
        stop = asyncio.Event()
        poller = asyncio.create_task(_poll_health(srv.url, samples, stop))
        chats = [ChatClient(srv.ws_url, make_token()) for _ in range(USERS)]
        for chat in chats:
            await chat.connect()
        for chat in chats:  # warm: every user has had an answer before the restart
            assert (await _ask_until_answered(chat, "How do I replace the brush?"))["type"] == "done"

        # turns in progress when PostgreSQL goes away
        in_flight = [asyncio.create_task(_ask_until_answered(chat, "What does error E21 mean?")) for chat in chats]
        await asyncio.sleep(0.3)
        restart_began = time.monotonic()
        out = await asyncio.to_thread(pg_ctl, data_dir / "pg", "restart", "-m", "fast", "-w", "-t", "60",
                                "-l", str(data_dir / "pg" / "log"), timeout=90)
        restarted = time.monotonic()
        figures["pg_ctl_restart_seconds"] = round(restarted - restart_began, 2)
        assert "server started" in out, out

        ends = await asyncio.gather(*in_flight)
        figures["in_flight_turns"] = {
            "completed": sum(1 for f in ends if f["type"] == "done" and f["status"] == "complete"),
            "failed_clearly": [f.get("status") or f.get("code") for f in ends if not (f["type"] == "done" and f["status"] == "complete")],
        }
        # new questions are answered by the same process: the pools recovered by themselves
        recovered_at = None
        for _ in range(60):
            chat = chats[0]
            end = await _ask_until_answered(chat, "How do I bleed the pump?")
            if end["type"] == "done" and end["status"] == "complete":
                recovered_at = time.monotonic()
                break
            await asyncio.sleep(0.5)
        assert recovered_at is not None, "no complete answer after PostgreSQL came back"
        figures["first_complete_answer_after_restart_seconds"] = round(recovered_at - restarted, 2)
        for chat in chats[1:]:
            end = await _ask_until_answered(chat, "How do I bleed the pump?")
            assert end["type"] == "done" and end["status"] == "complete", end
        # and a new connection (hello reads and writes PostgreSQL) works too
        fresh = ChatClient(srv.ws_url, make_token())
        await fresh.connect()
        await fresh.close()

        for _ in range(100):  # health is green again
            if samples and samples[-1][0] > recovered_at and samples[-1][1] == 200:
                break
            await asyncio.sleep(0.2)
        stop.set()
        await poller
        for chat in chats:
            await chat.close()
        assert srv.proc.poll() is None  # the same process throughout

    # /health/ready answered every time, was red while PostgreSQL was away (if it looked then) and green after
    assert all(code is not None for _, code, _ in samples), "a /health/ready request got no answer"
    assert samples[-1][1] == 200
    red = [t for t, code, _ in samples if code != 200 and t >= restart_began]
    green_after = [t for t, code, _ in samples if code == 200 and t >= restarted]
    figures["health_samples"] = len(samples)
    figures["health_max_seconds"] = round(max(d for _, _, d in samples), 3)
    figures["health_red_samples"] = len(red)
    figures["health_green_again_after_restart_seconds"] = round(green_after[0] - restarted, 2) if green_after else None
    record_figures("postgres_restart", figures)


async def test_while_postgres_is_down_hello_and_readiness_say_so_and_recover_by_themselves(
        llm_settings, running_server, make_token, tmp_path, record_figures):
    data_dir = tmp_path / "data"
    async with running_server(llm_settings(database_url="", data_dir=data_dir), ready_timeout=120) as srv:
        chat = ChatClient(srv.ws_url, make_token())
        await chat.connect()
        await chat.close()
        pid_lines = (data_dir / "pg" / "postmaster.pid").read_text().splitlines()
        socket_dir = pid_lines[4]  # the server listens on a Unix socket in this directory only
        await asyncio.to_thread(pg_ctl, data_dir / "pg", "stop", "-m", "fast", "-w", "-t", "30", timeout=45)
        stopped = time.monotonic()
        async with httpx.AsyncClient(base_url=srv.url) as client:
            ready = await client.get("/health/ready", timeout=10)
            figures = {"health_answer_while_down_seconds": round(time.monotonic() - stopped, 2)}
            assert ready.status_code == 503
            # a hello now is refused clearly, with a documented close code (not 1011)
            with pytest.raises(Refused) as refused:
                await ChatClient(srv.ws_url, make_token()).connect()
            assert refused.value.code == "postgres_unavailable" and refused.value.close_code == 1013
            await asyncio.to_thread(pg_ctl, data_dir / "pg", "start", "-w", "-t", "30", "-l", str(data_dir / "pg" / "log"),
                                    "-o", f'-h "" -k {socket_dir}', timeout=45)
            started = time.monotonic()
            for _ in range(100):
                if (await client.get("/health/ready", timeout=10)).status_code == 200:
                    break
                await asyncio.sleep(0.2)
            figures["health_green_after_start_seconds"] = round(time.monotonic() - started, 2)
            assert (await client.get("/health/ready", timeout=10)).status_code == 200
        chat = ChatClient(srv.ws_url, make_token())
        await chat.connect()  # the same process serves again
        await chat.ask("How do I replace the brush?")
        assert (await chat.until("done", timeout=60))["status"] == "complete"
        await chat.close()
        figures["hello_ok_after_start_seconds"] = round(time.monotonic() - started, 2)
    record_figures("postgres_down", figures)
