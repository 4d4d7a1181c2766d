"""Voice in the widget: Chromium's fake microphone plays generated speech; the real server transcribes it."""

from __future__ import annotations

import asyncio
import re
import wave
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from server.voice.model import ensure_model
from tests.voice.speech import SENTENCES, convert, speak, tools_available

from .conftest import CHROMIUM, CHROMIUM_ARGS
from .helpers import open_widget

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_model(tmp_path_factory.mktemp("models") / "whisper-base")


@pytest.fixture
def spoken_wav(tmp_path: Path) -> tuple[Path, float]:
    if not tools_available():
        pytest.fail("espeak-ng and ffmpeg are required (Makefile APT_PACKAGES)")
    raw = speak(SENTENCES["en"], "en", tmp_path / "en.espeak.wav")
    wav = convert(raw, "wav", tmp_path / "mic.wav")
    with wave.open(str(wav)) as w:
        return wav, w.getnframes() / w.getframerate()


async def _voice_ready(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(300):
            body = (await client.get("/health/ready")).json()
            voice = [c for name, c in body.get("components", {}).items() if "voice" in name or "whisper" in name]
            if voice and all(c["status"] == "healthy" for c in voice):
                return
            await asyncio.sleep(0.3)
    raise AssertionError(f"the transcriber never became healthy: {body}")


async def test_microphone_transcript_fills_the_input_for_editing(
        widget_settings: Any, running_server: Any, whisper_dir: Path, spoken_wav: tuple[Path, float], shot: Any) -> None:
    wav, seconds = spoken_wav
    settings = widget_settings(voice_enabled=True, whisper_cache_dir=whisper_dir, voice_workers=1)
    async with running_server(settings) as srv, async_playwright() as pw:
        await _voice_ready(srv.url)
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + [
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop"])
        try:
            ctx = await browser.new_context(viewport={"width": 1280, "height": 800}, permissions=["microphone"])
            page = await ctx.new_page()
            await open_widget(page, srv.url)
            mic = page.locator("button.mic")
            await mic.click()
            await expect(mic).to_have_attribute("aria-pressed", "true")
            await expect(page.locator(".hint")).to_contain_text("Recording")
            await page.wait_for_timeout(int(seconds * 1000) + 800)  # let the whole sentence play into the recorder
            await mic.click()
            box = page.locator("textarea")
            await expect(box).to_have_value(re.compile("pump", re.IGNORECASE), timeout=60_000)
            await expect(page.locator(".hint")).to_have_text("Check the text, edit it if needed, then send.")
            await expect(box).to_be_focused()
            await shot(page, "transcript")
            # nothing is sent until the user confirms
            assert await page.locator(".msg.user").count() == 0
        finally:
            await browser.close()
