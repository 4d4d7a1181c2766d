"""Hub benchmark: concurrent streamed answers through the real hub vs a bare Starlette relay.

Both servers stream the same scripted provider profile (time to first token, per-token interval,
tokens per answer) through the same ``openai`` client. Reported per level of concurrency:
server-added time to first token (client-observed minus the provider's), p50/p95/p99; tokens
delivered per second; server CPU seconds per 1,000 tokens; peak server RSS; and the hub/relay ratio.
Then the memory per idle connection with many idle connections open.

Run: ``python -m bench hub [--levels 50,200,500] [--idle 5000] [--ttft 0.3] [--interval 0.015] [--tokens 150]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

from core.embedded import embedded_postgres, embedded_redis
from core.settings import Settings
from server.auth import mint_token
from testkit.scripted_llm import free_port
from testkit.servers import running_server

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-0123456789-0123456789"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


class Sampler:
    """Samples a process's RSS and CPU while a level runs."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Sampler:
        self.cpu0 = sum(self.proc.cpu_times()[:2])
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            await asyncio.sleep(0.05)

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.cpu = sum(self.proc.cpu_times()[:2]) - self.cpu0


async def one_session(url: str, hello: dict[str, Any] | None, start: asyncio.Event) -> dict[str, Any]:
    try:
        return await _session(url, hello, start)
    except (websockets.ConnectionClosed, OSError, TimeoutError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:200]}


async def _session(url: str, hello: dict[str, Any] | None, start: asyncio.Event) -> dict[str, Any]:
    async with websockets.connect(url, max_size=2**22, open_timeout=60, ping_timeout=None) as ws:
        await ws.send(json.dumps(hello or {"type": "hello"}))
        await ws.recv()  # ready
        await start.wait()
        sent = time.perf_counter()
        await ws.send(json.dumps({"type": "message", "client_id": uuid.uuid4().hex, "text": "The brush motor stops"}))
        first = None
        tokens = 0
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "delta":
                tokens += frame["text"].count(" ")  # the provider's tokens are "tokN "; frames may carry several
                if first is None:
                    first = time.perf_counter()
            elif frame["type"] == "done":
                return {"ttft": (first or time.perf_counter()) - sent, "tokens": tokens, "end": time.perf_counter(),
                        "sent": sent}


async def run_level(url: str, pid: int, n: int, make_hello: Any) -> dict[str, Any]:
    start = asyncio.Event()
    tasks = [asyncio.create_task(one_session(url, make_hello(), start)) for _ in range(n)]
    await asyncio.sleep(0.5 + n / 200)  # let every client connect
    async with Sampler(pid) as sampler:
        t0 = time.perf_counter()
        start.set()
        everything = await asyncio.gather(*tasks)
        results = [r for r in everything if "error" not in r]
        errors = [r["error"] for r in everything if "error" in r]
        wall = max((r["end"] for r in results), default=time.perf_counter()) - t0
    tokens = sum(r["tokens"] for r in results)
    if errors:
        print(f"  {len(errors)} of {n} sessions failed, e.g. {errors[0]}", flush=True)
    return {"n": n, "errors": len(errors), "ttft": [r["ttft"] for r in results], "tokens": tokens, "wall": wall,
            "tokens_per_s": tokens / wall, "cpu_per_1k": sampler.cpu / tokens * 1000, "peak_rss_mb": sampler.peak / 2**20}


async def idle_connections(url: str, pid: int, count: int, make_hello: Any) -> dict[str, float]:
    proc = psutil.Process(pid)
    before = proc.memory_info().rss
    sockets = []
    for i in range(0, count, 250):
        batch = await asyncio.gather(*[websockets.connect(url, open_timeout=60) for _ in range(min(250, count - i))])
        for ws in batch:
            await ws.send(json.dumps(make_hello()))
        for ws in batch:
            await ws.recv()
        sockets.extend(batch)
    await asyncio.sleep(2)
    after = proc.memory_info().rss
    await asyncio.gather(*[ws.close() for ws in sockets])
    return {"connections": count, "rss_before_mb": before / 2**20, "rss_after_mb": after / 2**20,
            "kib_per_connection": (after - before) / count / 1024}


