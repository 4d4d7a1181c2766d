"""Idle-connection benchmark: server memory per authenticated idle WebSocket, against a bare endpoint.

Per run, three servers are measured one after another, each a fresh process on loopback with the same
uvicorn options (``server.__main__.uvicorn_options``):

* **service**: the real ``python -m server serve`` with its default settings (permessage-deflate off);
* **service + deflate**: the same with ``WS_PER_MESSAGE_DEFLATE=true``, the price of compression;
* **baseline**: a bare Starlette WebSocket endpoint (answers ``hello`` with ``ready``, echoes the rest)
  served by the same uvicorn options, so the transport's own cost per socket is known.

Clients (the ``websockets`` library in this process, offering permessage-deflate as browsers do) open
connections in batches; each sends ``hello`` (a host token of its own user for the service) and waits
for ``ready``. At each level (1k, 5k, 10k) the server's RSS is read after the sockets settle:
KiB per connection = (RSS - RSS before the first connection) / connections.

The bytes compression saves are measured on a real answer stream: one question through the service with
deflate on (scripted OpenAI-compatible provider streaming a realistic answer); the frames received are
re-encoded with the same permessage-deflate parameters uvicorn negotiates, with and without context
takeover, and compared with the uncompressed frames.

Run: ``python -m bench idle [--runs 2] [--levels 1000,5000,10000] [--tracemalloc]``
(``--tracemalloc`` also runs the service under tracemalloc and prints the allocation sites that grow
with the connections: a diagnosis, slower, not part of the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

from core.embedded import embedded_postgres, embedded_redis
from core.settings import Settings
from server.auth import mint_token
from testkit.scripted_llm import ScriptedLLM, ThreadedServer, free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SECRET = "bench-secret-0123456789-0123456789"
GOAL_KIB = 24.0
BATCH = 100
SETTLE_SECONDS = 3.0

ANSWER = (
    "The brush motor stops when its thermal fuse trips or when the drive belt slips [1]. First switch the "
    "machine off at the main isolator and wait two minutes for the motor to cool. Open the side cover and "
    "check fuse F3 on the control board: if it is blown, replace it with a 10 A slow-blow fuse of the same "
    "type [1]. Then inspect the drive belt for cracks, glazing or wear; a belt that deflects more than 10 mm "
    "under thumb pressure must be tensioned or replaced [2]. Check that the brush head turns freely by hand "
    "and remove any rope, net or debris wound around the shaft. Reconnect power and run the brush motor for "
    "one minute while watching the current reading on the display: it should settle below 6 A [2]. If the "
    "motor still stops, measure the motor winding resistance and contact support with the readings [3]."
)


# -- the baseline server and the traced service (subcommands of this module, run as child processes)

def echo_app() -> Any:
    """A bare Starlette WebSocket endpoint: ``ready`` for ``hello``, every other frame echoed."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def ws_endpoint(ws: WebSocket) -> None:
        await ws.accept()
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                text = await ws.receive_text()
                await ws.send_text('{"type":"ready"}' if '"hello"' in text else text)

    async def live(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[WebSocketRoute("/ws", ws_endpoint), Route("/health/live", live)])


def serve_echo() -> int:
    import uvicorn

    from server.__main__ import uvicorn_options

    settings = Settings.from_env(os.environ)
    uvicorn.Server(uvicorn.Config(echo_app(), **uvicorn_options(settings), log_level="warning")).run()
    return 0


def serve_traced(snapshots: Path, target: str) -> int:
    """The service (or the baseline) under tracemalloc; SIGUSR1 writes a snapshot into ``snapshots``."""
    import tracemalloc

    import server.app  # noqa: F401  - imported before tracing starts: only what runs later is traced
    from server.__main__ import main as server_main

    tracemalloc.start(4)
    taken = [0]

    def dump(signum: int, frame: object) -> None:
        taken[0] += 1
        tracemalloc.take_snapshot().dump(str(snapshots / f"snap{taken[0]}.pickle"))

    signal.signal(signal.SIGUSR1, dump)
    return serve_echo() if target == "baseline" else server_main(["serve"])


# -- processes

class Served:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.port = port
        self.ws_url = f"ws://127.0.0.1:{port}/ws"

    def rss(self) -> int:
        return int(psutil.Process(self.proc.pid).memory_info().rss)


