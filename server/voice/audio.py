"""Audio in: what formats are accepted, and decoding to 16 kHz mono under the limits (PyAV).

Decoding is done here rather than by faster-whisper so that the container is checked (only the
accepted formats), the duration limit is enforced *while* decoding (a small compressed upload can
expand to hours of samples), and damaged input gets a precise error code.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import threading
from typing import Any

import av
import numpy as np

from core.errors import BadRequest, PayloadTooLarge, UnsupportedMedia

SAMPLE_RATE = 16_000
# Declared formats (WebSocket ``format``, HTTP content type or file suffix) -> container family.
_FORMATS = {"webm": "webm", "weba": "webm", "mkv": "webm", "wav": "wav", "wave": "wav", "x-wav": "wav",
            "ogg": "ogg", "oga": "ogg", "opus": "ogg", "mp3": "mp3", "mpeg": "mp3", "mpga": "mp3",
            "m4a": "m4a", "mp4": "m4a", "x-m4a": "m4a", "aac": "m4a"}
# PyAV container names -> family; anything else (images, video-only, text) is unsupported.
_CONTAINERS = {"matroska,webm": "webm", "wav": "wav", "ogg": "ogg", "mp3": "mp3",
               "mov,mp4,m4a,3gp,3g2,mj2": "m4a"}
SILENCE_PEAK = 0.003  # about -50 dBFS: below this nothing audible was recorded


@dataclasses.dataclass(frozen=True)
class VoiceLimits:
    """What one recording may be."""

    max_bytes: int = 10_000_000
    max_seconds: float = 120.0
    min_seconds: float = 0.2


def normalize_format(fmt: str | None) -> str | None:
    """The container family for a declared format or MIME type; None = sniff it from the bytes."""
    if fmt is None or not fmt.strip():
        return None
    value = fmt.strip().lower().split(";")[0].strip()
    if value in ("application/octet-stream", "binary/octet-stream"):
        return None
    kind, _, sub = value.rpartition("/")
    if kind and kind not in ("audio", "video"):
        raise UnsupportedMedia(f"{fmt!r} is not audio", code="audio_unsupported")
    family = _FORMATS.get(sub.lstrip("."))
    if family is None:
        raise UnsupportedMedia(f"audio format {fmt!r} is not supported; send webm/opus, wav, ogg, mp3 or m4a",
                               code="audio_unsupported")
    return family


class DecodeCancelled(Exception):
    """The caller went away; the worker stops early."""


def decode(data: bytes, limits: VoiceLimits, cancelled: threading.Event | None = None) -> np.ndarray:
    """Decode ``data`` to 16 kHz mono float32, enforcing the duration limit while decoding."""
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise BadRequest("the audio could not be read (corrupt or not audio)", code="audio_corrupt") from exc
    max_samples = int(limits.max_seconds * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = bad_frames = 0
    with container:
        if _CONTAINERS.get(container.format.name) is None or not container.streams.audio:
            raise UnsupportedMedia(f"{container.format.long_name or container.format.name} is not a supported "
                                   "audio format; send webm/opus, wav, ogg, mp3 or m4a", code="audio_unsupported")
        if container.duration and container.duration / 1e6 > limits.max_seconds + 1:
            raise _too_long(limits)
        resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        frames = container.decode(audio=0)
        while True:
            if cancelled is not None and cancelled.is_set():
                raise DecodeCancelled()
            try:
                frame: Any = next(frames)
            except StopIteration:
                frame = None
            except av.error.InvalidDataError:
                bad_frames += 1  # skip a damaged packet, like ffmpeg does
                if bad_frames > 50:
                    break
                continue
            except av.error.FFmpegError as exc:
                if not chunks:
                    raise BadRequest("the audio stream could not be decoded", code="audio_corrupt") from exc
                break  # truncated upload: keep what decoded
            if frame is not None:
                frame.pts = None
            for out in resampler.resample(frame):
                array = out.to_ndarray().reshape(-1)
                total += array.size
                if total > max_samples:
                    raise _too_long(limits)
                chunks.append(array)
            if frame is None:
                break
        del resampler
    gc.collect()  # PyAV resamplers hold native buffers until collected (faster-whisper issue 390)
    if not chunks:
        if bad_frames:
            raise BadRequest("the audio stream could not be decoded", code="audio_corrupt")
        raise BadRequest("the recording contains no audio", code="audio_empty")
    return np.concatenate(chunks).astype(np.float32) / 32768.0


def _too_long(limits: VoiceLimits) -> PayloadTooLarge:
    return PayloadTooLarge(f"recordings may be at most {limits.max_seconds:g} seconds", code="audio_too_long")
