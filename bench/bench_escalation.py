"""Escalation benchmark: from the user's ``escalate`` frame to the ticket on screen, the e-mail in the
support mailbox and the webhook at the receiver; and from a support reply to the user's chat.

A real server (uvicorn subprocess, embedded PostgreSQL and Redis), a real SMTP server (aiosmtpd) and
a real HTTP webhook receiver, all on this machine. Sequential escalations first (one user at a time),
then a burst of concurrent ones. The baseline, in the same run, is what the transport alone costs:
a ``ping`` frame's round trip on the same kind of socket, one e-mail sent straight to the same SMTP
server with aiosmtplib, one POST straight to the same receiver, and one ``GET /health/live``.

Run: ``python -m bench escalation [--sequential 20] [--burst 20] [--runs 2]`` (writes bench/results/escalation.json)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.charts import line_chart
from bench.report import machine, spread
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
            if line.startswith(("X-ABParts-Ticket:", "X-Bench-Baseline:")):
                self.mail[line.split(":", 1)[1].strip()] = time.perf_counter()
        return "250 OK"

    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            body = json.loads(await request.body())
            key = body["baseline"] if "baseline" in body else body["ticket"]["ticket_number"]
            self.hook[key] = time.perf_counter()
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


async def wait_for(table: dict[str, float], key: str, timeout: float = 60) -> float:  # noqa: ASYNC109
    deadline = time.perf_counter() + timeout
    while key not in table:  # noqa: ASYNC110
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{key} never arrived")
        await asyncio.sleep(0.005)
    return table[key]


async def baseline(srv: Any, settings: Settings, arrivals: Arrivals, hook_url: str, n: int) -> dict[str, dict[str, float]]:
    """The transport alone, one at a time: the same four paths without the service's work on them."""
    client = ChatClient(srv.ws_url, mint_token(settings, user_id="bench-baseline"))
    await client.connect()
    figures: dict[str, list[float]] = {"frame": [], "mail": [], "hook": [], "reply": []}
    async with httpx.AsyncClient() as http:
        for i in range(n):
            started = time.perf_counter()
            await client.send({"type": "ping"})
            await client.until("pong", timeout=60)
            figures["frame"].append((time.perf_counter() - started) * 1000)
            key = f"base-{i}"
            started = time.perf_counter()
            await aiosmtplib.send(f"X-Bench-Baseline: {key}\r\nSubject: baseline\r\n\r\nbody\r\n",
                                  sender="bench@example.test", recipients=["support@example.test"],
                                  hostname="127.0.0.1", port=settings.smtp_port, timeout=30)
            figures["mail"].append((await wait_for(arrivals.mail, key) - started) * 1000)
            started = time.perf_counter()
            (await http.post(hook_url, json={"baseline": key}, timeout=30)).raise_for_status()
            figures["hook"].append((await wait_for(arrivals.hook, key) - started) * 1000)
            started = time.perf_counter()
            (await http.get(f"{srv.url}/health/live", timeout=30)).raise_for_status()
            figures["reply"].append((time.perf_counter() - started) * 1000)
    await client.close()
    return {key: summary(values) for key, values in figures.items()}


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
                base = await baseline(srv, settings, arrivals, hooks.url + "/hook", args.sequential)
                sequential = [await one(srv, settings, arrivals, f"seq-{i}") for i in range(args.sequential)]
                burst = await asyncio.gather(*(one(srv, settings, arrivals, f"burst-{i}") for i in range(args.burst)))
        finally:
            smtp.stop()
    result: dict[str, Any] = {"baseline": base}
    for name, runs in (("sequential", sequential), ("burst", list(burst))):
        result[name] = {key: summary([r[key] for r in runs]) for key in ("frame", "mail", "hook", "reply")}
    return result


LABELS = {"frame": "escalate → ticket shown to the user", "mail": "escalate → e-mail at the SMTP server",
          "hook": "escalate → webhook at the receiver", "reply": "support reply → user's chat"}