@contextlib.asynccontextmanager
async def spawned(args: list[str], settings: Settings, log_name: str, wait: float = 120) -> AsyncIterator[Served]:
    """A child process serving ``settings.port``; waits for /health/live, stopped with SIGTERM at exit."""
    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.to_thread(_spawn, args, env, RESULTS / f"idle-{log_name}.log")
    served = Served(proc, settings.port)
    try:
        deadline = time.monotonic() + wait
        async with httpx.AsyncClient() as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{log_name} exited with {proc.returncode}; see bench/results/idle-{log_name}.log")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{settings.port}/health/live", timeout=1)).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{log_name} did not become live")
                await asyncio.sleep(0.2)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait, 10)


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


# -- clients

async def open_one(url: str, hello: str, attempts: int = 6) -> ClientConnection | str:
    """One authenticated connection (hello answered by ready), or the reason it failed. A refusal that asks
    to try again (close 1013: no database connection free in time while thousands connect at once) is
    retried after a pause, as the widget does."""
    for attempt in range(attempts):
        got = await _open_once(url, hello)
        if not (isinstance(got, str) and got.startswith(RETRY)) or attempt == attempts - 1:
            return got
        await asyncio.sleep(1.0 + attempt)
    return got


RETRY = "retry: "


async def _open_once(url: str, hello: str) -> ClientConnection | str:
    try:
        ws = await websockets.connect(url, open_timeout=120, ping_interval=None, close_timeout=1, max_size=2**22)
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        return f"connect: {type(exc).__name__}: {exc}"[:200]
    try:
        await ws.send(hello)
        frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        ws.transport.abort()
        return f"hello: {type(exc).__name__}: {exc}"[:200]
    if frame.get("type") != "ready":
        ws.transport.abort()
        again = frame.get("code") in ("postgres_unavailable", "temporarily_unavailable")
        return f"{RETRY if again else ''}hello refused: {frame}"[:200]
    return ws


async def ramp(served: Served, levels: list[int], make_hello: Callable[[], str], label: str) -> dict[str, Any]:
    """Open connections up to each level in turn; RSS per connection at each level."""
    # warm the code paths (imports, pools, first allocations) so they are not counted per connection
    warm = [await open_one(served.ws_url, make_hello()) for _ in range(20)]
    for ws in warm:
        if not isinstance(ws, str):
            await ws.close()
    await asyncio.sleep(SETTLE_SECONDS)
    before = served.rss()
    sockets: list[ClientConnection] = []
    errors: list[str] = []
    points = []
    started = time.perf_counter()
    for level in levels:
        while len(sockets) + len(errors) < level:
            batch = min(BATCH, level - len(sockets) - len(errors))
            for got in await asyncio.gather(*(open_one(served.ws_url, make_hello()) for _ in range(batch))):
                if isinstance(got, str):
                    errors.append(got)
                else:
                    sockets.append(got)
        await asyncio.sleep(SETTLE_SECONDS)
        rss = served.rss()
        open_now = len(sockets)
        point = {"connections": open_now, "rss_mb": rss / 2**20,
                 "kib_per_connection": (rss - before) / max(open_now, 1) / 1024,
                 "elapsed_s": time.perf_counter() - started}
        points.append(point)
        print(f"  {label:<18} {open_now:>6} open  RSS {rss / 2**20:7.1f} MiB  "
              f"{point['kib_per_connection']:6.1f} KiB/connection  ({len(errors)} failed)", flush=True)
    for ws in sockets:
        ws.transport.abort()
    if errors:
        print(f"  {label}: {len(errors)} connections failed, e.g. {errors[0]}", flush=True)
    return {"rss_before_mb": before / 2**20, "points": points, "failed": len(errors),
            "failure_example": errors[0] if errors else None}


async def answer_frames(url: str, hello: str) -> list[str]:
    """The frames one question's answer streams to the client (deflate offered, as browsers do)."""
    async with websockets.connect(url, open_timeout=60, ping_interval=None, max_size=2**22) as ws:
        await ws.send(hello)
        await ws.recv()  # ready
        await ws.send(json.dumps({"type": "message", "client_id": uuid.uuid4().hex,
                                  "text": "The brush motor stops after a few minutes. What should I check?"}))
        frames: list[str] = []
        async with asyncio.timeout(60):
            while True:
                text = await ws.recv()
                assert isinstance(text, str)
                frames.append(text)
                if json.loads(text).get("type") in ("done", "error"):
                    return frames


