"""Speech over the socket: a recording arrives as ``audio_start``, binary frames and ``audio_end``;
its transcript goes back as ``transcript`` frames (partial ones, then the final one) for the user to
check and send. A transcript is never sent as a message on its own."""

from __future__ import annotations

import time
from collections.abc import Callable

from core.errors import AppError, DependencyUnavailable
from server import protocol
from server.protocol import ConnectionFrame, ProtocolError
from server.voice.transcriber import Transcriber, Transcript


class Recording:
    """The recording one connection is sending, if any."""

    def __init__(self) -> None:
        self.audio: bytearray | None = None
        self.start: protocol.AudioStart | None = None
        self.dropped = False  # the rest of a too-large recording is ignored quietly
        self.started = 0.0  # time.monotonic() of its audio_start: which recording an idle watch belongs to
        self.last_audio = 0.0  # time.monotonic() of its latest audio (AUDIO_IDLE_SECONDS counts from here)


class Dictation:
    """Collects recordings within the size limit and transcribes them."""

    def __init__(self, transcriber: Transcriber | None, *, default_max_bytes: int) -> None:
        self._transcriber = transcriber
        configured = transcriber.limits.max_bytes if transcriber is not None else 0
        self.max_bytes = configured or default_max_bytes

    def begin(self, recording: Recording, frame: protocol.AudioStart) -> None:
        if self._transcriber is None:
            raise DependencyUnavailable("voice", "speech transcription is not available on this server")
        recording.audio = bytearray()
        recording.started = recording.last_audio = time.monotonic()
        recording.start = frame
        recording.dropped = False

    @staticmethod
    def cancel(recording: Recording) -> None:
        recording.audio = None

    def add(self, recording: Recording, data: bytes) -> protocol.Error | None:
        """Append one binary frame; the error to send the client when it does not fit (or no recording
        was started), else None."""
        if recording.audio is None:
            if recording.dropped:
                return None
            return protocol.Error("audio_not_started", "send audio_start before audio bytes")
        if len(recording.audio) + len(data) > self.max_bytes:
            recording.audio = None
            recording.start = None
            recording.dropped = True
            return protocol.Error("audio_too_large", f"recordings are limited to {self.max_bytes} bytes")
        recording.audio.extend(data)
        recording.last_audio = time.monotonic()
        return None

    @staticmethod
    def finish(recording: Recording) -> tuple[bytes, protocol.AudioStart] | None:
        """The complete recording at ``audio_end``; None after a dropped (too large) one."""
        if recording.audio is None:
            if recording.dropped:
                recording.dropped = False
                return None
            raise ProtocolError("audio_end without audio_start", code="audio_not_started")
        audio, start = bytes(recording.audio), recording.start
        recording.audio = None
        recording.start = None
        assert start is not None
        return audio, start

    async def transcribe(self, audio: bytes, *, lang: str | None, fmt: str | None,
                         send: Callable[[ConnectionFrame], None]) -> None:
        """Transcribe, sending partial transcripts as they come and the final one (or the error) last."""
        assert self._transcriber is not None

        def partial(t: Transcript) -> None:
            send(protocol.Transcript(True, t.text, t.language, round(t.duration, 2)))

        try:
            result = await self._transcriber.transcribe(audio, lang=lang, fmt=fmt, on_partial=partial)
        except AppError as exc:
            send(protocol.Error(exc.code, exc.message))
            return
        send(protocol.Transcript(False, result.text, result.language, round(result.duration, 2)))
