"""POST /api/transcribe through a real uvicorn server: formats, languages, every bad input, busy path."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from .speech import SENTENCES, wer

URL = "/api/transcribe"


def voice_settings(settings_factory: Any, model_dir: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = dict(voice_enabled=True, whisper_cache_dir=str(model_dir), voice_workers=1,
                                  voice_queue_max=1, voice_cpu_threads=2)
    values.update(overrides)
    return settings_factory(**values)


async def wait_voice_healthy(http: httpx.AsyncClient, base: str) -> dict[str, Any]:
    """Poll /health/ready until the voice component has loaded its model (pytest-timeout guards a hang)."""
    while True:
        body = (await http.get(base + "/health/ready")).json()
        voice = body["components"]["voice"]
        if voice["status"] == "healthy":
            return voice
        assert voice["status"] == "degraded", voice  # loading
        await asyncio.sleep(0.2)


def error_code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_transcribe_endpoint(settings_factory, running_server, make_token, voice_model_dir, speech):
    settings = voice_settings(settings_factory, voice_model_dir, voice_max_bytes=400_000, voice_max_seconds=20.0)
    async with running_server(settings) as srv, httpx.AsyncClient(timeout=60) as http:
        base = srv.url
        voice = await wait_voice_healthy(http, base)
        assert voice["critical"] is False
        auth = {"Authorization": f"Bearer {make_token(lang='es')}"}

        # raw body, as a browser's MediaRecorder produces it
        r = await http.post(base + URL, params={"lang": "en"}, content=speech["en.webm"].read_bytes(),
                            headers={**auth, "Content-Type": "audio/webm;codecs=opus"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"text", "language", "duration"}
        assert body["language"] == "en" and 5 < body["duration"] < 8
        assert wer(SENTENCES["en"], body["text"]) < 0.35, body["text"]

        # multipart field "file"; the format comes from the file name
        r = await http.post(base + URL + "?lang=en", headers=auth,
                            files={"file": ("note.ogg", speech["en.ogg"].read_bytes(), "application/octet-stream")})
        assert r.status_code == 200, r.text
        assert wer(SENTENCES["en"], r.json()["text"]) < 0.35

        # no lang: the user's profile language (es in the token); lang=auto: detection among the six
        r = await http.post(base + URL, headers={**auth, "Content-Type": "audio/webm"},
                            content=speech["es.webm"].read_bytes())
        assert r.status_code == 200 and r.json()["language"] == "es"
        r = await http.post(base + URL + "?lang=auto", headers={**auth, "Content-Type": "audio/mpeg"},
                            content=speech["en.mp3"].read_bytes())
        assert r.status_code == 200 and r.json()["language"] == "en"

        # authentication
        r = await http.post(base + URL, content=speech["en.webm"].read_bytes())
        assert error_code(r) == (401, "token_missing")

        # every bad input
        webm = {**auth, "Content-Type": "audio/webm"}
        assert error_code(await http.post(base + URL, headers=webm, content=b"")) == (400, "audio_empty")
        assert error_code(await http.post(base + URL, headers=webm, content=b"garbage" * 500)) == (400, "audio_corrupt")
        assert error_code(await http.post(base + URL, headers={**auth, "Content-Type": "text/plain"},
                                          content=b"hello")) == (415, "audio_unsupported")
        assert error_code(await http.post(base + URL, headers={**auth, "Content-Type": "audio/flac"},
                                          content=b"fLaC")) == (415, "audio_unsupported")
        assert error_code(await http.post(base + URL, headers={**auth, "Content-Type": "audio/wav"},
                                          content=speech["silence.wav"].read_bytes())) == (400, "audio_silent")
        assert error_code(await http.post(base + URL + "?lang=fr", headers=webm,
                                          content=speech["en.webm"].read_bytes())) == (400, "language_unsupported")
        assert error_code(await http.post(base + URL, headers={**auth, "Content-Type": "audio/wav"},
                                          content=speech["en.wav"].read_bytes())) == (413, "audio_too_large")
        assert error_code(await http.post(base + URL, headers=webm,
                                          content=speech["en-long.webm"].read_bytes())) == (413, "audio_too_long")
        r = await http.post(base + URL, headers=auth, files={"other": ("x.webm", b"abc", "audio/webm")})
        assert error_code(r) == (400, "file_missing")
        r = await http.post(base + URL, headers={**auth, "Content-Type": "multipart/form-data; boundary=zz"},
                            content=b"--zz\r\nbroken")
        assert r.status_code == 400

        metrics = (await http.get(base + "/metrics")).text
        assert 'abparts_voice_transcriptions_total{outcome="ok"} 4.0' in metrics
        assert 'abparts_voice_failures_total{code="audio_silent"} 1.0' in metrics
        assert 'abparts_voice_failures_total{code="audio_too_large"} 1.0' in metrics
        assert 'abparts_voice_failures_total{code="audio_unsupported"} 2.0' in metrics
        assert "abparts_voice_real_time_factor_count 4.0" in metrics


async def test_concurrent_uploads_get_busy_not_stuck(settings_factory, running_server, make_token,
                                                     voice_model_dir, speech):
    settings = voice_settings(settings_factory, voice_model_dir, voice_workers=1, voice_queue_max=1)
    async with running_server(settings) as srv, httpx.AsyncClient(timeout=120) as http:
        await wait_voice_healthy(http, srv.url)
        headers = {"Authorization": f"Bearer {make_token()}", "Content-Type": "audio/webm"}
        data = speech["en.webm"].read_bytes()  # four arrive within milliseconds; each takes a second or more

        async def upload() -> httpx.Response:
            return await http.post(srv.url + URL + "?lang=en", headers=headers, content=data)

        responses = await asyncio.gather(*(upload() for _ in range(4)))
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {200, 503}, [r.text for r in responses]
        assert statuses.count(200) >= 1 and statuses.count(503) >= 1
        assert all(r.json()["error"]["code"] == "voice_busy" for r in responses if r.status_code == 503)
        # the service is not stuck: the next upload is served
        assert (await upload()).status_code == 200


async def test_voice_disabled(settings_factory, running_server, make_token, speech):
    async with running_server(settings_factory(voice_enabled=False)) as srv, httpx.AsyncClient(timeout=30) as http:
        r = await http.post(srv.url + URL, content=speech["en.webm"].read_bytes(),
                            headers={"Authorization": f"Bearer {make_token()}", "Content-Type": "audio/webm"})
        assert error_code(r) == (503, "voice_unavailable")
        assert "voice" not in (await http.get(srv.url + "/health/ready")).json()["components"]
