"""server/voice/audio.py: which formats are accepted, and decoding under the limits, on small WAVs made in memory."""

from __future__ import annotations

import io
import threading
import wave

import numpy as np
import pytest

from core.errors import BadRequest, PayloadTooLarge, UnsupportedMedia
from server.voice.audio import SAMPLE_RATE, DecodeCancelled, VoiceLimits, decode, normalize_format


def wav(seconds: float, *, rate: int = 8000, channels: int = 1, amplitude: float = 0.3) -> bytes:
    """A 440 Hz tone as 16-bit PCM WAV."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (amplitude * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(samples, channels).tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize(("declared", "family"), [
    ("audio/webm;codecs=opus", "webm"), ("audio/webm", "webm"), ("webm", "webm"), ("video/webm", "webm"),
    ("audio/wav", "wav"), ("audio/x-wav", "wav"), ("WAV", "wav"), (".wav", "wav"),
    ("audio/ogg", "ogg"), ("opus", "ogg"), ("audio/mpeg", "mp3"), (".mp3", "mp3"),
    ("audio/mp4", "m4a"), ("m4a", "m4a"), ("audio/aac", "m4a"),
])
def test_declared_formats_map_to_a_container_family(declared: str, family: str) -> None:
    assert normalize_format(declared) == family


@pytest.mark.parametrize("declared", [None, "", "   ", "application/octet-stream", "binary/octet-stream"])
def test_undeclared_formats_are_sniffed(declared: str | None) -> None:
    assert normalize_format(declared) is None


@pytest.mark.parametrize("declared", ["image/png", "text/plain", "application/pdf", "audio/flac", "midi"])
def test_other_formats_are_refused(declared: str) -> None:
    with pytest.raises(UnsupportedMedia) as caught:
        normalize_format(declared)
    assert (caught.value.status, caught.value.code) == (415, "audio_unsupported")


def test_decodes_to_16_khz_mono_float() -> None:
    samples = decode(wav(1.0), VoiceLimits())
    assert samples.dtype == np.float32
    assert abs(samples.size - SAMPLE_RATE) <= 160  # one second, give or take the resampler's edge
    assert 0.25 < float(np.max(np.abs(samples))) < 0.35  # the tone's amplitude survives


def test_stereo_at_another_rate_is_downmixed_and_resampled() -> None:
    samples = decode(wav(0.5, rate=44_100, channels=2), VoiceLimits())
    assert samples.ndim == 1
    assert abs(samples.size - SAMPLE_RATE // 2) <= 160


def test_a_declared_duration_over_the_limit_is_refused() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        decode(wav(3.0), VoiceLimits(max_seconds=1.0))
    assert (caught.value.status, caught.value.code) == (413, "audio_too_long")


def test_the_limit_holds_while_decoding() -> None:
    # 1.5 s is within the header check's one-second grace: only the running sample count catches it
    with pytest.raises(PayloadTooLarge, match="at most 1 seconds"):
        decode(wav(1.5), VoiceLimits(max_seconds=1.0))
    assert decode(wav(0.9), VoiceLimits(max_seconds=1.0)).size > 0


@pytest.mark.parametrize(("data", "code"), [
    (b"", "audio_corrupt"),
    (b"this is not audio at all " * 20, "audio_corrupt"),
    (wav(0.0), "audio_empty"),
], ids=["no bytes", "text", "no samples"])
def test_unreadable_or_empty_input_is_a_bad_request(data: bytes, code: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode(data, VoiceLimits())
    assert (caught.value.status, caught.value.code) == (400, code)


def test_a_readable_file_that_is_not_audio_is_unsupported() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    with pytest.raises(UnsupportedMedia) as caught:
        decode(png, VoiceLimits())
    assert caught.value.code == "audio_unsupported"


def test_a_cancelled_decode_stops() -> None:
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(DecodeCancelled):
        decode(wav(1.0), VoiceLimits(), cancelled)
