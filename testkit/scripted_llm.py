"""A scripted OpenAI-compatible HTTP server on loopback: the provider double for tests and benchmarks.

It speaks the real wire format (SSE chat-completion chunks, usage, error bodies, rate-limit headers)
so the service's real ``openai`` client code runs against it. Behaviour comes from a script: each
chat request takes the first matching entry (by model), else the default entry.

Script entries (dicts):
  {"kind": "stream", "text": "...", "ttft": 0.05, "interval": 0.01, "model": "m"?}
  {"kind": "tokens", "count": 150, "ttft": 0.3, "interval": 0.015}        fixed-profile stream (benchmarks)
  {"kind": "error", "status": 429|500|401|..., "model": "m"?}
  {"kind": "cut", "text": "...", "after": 3}      stream 3 tokens then drop the connection
  {"kind": "hang"}                                 never answer (time-out tests)
  {"kind": "stall", "text": "...", "after": 3}    stream 3 tokens then send nothing more, never closing
  {"kind": "keepalive", "text": "...", "after": 3, "every": 0.2}
                                                  stream 3 tokens then only SSE comments (": keep-alive"), never closing
  {"kind": "garble", "text": "...", "after": 3, "event": "error"|"junk"}
                                                  stream 3 tokens then an error event (or one that is not JSON)
Run standalone: ``python -m testkit.scripted_llm --port 9999 --profile tokens:150:0.3:0.015``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import threading
import time
import uuid
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

DEFAULT_TEXT = "Check the brush motor fuse first [1]. Then inspect the drive belt for wear [1]."


def tokenize(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


class ScriptedLLM:
    def __init__(self) -> None:
        self.script: list[dict[str, Any]] = []
        self.default: dict[str, Any] = {"kind": "stream", "text": DEFAULT_TEXT, "ttft": 0.0, "interval": 0.0}
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    # -- control (used directly in-process, or over HTTP when standalone)
    def push(self, *entries: dict[str, Any]) -> None:
        with self.lock:
            self.script.extend(entries)

    def set_default(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.default = entry

    def reset(self) -> None:
        with self.lock:
            self.script.clear()
            self.requests.clear()
            self.default = {"kind": "stream", "text": DEFAULT_TEXT, "ttft": 0.0, "interval": 0.0}

    def _take(self, model: str) -> dict[str, Any]:
        with self.lock:
            for i, entry in enumerate(self.script):
                if entry.get("model") in (None, model):
                    return self.script.pop(i)
            return dict(self.default)

    def chat_requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == "chat"]

    # -- HTTP
    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/models", self.models),
            Route("/_script", self.http_script, methods=["POST"]),
            Route("/_requests", self.http_requests),
        ])

    async def models(self, request: Request) -> Response:
        if request.headers.get("authorization") == "Bearer bad-key":
            return _error(401, "invalid_api_key", "Incorrect API key provided")
        return JSONResponse({"object": "list", "data": [{"id": "primary", "object": "model"}, {"id": "fallback", "object": "model"}]})

    async def http_script(self, request: Request) -> Response:
        body = await request.json()
        if body.get("reset"):
            self.reset()
        if "default" in body:
            self.set_default(body["default"])
        self.push(*body.get("entries", []))
        return JSONResponse({"ok": True})

    async def http_requests(self, request: Request) -> Response:
        with self.lock:
            return JSONResponse(self.requests)

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        model = body.get("model", "")
        record: dict[str, Any] = {"path": "chat", "model": model, "messages": body.get("messages", []),
                                  "stream": bool(body.get("stream")), "response_format": body.get("response_format"),
                                  "cancelled": False, "completed": False,
                                  "at": time.time()}
        with self.lock:
            self.requests.append(record)
        if request.headers.get("authorization") == "Bearer bad-key":
            return _error(401, "invalid_api_key", "Incorrect API key provided")
        entry = self._take(model)
        kind = entry.get("kind", "stream")
        if kind == "error":
            status = int(entry.get("status", 500))
            return _error(status, "rate_limit_exceeded" if status == 429 else "server_error", f"scripted {status}",
                          headers={"retry-after": "0"} if status == 429 else None)
        if kind == "hang":
            await asyncio.sleep(3600)
        if kind == "tokens":
            tokens = [f"tok{i} " for i in range(int(entry.get("count", 150)))]
        else:
            tokens = tokenize(entry.get("text", DEFAULT_TEXT))
        cut_after = int(entry["after"]) if kind == "cut" else None
        stall_after = int(entry["after"]) if kind in ("stall", "keepalive") else None
        keepalive = float(entry.get("every", 0.2)) if kind == "keepalive" else None
        garble = (int(entry["after"]), str(entry.get("event", "error"))) if kind == "garble" else None
        if not body.get("stream"):
            record["completed"] = True
            return JSONResponse({"id": "cmpl-" + uuid.uuid4().hex, "object": "chat.completion", "model": model,
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(tokens)},
                                              "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 10, "completion_tokens": len(tokens), "total_tokens": 10 + len(tokens)}})
        return StreamingResponse(self._sse(model, tokens, float(entry.get("ttft", 0)), float(entry.get("interval", 0)),
                                           cut_after, record, stall_after, garble, keepalive),
                                 media_type="text/event-stream",
                                 headers={"x-ratelimit-remaining-requests": "4999"})

    async def _sse(self, model: str, tokens: list[str], ttft: float, interval: float, cut_after: int | None,
                   record: dict[str, Any], stall_after: int | None = None,
                   garble: tuple[int, str] | None = None, keepalive: float | None = None) -> Any:
        cid = "chatcmpl-" + uuid.uuid4().hex[:12]
        created = int(time.time())
        prompt_tokens = sum(len(m.get("content", "")) for m in record["messages"]) // 4
        try:
            if ttft:
                await asyncio.sleep(ttft)
            for i, tok in enumerate(tokens):
                if cut_after is not None and i >= cut_after:
                    raise ConnectionAbortedError("scripted cut")
                if stall_after is not None and i >= stall_after:
                    record["stalled"] = True
                    while keepalive is not None:  # bytes keep coming, but never another event
                        await asyncio.sleep(keepalive)
                        yield ": keep-alive\n\n"
                    await asyncio.sleep(3600)  # the connection stays open; nothing more is sent
                if garble is not None and i >= garble[0]:
                    record["garbled"] = True
                    if garble[1] == "error":
                        yield 'data: {"error": {"message": "scripted overload", "type": "server_error"}}\n\n'
                    else:
                        yield "data: <html>502 Bad Gateway</html>\n\n"
                    return
                if i and interval:
                    await asyncio.sleep(interval)
                chunk = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                         "choices": [{"index": 0, "delta": {"content": tok}, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n"
            final = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            yield f"data: {json.dumps(final)}\n\n"
            usage = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
                     "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(tokens),
                               "total_tokens": prompt_tokens + len(tokens)}}
            yield f"data: {json.dumps(usage)}\n\n"
            yield "data: [DONE]\n\n"
            record["completed"] = True
        except (asyncio.CancelledError, GeneratorExit):
            record["cancelled"] = True
            raise


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"message": message, "type": code, "code": code}}, status_code=status, headers=headers)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadedServer:
    """Run an ASGI app with uvicorn in a background thread (the test process keeps its own loop)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("scripted server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--profile", default="", help="tokens:COUNT:TTFT:INTERVAL as the default entry")
    args = parser.parse_args()
    llm = ScriptedLLM()
    if args.profile:
        _, count, ttft, interval = args.profile.split(":")
        llm.set_default({"kind": "tokens", "count": int(count), "ttft": float(ttft), "interval": float(interval)})
    uvicorn.run(llm.app(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
