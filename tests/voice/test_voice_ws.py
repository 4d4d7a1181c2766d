"""Voice over the WebSocket: audio_start, binary frames, audio_end -> transcript (not a message)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from testkit.wsclient import ChatClient

from .speech import SENTENCES, wer
from .test_voice_http import voice_settings, wait_voice_healthy

CHUNK = 16 * 1024  # MediaRecorder delivers a chunk every few hundred milliseconds


async def send_recording(client: ChatClient, data: bytes, **start: Any) -> None:
    assert client.ws is not None
    await client.send({"type": "audio_start", **start})
    for i in range(0, len(data), CHUNK):
        await client.ws.send(data[i:i + CHUNK])
    await client.send({"type": "audio_end"})


async def next_voice_frame(client: ChatClient) -> dict[str, Any]:
    """The transcript or error frame answering a recording (other connection-local frames skipped)."""
    while True:
        frame = await client.recv(timeout=120)
        if frame["type"] == "transcript" and frame.get("partial"):
            continue  # progress while a long recording is processed
        if frame["type"] in ("transcript", "error"):
            return frame


async def test_recording_over_websocket(settings_factory, running_server, make_token, voice_model_dir, speech):
    settings = voice_settings(settings_factory, voice_model_dir, voice_workers=1, voice_queue_max=1)
    async with running_server(settings) as srv:
        async with httpx.AsyncClient(timeout=30) as http:
            await wait_voice_healthy(http, srv.url)
        client = ChatClient(srv.ws_url, make_token(lang="el"))
        await client.connect()
        try:
            await send_recording(client, speech["en.webm"].read_bytes(), format="webm", lang="en")
            frame = await next_voice_frame(client)
            assert frame["type"] == "transcript", frame
            assert frame["language"] == "en" and 5 < frame["duration"] < 8
            assert wer(SENTENCES["en"], frame["text"]) < 0.35, frame["text"]
            assert "seq" not in frame  # connection-local: not stored, not replayed

            # no lang in audio_start: the session's language (the profile says Greek)
            await send_recording(client, speech["el.webm"].read_bytes(), format="webm")
            frame = await next_voice_frame(client)
            assert frame["type"] == "transcript" and frame["language"] == "el" and frame["text"]

            await send_recording(client, speech["en.m4a"].read_bytes(), format="m4a", lang="en")
            frame = await next_voice_frame(client)
            assert frame["type"] == "transcript" and wer(SENTENCES["en"], frame["text"]) < 0.35

            # bad recordings answer with an error frame and the connection stays usable
            await send_recording(client, b"not audio at all" * 100, format="webm", lang="en")
            assert (await next_voice_frame(client))["code"] == "audio_corrupt"
            await send_recording(client, speech["silence.webm"].read_bytes(), format="webm", lang="en")
            assert (await next_voice_frame(client))["code"] == "audio_silent"
            await send_recording(client, b"", format="wav", lang="en")
            assert (await next_voice_frame(client))["code"] == "audio_empty"
            await client.send({"type": "ping"})
            await client.until("pong")
            # a transcript is only shown to the user: it was never sent as a message
            assert not [f for f in client.frames if f["type"] in ("user_message", "status", "delta")]
        finally:
            await client.close()


async def test_concurrent_recordings_over_websocket(settings_factory, running_server, make_token,
                                                    voice_model_dir, speech):
    settings = voice_settings(settings_factory, voice_model_dir, voice_workers=1, voice_queue_max=1)
    async with running_server(settings) as srv:
        async with httpx.AsyncClient(timeout=30) as http:
            await wait_voice_healthy(http, srv.url)
        clients = [ChatClient(srv.ws_url, make_token()) for _ in range(4)]
        for client in clients:
            await client.connect()
        data = speech["en.webm"].read_bytes()
        try:
            await asyncio.gather(*(send_recording(c, data, format="webm", lang="en") for c in clients))
            frames = await asyncio.gather(*(next_voice_frame(c) for c in clients))
            kinds = [f["type"] if f["type"] == "transcript" else f["code"] for f in frames]
            assert set(kinds) <= {"transcript", "voice_busy"}, frames
            assert "transcript" in kinds and "voice_busy" in kinds
        finally:
            for client in clients:
                await client.close()
