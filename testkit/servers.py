"""Start the real service (``python -m server serve``) as a subprocess on a free port, for tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from core.settings import Settings

from .scripted_llm import free_port

ROOT = Path(__file__).resolve().parents[1]


class ServerHandle:
    def __init__(self, proc: subprocess.Popen[bytes], settings: Settings, log_path: Path) -> None:
        self.proc = proc
        self.settings = settings
        self.log_path = log_path

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.settings.host}:{self.settings.port}/ws"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)


def _spawn(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log_file:
        return subprocess.Popen([sys.executable, "-m", "server", "serve"], cwd=ROOT, env=env,
                                stdout=log_file, stderr=subprocess.STDOUT)


@contextlib.asynccontextmanager
async def running_server(settings: Settings, *, log_dir: Path | None = None, ready_timeout: float = 90,
                         extra_env: dict[str, str] | None = None) -> AsyncIterator[ServerHandle]:
    """A real uvicorn process serving the app with ``settings``; stopped with SIGTERM at exit."""
    if not settings.port:
        settings = settings.replace(port=free_port())
    env = {**os.environ, **settings.to_env(), **(extra_env or {})}
    env.setdefault("PYTHONUNBUFFERED", "1")
    log_dir = log_dir or settings.data_path
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"server-{settings.port}.log"
    proc = await asyncio.to_thread(_spawn, env, log_path)
    handle = ServerHandle(proc, settings, log_path)
    try:
        deadline = time.monotonic() + ready_timeout
        async with httpx.AsyncClient() as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited with {proc.returncode}:\n{handle.log_text()[-4000:]}")
                try:
                    r = await client.get(handle.url + "/health/live", timeout=1)
                    if r.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not become live:\n{handle.log_text()[-4000:]}")
                await asyncio.sleep(0.1)
        yield handle
    finally:
        handle.terminate()
        try:
            await asyncio.to_thread(proc.wait, 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait, 5)
