"""The baseline for the hub benchmark: a bare Starlette WebSocket relay of the provider's stream.

No auth, no sessions, no storage, no replay: one socket, one streaming request through the same
``openai`` client on the same HTTP transport (``LLM_HTTP_CLIENT``, ``server.engine.llm.http_client``),
its events read by the same reader as the hub's (``server/engine/sse.py``), each chunk forwarded as a
frame. Run: ``python -m bench.relay PORT PROVIDER_URL [aiohttp|httpx]``.
"""

from __future__ import annotations

import json
import sys

import openai
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from server.engine.llm import http_client
from server.engine.sse import chunk_text, completion_chunks


def make_app(provider_url: str, transport: str = "aiohttp") -> Starlette:
    client = openai.AsyncOpenAI(base_url=provider_url, api_key="bench", max_retries=0,
                                http_client=http_client(transport, openai.DEFAULT_CONNECTION_LIMITS))

    async def relay(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                frame = json.loads(await ws.receive_text())
                if frame.get("type") != "message":
                    await ws.send_text(json.dumps({"type": "ready"}))
                    continue
                raw = await client.chat.completions.with_raw_response.create(
                    model="primary", stream=True, messages=[{"role": "user", "content": frame["text"]}])
                try:
                    async for chunk in completion_chunks(raw.http_response.aiter_bytes()):
                        text = chunk_text(chunk)
                        if text:
                            await ws.send_text(json.dumps({"type": "delta", "text": text}))
                finally:
                    await raw.http_response.aclose()
                await ws.send_text(json.dumps({"type": "done"}))
        except WebSocketDisconnect:
            pass

    return Starlette(routes=[WebSocketRoute("/ws", relay)])


if __name__ == "__main__":
    uvicorn.run(make_app(sys.argv[2], *sys.argv[3:4]), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
