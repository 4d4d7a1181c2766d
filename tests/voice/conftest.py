"""Fixtures for the voice tests: the assembled model, generated speech, a running Transcriber."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.observability import Metrics
from server.voice.model import ensure_model
from server.voice.transcriber import Transcriber

from .speech import FORMATS, LONG_TEXT, SENTENCES, convert, silence, speak, streamed_webm, tools_available


@pytest.fixture(scope="session")
def voice_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled Whisper base model, assembled from the installed packages (never downloaded)."""
    return ensure_model(tmp_path_factory.mktemp("models") / "whisper-base")


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated recordings: ``<lang>.webm`` and ``<lang>.wav`` for the six languages, English in every
    format (``en.<fmt>``), ``en-long.webm`` (about 37 s), ``en-streamed.webm`` (no duration header),
    ``silence.wav`` and ``silence.webm``."""
    if not tools_available():
        pytest.fail("espeak-ng and ffmpeg are required (Makefile APT_PACKAGES)")
    root = tmp_path_factory.mktemp("speech")
    clips: dict[str, Path] = {}
    for lang, text in SENTENCES.items():
        wav = speak(text, lang, root / f"{lang}.espeak.wav")
        clips[f"{lang}.wav"] = convert(wav, "wav", root / f"{lang}.wav")
        clips[f"{lang}.webm"] = convert(wav, "webm", root / f"{lang}.webm")
    for fmt in FORMATS:
        clips[f"en.{fmt}"] = convert(root / "en.espeak.wav", fmt, root / f"en.{fmt}")
    long_wav = speak(LONG_TEXT, "en", root / "en-long.wav")
    clips["en-long.webm"] = convert(long_wav, "webm", root / "en-long.webm")
    streamed = root / "en-streamed.webm"
    streamed.write_bytes(streamed_webm(root / "en.espeak.wav"))
    clips["en-streamed.webm"] = streamed
    clips["silence.wav"] = silence(root / "silence.wav", 3.0)
    clips["silence.webm"] = silence(root / "silence.webm", 3.0, "webm")
    return clips


@pytest.fixture(scope="session")
async def transcriber(voice_model_dir: Path) -> AsyncIterator[Transcriber]:
    """One shared Transcriber (1 worker, queue of 4), model loaded."""
    async with Transcriber(voice_model_dir, metrics=Metrics(), workers=1, queue_max=4) as t:
        await t.ready()
        yield t
