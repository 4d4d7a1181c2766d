"""Drill: SIGTERM while answers stream and the sample manuals are being indexed, then a restart.

What must hold: the process exits by itself (within the drain time plus a few seconds: the wait
below gives up long after that and fails), the embedded PostgreSQL and redis-server it started are
stopped, the interrupted ingestion is left resumable, and the restart on the same data directory
resumes it to the end without wedging (every sample manual ends ready, chat and /health/ready answer).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from testkit.wsclient import ChatClient

# the restart indexes the sample manuals for real (embedding on a shared 2-core machine): more than 300 s allowed
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DRAIN = 5.0
ANSWER = " ".join(f"word{i}" for i in range(80))


def _postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "pg" / "postmaster.pid"
    if not pid_file.exists():
        return None
    return int(pid_file.read_text().split()[0])


def _redis_pid(log_text: str) -> int | None:
    """The pid the server logged when it started its redis-server (JSON log lines)."""
    for line in reversed(log_text.splitlines()):
        if '"embedded.redis_started"' in line:
            return int(json.loads(line)["pid"])
    return None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def _documents(client: httpx.AsyncClient, token: str) -> list[dict[str, Any]]:
    r = await client.get("/api/kb/documents", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    r.raise_for_status()
    docs: list[dict[str, Any]] = r.json()["documents"]
    return docs


async def test_sigterm_mid_ingestion_stops_everything_and_a_restart_resumes(
        llm_settings, llm_server, running_server, make_token, tmp_path, record_figures):
    llm_server.llm.set_default({"kind": "stream", "text": ANSWER, "interval": 0.05})
    data_dir = tmp_path / "data"
    # empty URLs: the server starts (and must stop) its own PostgreSQL and redis-server, as `make run` does
    settings = llm_settings(database_url="", redis_url="", data_dir=data_dir, kb_seed_samples=True,
                            shutdown_drain_seconds=DRAIN, messages_per_minute=100)
    admin = make_token(role="admin")
    figures: dict[str, Any] = {"drain_seconds": DRAIN}

    async with running_server(settings, ready_timeout=120) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as client:
            # wait until a sample manual is being indexed (the job holds no connection meanwhile)
            for _ in range(600):
                docs = await _documents(client, admin)
                if any(d["status"] == "processing" for d in docs):
                    break
                await asyncio.sleep(0.1)
            assert any(d["status"] == "processing" for d in docs), docs
        chats = [ChatClient(srv.ws_url, make_token()) for _ in range(3)]
        for chat in chats:
            await chat.connect()
            await chat.ask("How do I replace the brush?")
        for chat in chats:
            await chat.until("delta", timeout=60)
        pg_pid, redis_pid = _postmaster_pid(data_dir), _redis_pid(srv.log_text())
        assert _alive(pg_pid) and _alive(redis_pid)

        started = time.monotonic()
        srv.terminate(signal.SIGTERM)
        code = await asyncio.to_thread(srv.wait, DRAIN + 30)  # far beyond drain + a few seconds: a hang fails here
        figures["shutdown_seconds"] = round(time.monotonic() - started, 2)
        assert code == 0, srv.log_text()[-3000:]
        for chat in chats:
            await chat.abort()
        log = srv.log_text()
        assert "app.stopped" in log
        # the answers streaming at SIGTERM were finished within the drain, not cut off
        finished = [json.loads(line) for line in log.splitlines() if '"turns.done"' in line]
        assert sum(1 for f in finished if f["status"] == "complete") >= len(chats), finished
        # the services it started are gone with it
        for _ in range(100):
            if not _alive(pg_pid) and not _alive(redis_pid):
                break
            await asyncio.sleep(0.1)
        assert not _alive(pg_pid), "embedded PostgreSQL still running"
        assert not _alive(redis_pid), "embedded redis-server still running"

    # the restart finds the interrupted versions and indexes them to the end
    restarted = time.monotonic()
    async with running_server(settings.replace(port=0), ready_timeout=120) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as client:
            ready_answers = []
            for _ in range(1800):
                docs = await _documents(client, admin)
                r = await client.get("/health/ready", timeout=10)
                ready_answers.append(r.status_code)
                if docs and all(d["status"] in ("ready", "failed") for d in docs):
                    break
                await asyncio.sleep(0.2)
            figures["resume_to_all_indexed_seconds"] = round(time.monotonic() - restarted, 2)
            assert docs and all(d["status"] == "ready" for d in docs), [(d["filename"], d["status"], d["error"]) for d in docs]
            assert "kb.resumed" in srv.log_text()
            r = await client.get("/health/ready", timeout=10)
            assert r.status_code == 200, r.text
        chat = ChatClient(srv.ws_url, make_token())
        await chat.connect()
        await chat.ask("How do I replace the brush?")
        done = await chat.until("done", timeout=60)
        assert chat.answer_text(done["message_id"]).strip()
        await chat.close()
        figures["documents"] = len(docs)
    record_figures("shutdown", figures)