BASELINE_LABELS = {"frame": "ping → pong", "mail": "e-mail sent straight", "hook": "POST straight",
                   "reply": "GET /health/live"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench escalation")
    parser.add_argument("--sequential", type=int, default=20)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    info = machine()
    runs = []
    for _ in range(args.runs):
        result = asyncio.run(main_async(args))
        runs.append(result)
        for mode in ("baseline", "sequential", "burst"):
            print(f"{mode}:")
            for key in LABELS:
                label = (BASELINE_LABELS if mode == "baseline" else LABELS)[key]
                f = result[mode][key]
                print(f"  {label:40s} p50 {f['p50_ms']:7.1f} ms  p95 {f['p95_ms']:7.1f} ms  max {f['max_ms']:7.1f} ms  (n={f['n']})")
    info["load_1m_end"] = round(os.getloadavg()[0], 2)
    out = ROOT / "bench" / "results" / "escalation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"suite": "escalation", "machine": info, "sequential": args.sequential,
                               "burst": args.burst, "runs": runs}, indent=2) + "\n")
    return 0


def section(result: dict[str, Any], charts_dir: Path) -> str:
    """The page's section: each path one at a time and in a burst, beside the bare transport."""
    runs = result["runs"]
    lines = ["## Escalation and support notifications", "",
             f"Command: `python -m bench escalation --sequential {result['sequential']} --burst {result['burst']}` "
             "(writes `bench/results/escalation.json`).", "",
             "A real server (uvicorn subprocess, embedded PostgreSQL and Redis), a real SMTP server (aiosmtpd, no "
             "TLS) and a real HTTP webhook receiver on the same machine. Each user opens a chat and sends "
             "`escalate`; times run from sending the frame to the `escalated` frame on the socket, to the e-mail "
             "accepted by the SMTP server and to the webhook received; then from a support reply "
             "(`POST /api/escalations/{id}/reply`) to the `support_message` frame in the user's chat. First "
             f"{result['sequential']} escalations one after another, then {result['burst']} at once. The baseline, "
             "in the same run and one at a time, is the transport alone: a `ping` frame's round trip, an e-mail "
             "sent straight to the SMTP server, a POST straight to the receiver, a `GET /health/live`.", "",
             "| path | run | baseline p50 | one at a time p50 / p95 | ratio of p50 | burst p50 / p95 |",
             "|---|---|---|---|---|---|"]
    for key, label in LABELS.items():
        ratios = []
        for i, run in enumerate(runs, 1):
            b, seq, burst = run["baseline"][key], run["sequential"][key], run["burst"][key]
            ratio = seq["p50_ms"] / b["p50_ms"] if b["p50_ms"] else float("nan")
            ratios.append(ratio)
            lines.append(f"| {label} ({BASELINE_LABELS[key]}) | {i} | {b['p50_ms']} ms | {seq['p50_ms']} / "
                         f"{seq['p95_ms']} ms | {ratio:.1f} | {burst['p50_ms']} / {burst['p95_ms']} ms |")
        lines.append(f"| | spread | | | {spread(ratios)} | |")
    chart = line_chart(charts_dir / "escalation.svg", title="Escalation: p95 one at a time and in a burst",
                       x_label="escalations at once", y_label="p95 ms", log_y=True,
                       series={LABELS[key].split(" → ")[1]: [(1, runs[0]["sequential"][key]["p95_ms"]),
                                                            (result["burst"], runs[0]["burst"][key]["p95_ms"])]
                               for key in LABELS})
    lines += ["", f"![Escalation p95 against concurrency](charts/{chart.name})", "",
              "The ticket is written (snapshot, analytics event, deliveries and jobs in one transaction) before "
              "the user sees it. Notifications go through the job queue, which one replica works through a few "
              "jobs at a time, one SMTP connection per e-mail: a burst of escalations is delivered within "
              "seconds, not at once. The reply figure in the burst includes waiting behind those jobs and the "
              "other users' traffic in one process."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