def summarize(label: str, r: dict[str, Any], provider_ttft: float) -> dict[str, Any]:
    added = [max(0.0, t - provider_ttft) * 1000 for t in r["ttft"]]
    return {"server": label, "sessions": r["n"], "added_ttft_p50_ms": pct(added, 0.5), "added_ttft_p95_ms": pct(added, 0.95),
            "added_ttft_p99_ms": pct(added, 0.99), "tokens_per_s": r["tokens_per_s"], "cpu_s_per_1k_tokens": r["cpu_per_1k"],
            "peak_rss_mb": r["peak_rss_mb"], "tokens": r["tokens"], "failed_sessions": r["errors"]}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    levels = [int(x) for x in args.levels.split(",") if x]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out: dict[str, Any] = {"profile": {"ttft_s": args.ttft, "interval_s": args.interval, "tokens": args.tokens},
                           "levels": [], "idle": None, "machine": {"cores": os.cpu_count()}}
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp, \
            embedded_postgres(Path(tmp) / "pg", cleanup="delete") as dsn, \
            embedded_redis(Path(tmp) / "redis", persist=False) as redis_url:
        llm_port = free_port()
        provider = subprocess.Popen([sys.executable, "-m", "testkit.scripted_llm", "--port", str(llm_port),
                                     "--profile", f"tokens:{args.tokens}:{args.ttft}:{args.interval}"], cwd=ROOT)
        relay_port = free_port()
        relay = subprocess.Popen([sys.executable, "-m", "bench.relay", str(relay_port), f"http://127.0.0.1:{llm_port}/v1"], cwd=ROOT)
        settings = Settings(env="development", database_url=dsn, redis_url=redis_url, data_dir=Path(tmp) / "data", jwt_secret=SECRET,
                            port=free_port(), openai_base_url=f"http://127.0.0.1:{llm_port}/v1", openai_api_key="bench",
                            openai_model="primary", kb_seed_samples=False, voice_enabled=False,
                            messages_per_minute=100000, db_pool_max=20, require_grounding=False,
                            log_level=args.server_log_level)
        try:
            await asyncio.sleep(2)
            async with running_server(settings, log_dir=ROOT / "bench" / "results") as hub:
                def hub_hello() -> dict[str, Any]:
                    return {"type": "hello", "token": mint_token(settings, user_id=uuid.uuid4().hex)}

                relay_url = f"ws://127.0.0.1:{relay_port}/ws"
                async with httpx.AsyncClient() as http:  # warm both paths
                    await http.get(hub.url + "/health/ready")
                await run_level(hub.ws_url, hub.proc.pid, 5, hub_hello)
                await run_level(relay_url, relay.pid, 5, lambda: {"type": "hello"})
                for n in levels:
                    h = summarize("hub", await run_level(hub.ws_url, hub.proc.pid, n, hub_hello), args.ttft)
                    b = summarize("relay", await run_level(relay_url, relay.pid, n, lambda: {"type": "hello"}), args.ttft)
                    h["throughput_vs_relay"] = h["tokens_per_s"] / b["tokens_per_s"]
                    out["levels"].append({"hub": h, "relay": b})
                    print_level(h, b, flush=True)
                async with httpx.AsyncClient() as http:  # the server's own view, for diagnosis
                    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
                    (ROOT / "bench" / "results" / "hub_metrics.txt").write_text((await http.get(hub.url + "/metrics")).text)
                if args.idle:
                    out["idle"] = await idle_connections(hub.ws_url, hub.proc.pid, args.idle, hub_hello)
                    print(f"idle: {out['idle']['connections']} connections, "
                          f"{out['idle']['kib_per_connection']:.1f} KiB per connection "
                          f"(RSS {out['idle']['rss_before_mb']:.0f} -> {out['idle']['rss_after_mb']:.0f} MiB)", flush=True)
        finally:
            for p in (provider, relay):
                p.terminate()
                p.wait(10)
    return out


def print_level(h: dict[str, Any], b: dict[str, Any], flush: bool = False) -> None:
    print(f"\n{h['sessions']} concurrent sessions            hub        relay   hub/relay", flush=flush)
    for key, label in [("added_ttft_p50_ms", "added TTFT p50 (ms)"), ("added_ttft_p95_ms", "added TTFT p95 (ms)"),
                       ("added_ttft_p99_ms", "added TTFT p99 (ms)"), ("tokens_per_s", "tokens/s delivered"),
                       ("cpu_s_per_1k_tokens", "CPU s / 1k tokens"), ("peak_rss_mb", "peak RSS (MiB)"),
                       ("failed_sessions", "failed sessions")]:
        ratio = h[key] / b[key] if b[key] else float("nan")
        print(f"  {label:<26}{h[key]:>10.2f}{b[key]:>12.2f}{ratio:>10.2f}", flush=flush)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench hub")
    parser.add_argument("--levels", default="50,200,500")
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--ttft", type=float, default=0.3)
    parser.add_argument("--interval", type=float, default=0.015)
    parser.add_argument("--tokens", type=int, default=150)
    parser.add_argument("--server-log-level", default="warning")
    args = parser.parse_args(argv)
    result = asyncio.run(main_async(args))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "hub.json").write_text(json.dumps(result, indent=2))
    return 0