def wire_bytes(frames: list[str], deflate: PerMessageDeflate | None) -> int:
    """Bytes the frames take on the wire from server to client (header + payload, unmasked)."""
    total = 0
    for text in frames:
        frame = Frame(Opcode.TEXT, text.encode())
        if deflate is not None:
            frame = deflate.encode(frame)
        size = len(frame.data)
        total += size + (2 if size < 126 else 4 if size < 65536 else 10)
    return total


def compression(frames: list[str]) -> dict[str, Any]:
    """The answer stream's bytes uncompressed, with uvicorn's permessage-deflate, and without context takeover."""
    plain = wire_bytes(frames, None)
    # uvicorn's server parameters: 12-bit windows both ways, memLevel 5, context takeover
    kept = wire_bytes(frames, PerMessageDeflate(False, False, 12, 12, {"memLevel": 5}))
    fresh = wire_bytes(frames, PerMessageDeflate(True, True, 12, 12, {"memLevel": 5}))
    return {"frames": len(frames), "bytes_uncompressed": plain, "bytes_deflate": kept,
            "bytes_deflate_no_context_takeover": fresh, "saved_bytes": plain - kept,
            "deflate_ratio": kept / plain}


# -- diagnosis

async def traced(settings: Settings, count: int, make_hello: Callable[[], str], target: str) -> list[str]:
    """Allocation sites (tracemalloc) that grow with ``count`` idle connections to ``target``."""
    import tracemalloc

    with tempfile.TemporaryDirectory(prefix="bench-idle-trace-") as tmp:
        snaps = Path(tmp)
        async with spawned(["-m", "bench.bench_idle", "--serve-traced", str(snaps), target], settings,
                           f"traced-{target}", 600) as served:
            warm = [await open_one(served.ws_url, make_hello()) for _ in range(20)]
            for ws in warm:
                if not isinstance(ws, str):
                    await ws.close()
            await asyncio.sleep(SETTLE_SECONDS)
            served.proc.send_signal(signal.SIGUSR1)
            sockets: list[ClientConnection] = []
            while len(sockets) < count:
                for got in await asyncio.gather(*(open_one(served.ws_url, make_hello())
                                                  for _ in range(min(BATCH, count - len(sockets))))):
                    if not isinstance(got, str):
                        sockets.append(got)
            await asyncio.sleep(SETTLE_SECONDS)
            served.proc.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 120
            while not (snaps / "snap2.pickle").exists() and time.monotonic() < deadline:  # noqa: ASYNC110 - a file
                await asyncio.sleep(0.5)
            await asyncio.sleep(2)  # the dump finishes writing
            for ws in sockets:
                ws.transport.abort()
        first = tracemalloc.Snapshot.load(str(snaps / "snap1.pickle"))
        second = tracemalloc.Snapshot.load(str(snaps / "snap2.pickle"))
    lines = []
    for kind in ("filename", "lineno"):
        stats = second.compare_to(first, kind)
        lines.append(f"{target}: top allocation growth by {kind} over {count} connections (bytes per connection):")
        for stat in stats[:25]:
            frame = stat.traceback[0]
            lines.append(f"  {stat.size_diff / count:9.0f}  {stat.count_diff / count:6.1f} blocks  "
                         f"{frame.filename}:{frame.lineno if kind == 'lineno' else ''}")
    total = sum(s.size_diff for s in second.compare_to(first, "filename"))
    lines.append(f"  traced Python allocations in all: {total / count:.0f} bytes per connection")
    return lines


# -- one run

