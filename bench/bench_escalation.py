"""Escalation benchmark: from the user's ``escalate`` frame to the ticket on screen, the e-mail in the
support mailbox and the webhook at the receiver; and from a support reply to the user's chat.

A real server (uvicorn subprocess, embedded PostgreSQL and Redis), a real SMTP server (aiosmtpd) and
a real HTTP webhook receiver, all on this machine. Sequential escalations first (one user at a time),
then a burst of concurrent ones.

Run: ``python -m bench.bench_escalation [--sequential 20] [--burst 20]`` (writes bench/results/escalation.json)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.embedded import embedded_postgres, embedded_redis
from core.settings import Settings
from server.auth import mint_token
from testkit.scripted_llm import ThreadedServer, free_port
from testkit.servers import running_server
from testkit.wsclient import ChatClient

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-0123456789-0123456789"


class Arrivals:
    """Arrival time (perf_counter) of each e-mail / webhook, by ticket number."""

    def __init__(self) -> None:
        self.mail: dict[str, float] = {}
        self.hook: dict[str, float] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for line in envelope.content.decode(errors="replace").splitlines():
            if line.startswith("X-ABParts-Ticket:"):
                self.mail[line.split(":", 1)[1].strip()] = time.perf_counter()
        return "250 OK"

    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            body = json.loads(await request.body())
            self.hook[body["ticket"]["ticket_number"]] = time.perf_counter()
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(values, 0.5), 1), "p95_ms": round(pct(values, 0.95), 1),
            "max_ms": round(max(values), 1) if values else float("nan"), "n": len(values)}


async def one(srv: Any, settings: Settings, arrivals: Arrivals, user: str) -> dict[str, float]:
    client = ChatClient(srv.ws_url, mint_token(settings, user_id=user))
    await client.connect()
    started = time.perf_counter()
    await client.send({"type": "escalate", "reason": "benchmark"})
    frame = await client.until("escalated", timeout=60)
    shown = time.perf_counter()
    number = frame["ticket_number"]
    # the receivers run in other threads and stamp the arrival time themselves: polling does not skew it
    while number not in arrivals.mail or number not in arrivals.hook:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    support = mint_token(settings, user_id="bench-support", role="support")
    async with httpx.AsyncClient() as http:
        replied = time.perf_counter()
        r = await http.post(f"{srv.url}/api/escalations/{frame['ticket_id']}/reply",
                            headers={"Authorization": f"Bearer {support}"}, json={"text": "On it."})
        r.raise_for_status()
    await client.until("support_message", timeout=60)
    live = time.perf_counter()
    await client.close()
    return {"frame": (shown - started) * 1000, "mail": (arrivals.mail[number] - started) * 1000,
            "hook": (arrivals.hook[number] - started) * 1000, "reply": (live - replied) * 1000}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    arrivals = Arrivals()
    smtp = Controller(arrivals, hostname="127.0.0.1", port=free_port())
    smtp.start()
    with tempfile.TemporaryDirectory() as tmp, ThreadedServer(arrivals.app()) as hooks, \
            embedded_postgres(Path(tmp) / "pg", cleanup="delete") as dsn, \
            embedded_redis(Path(tmp) / "redis", persist=False) as redis_url:
        settings = Settings(env="development", database_url=dsn, redis_url=redis_url, data_dir=Path(tmp) / "data", jwt_secret=SECRET,
                            port=free_port(), kb_seed_samples=False, voice_enabled=False, log_level="warning",
                            smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none",
                            webhook_urls=(hooks.url + "/hook",), webhook_secret="bench")
        try:
            async with running_server(settings) as srv:
                sequential = [await one(srv, settings, arrivals, f"seq-{i}") for i in range(args.sequential)]
                burst = await asyncio.gather(*(one(srv, settings, arrivals, f"burst-{i}") for i in range(args.burst)))
        finally:
            smtp.stop()
    result: dict[str, Any] = {}
    for name, runs in (("sequential", sequential), ("burst", list(burst))):
        result[name] = {key: summary([r[key] for r in runs]) for key in ("frame", "mail", "hook", "reply")}
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_escalation")
    parser.add_argument("--sequential", type=int, default=20)
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args(argv)
    result = asyncio.run(main_async(args))
    out = ROOT / "bench" / "results" / "escalation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    labels = {"frame": "escalate -> escalated frame", "mail": "escalate -> e-mail received",
              "hook": "escalate -> webhook received", "reply": "support reply -> user's chat"}
    for mode, figures in result.items():
        print(f"{mode}:")
        for key, label in labels.items():
            f = figures[key]
            print(f"  {label:32s} p50 {f['p50_ms']:7.1f} ms  p95 {f['p95_ms']:7.1f} ms  max {f['max_ms']:7.1f} ms  (n={f['n']})")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