async def one_run(args: argparse.Namespace, dsn: str, redis_url: str, data: Path, llm_url: str) -> dict[str, Any]:
    levels = [int(x) for x in args.levels.split(",") if x]
    base = Settings(env="development", database_url=dsn, redis_url=redis_url, data_dir=data, jwt_secret=SECRET,
                    port=free_port(), openai_base_url=llm_url, openai_api_key="bench", openai_model="primary",
                    kb_seed_samples=False, voice_enabled=False, require_grounding=False, db_pool_max=20,
                    ws_frames_per_minute_per_address=10**8, log_level="warning")

    def service_hello() -> str:
        return json.dumps({"type": "hello", "token": mint_token(base, user_id=uuid.uuid4().hex)})

    run: dict[str, Any] = {"levels": levels}
    async with spawned(["-m", "server", "serve"], base, "service") as served:
        run["service"] = await ramp(served, levels, service_hello, "service")
    deflate = base.replace(port=free_port(), ws_per_message_deflate=True)
    async with spawned(["-m", "server", "serve"], deflate, "service-deflate") as served:
        frames = await answer_frames(served.ws_url, service_hello())
        run["compression"] = compression(frames)
        # zlib's state per socket does not depend on how many are open: the smaller levels show its price
        run["service_deflate"] = await ramp(served, [n for n in levels if n <= 5000] or levels[:1], service_hello,
                                            "service + deflate")
    echo = base.replace(port=free_port())
    async with spawned(["-m", "bench.bench_idle", "--serve-echo"], echo, "baseline") as served:
        run["baseline"] = await ramp(served, levels, lambda: '{"type":"hello"}', "baseline")
    top = run["service"]["points"][-1]["kib_per_connection"]
    floor = run["baseline"]["points"][-1]["kib_per_connection"]
    run["kib_per_connection"] = top
    run["baseline_kib_per_connection"] = floor
    run["ratio"] = top / floor if floor > 0 else float("nan")
    run["deflate_kib_per_connection"] = run["service_deflate"]["points"][-1]["kib_per_connection"]
    run["met"] = top <= GOAL_KIB and not run["service"]["failed"]
    comp = run["compression"]
    print(f"  answer stream: {comp['frames']} frames, {comp['bytes_uncompressed']} B plain, {comp['bytes_deflate']} B "
          f"deflate ({comp['deflate_ratio']:.2f}), {comp['bytes_deflate_no_context_takeover']} B without context takeover",
          flush=True)
    if args.tracemalloc:
        for target, hello in (("service", service_hello), ("baseline", lambda: '{"type":"hello"}')):
            for line in await traced(base.replace(port=free_port()), args.tracemalloc, hello, target):
                print(line, flush=True)
    return run


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from bench.report import machine

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    top = max(int(x) for x in args.levels.split(",") if x)
    if hard < top + 1000:
        raise SystemExit(f"the open-file limit ({hard}) is too low for {top} connections: raise `ulimit -Hn`")
    out: dict[str, Any] = {"suite": "idle", "machine": machine(), "goal_kib": GOAL_KIB, "runs": []}
    llm = ScriptedLLM()
    llm.set_default({"kind": "stream", "text": ANSWER, "ttft": 0.05, "interval": 0.01})
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp, \
            embedded_postgres(Path(tmp) / "pg", cleanup="delete") as dsn, \
            embedded_redis(Path(tmp) / "redis", persist=False) as redis_url, \
            ThreadedServer(llm.app()) as provider:
        for number in range(args.runs):
            print(f"run {number + 1} of {args.runs}", flush=True)
            out["runs"].append(await one_run(args, dsn, redis_url, Path(tmp) / f"data{number}", provider.url + "/v1"))
            write_result(out)  # after each run: a long benchmark stopped early keeps what it measured
    return out


def write_result(result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "idle.json").write_text(json.dumps(result, indent=2))


def section(result: dict[str, Any], charts_dir: Path) -> str:
    """The "Idle connections" section of docs/performance.md."""
    from bench.charts import line_chart
    from bench.report import spread

    runs = result["runs"]
    top = max(runs[0]["levels"])
    lines = [
        "## Idle connections: memory per authenticated WebSocket",
        "",
        "Command: `.venv/bin/python -m bench idle --runs 2 --levels 1000,5000,10000` (writes `bench/results/idle.json`;"
        " `--tracemalloc N` adds the allocation sites that grow per connection).",
        "",
        "What is measured: clients (the `websockets` library, one process, offering permessage-deflate as",
        "browsers do) open connections in batches of 100 to one replica on loopback; each sends `hello` (for",
        "the service a host token of its own user: a session row in PostgreSQL, the fan-out subscription,",
        "the connection counted in Redis) and waits for `ready` (a refusal asking to try again, close 1013,",
        "is retried after a pause, as the widget does), then stays idle. At each level the server's",
        "RSS is read after 3 s: KiB per connection = (RSS - RSS before the first connection) / connections.",
        "**Service** is `python -m server serve` with its defaults; **service + deflate** the same with",
        "`WS_PER_MESSAGE_DEFLATE=true` (up to 5,000 connections: zlib's state per socket does not depend on",
        "how many are open); **baseline** a bare Starlette WebSocket endpoint (`ready` for `hello`,",
        "echo otherwise) served with the same uvicorn options (`server.__main__.uvicorn_options`).",
        "",
        f"| run | service at {top:,} | baseline | service / baseline | service + deflate | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for number, run in enumerate(runs, 1):
        failed = run["service"]["failed"]
        lines.append(f"| {number} | **{run['kib_per_connection']:.1f} KiB** | {run['baseline_kib_per_connection']:.1f} KiB "
                     f"| {run['ratio']:.2f} | {run['deflate_kib_per_connection']:.1f} KiB | <= {GOAL_KIB:g} KiB "
                     f"| {'met' if run['met'] else 'not met'}{f' ({failed} failed)' if failed else ''} |")
    lines += ["", f"Spread between runs: service {spread([r['kib_per_connection'] for r in runs])}, baseline "
                  f"{spread([r['baseline_kib_per_connection'] for r in runs])}.", ""]
    comp = runs[-1]["compression"]
    lines += [
        f"Compression on a real answer stream ({comp['frames']} frames of one streamed answer of about 900",
        f"characters, re-encoded with the permessage-deflate parameters uvicorn negotiates): {comp['bytes_uncompressed']:,} B",
        f"uncompressed, {comp['bytes_deflate']:,} B with deflate ({comp['deflate_ratio']:.2f}), "
        f"{comp['bytes_deflate_no_context_takeover']:,} B without context",
        "takeover (the mode that keeps no zlib state between messages: the frames are too small to compress alone).",
        "",
    ]
    lines += [
        "Where an idle connection's memory went (`--tracemalloc 1000`, Python allocations per connection, run of",
        "2026-12-02, before the last three removals below): uvicorn's protocol object and the ASGI scope about",
        "6 KB; the coroutine chain of the Starlette middleware and routing, suspended for the socket's life,",
        "about 5 KB; the hub's four tasks (uvicorn's ASGI task, the send and receive loops, the token-expiry",
        "guard) and their frames about 5.5 KB; the remaining websockets parser, connection object, session row",
        "and fan-out subscription a few KB.",
        "Already removed: permessage-deflate by default (its zlib state is the whole difference between the",
        "two service columns, the configuration of the 71 KiB measured before), the parsed handshake request",
        "and response kept per socket, uvicorn's `asyncio.Queue` and `asyncio.Event` per socket and the",
        "connection's own empty outbox ring buffer (server/chat/transport.py, server/chat/connection.py);",
        "the HTTP-only middleware, exception middleware and router between the socket and the hub (the",
        "WebSocket routes are served just inside the request-context middleware, server/http/middleware.py);",
        "the receive loop's own task (it runs in uvicorn's ASGI task) and the token-expiry task (a loop timer",
        "that renews the connection's entry and closes the socket at expiry, server/chat/hub.py): an idle",
        "socket keeps the ASGI task and the send loop, two coroutine stacks instead of four.",
        "",
    ]
    series: dict[str, list[tuple[float, float]]] = {}
    for number, run in enumerate(runs, 1):
        for key, name in (("service", "service"), ("service_deflate", "service + deflate"), ("baseline", "baseline")):
            series[f"{name} (run {number})"] = [(float(p["connections"]), p["rss_mb"]) for p in run[key]["points"]]
    chart = line_chart(charts_dir / "idle_rss.svg", title="Server RSS with idle connections", x_label="connections",
                       y_label="RSS (MiB)", series=series)
    lines += [f"![Server RSS against idle connections, service and baseline](charts/{chart.name})", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve-echo"]:
        return serve_echo()
    if argv[:1] == ["--serve-traced"]:
        return serve_traced(Path(argv[1]), argv[2])
    parser = argparse.ArgumentParser(prog="python -m bench idle")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--levels", default="1000,5000,10000")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="N",
                        help="also trace the service's allocations over N connections (diagnosis)")
    args = parser.parse_args(argv)
    result = asyncio.run(main_async(args))
    write_result(result)
    return 0 if all(run["met"] for run in result["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
