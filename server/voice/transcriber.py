"""Speech transcription: faster-whisper (int8, CPU) behind a bounded worker pool.

One :class:`Transcriber` per process. ``transcribe()`` is a coroutine; decoding (PyAV) and the model
run in a small thread pool, so the event loop keeps serving chats while speech is processed
(CTranslate2 and PyAV release the GIL). Admission is counted: ``workers`` run and at most
``queue_max`` wait; one more is refused at once with ``BusyError("voice_busy")`` instead of queueing
without bound, which under a burst of uploads would exhaust memory and stall everything.

The model loads in the background when the context is entered: startup is not delayed by the one to
two seconds it takes, the first user does not pay for it, and a broken model shows in ``/health``
right away rather than at the first microphone press. A request arriving while it loads waits for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import AppError, BadRequest, BusyError, PayloadTooLarge
from core.health import ComponentHealth, Status
from core.languages import LANGUAGES
from core.logs import get_logger
from core.settings import Settings
from server.observability import Metrics
from server.voice.audio import (
    SAMPLE_RATE,
    SILENCE_PEAK,
    DecodeCancelled,
    VoiceLimits,
    decode,
    normalize_format,
)
from server.voice.model import ModelError, resolve_model
from server.voice.text import correct_codes

logger = get_logger("server.voice")

# The six languages of the service are Whisper codes too (Whisper writes Norwegian as "no").
_LANGUAGE_ALIASES = {"nb": "no", "nn": "no", "nob": "no", "nno": "no", "gr": "el", "ell": "el", "ara": "ar",
                     "eng": "en", "spa": "es", "tur": "tr", "nor": "no"}
# During detection these fold into Norwegian: Whisper base often hears Norwegian as Nynorsk or Danish.
_DETECTION_FOLD = {"nn": "no", "da": "no"}


@dataclasses.dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    duration: float  # seconds of audio received

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "language": self.language, "duration": round(self.duration, 2)}


def normalize_language(lang: str | None) -> str | None:
    """A supported Whisper language code for ``lang`` (``en-GB`` -> ``en``, ``nb`` -> ``no``); None = detect."""
    if lang is None or not lang.strip() or lang.strip().lower() == "auto":
        return None
    base = lang.strip().lower().replace("_", "-").split("-")[0]
    code = _LANGUAGE_ALIASES.get(base, base)
    if code not in LANGUAGES:
        raise BadRequest(f"language {lang!r} is not supported; use one of {', '.join(LANGUAGES)}",
                         code="language_unsupported")
    return code


@dataclasses.dataclass(eq=False)
class _Job:
    cancelled: threading.Event = dataclasses.field(default_factory=threading.Event)
    started: float = 0.0
    decoded: float = 0.0
    submitted: bool = False


class Transcriber:
    """Transcribes recordings in the six languages; an async context manager owning the worker pool."""

    def __init__(
        self,
        model_path: Path | Callable[[], Path],
        *,
        metrics: Metrics,
        workers: int = 1,
        queue_max: int = 4,
        limits: VoiceLimits | None = None,
        cpu_threads: int = 2,
        beam_size: int = 5,
    ) -> None:
        """``model_path`` is a CTranslate2 Whisper directory, or a callable returning one (run in a worker,
        so assembling the bundled model does not block the loop)."""
        if workers < 1 or queue_max < 0:
            raise ValueError("workers must be >= 1 and queue_max >= 0")
        self._model_source = model_path
        self.metrics = metrics
        self.workers, self.queue_max = workers, queue_max
        self.limits = limits or VoiceLimits()
        self._cpu_threads, self._beam_size = cpu_threads, beam_size
        self._model: Any = None
        self._model_dir: Path | None = None
        self._load_error: str = ""
        self._loading: asyncio.Future[None] | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._admitted = 0
        self._jobs: set[_Job] = set()

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics) -> Transcriber:
        """Build from :class:`server.settings.Settings` (WHISPER_MODEL, WHISPER_CACHE_DIR, VOICE_*)."""
        return cls(
            lambda: resolve_model(settings.whisper_model, settings.whisper_cache_path),
            metrics=metrics, workers=settings.voice_workers, queue_max=settings.voice_queue_max,
            limits=VoiceLimits(max_bytes=settings.voice_max_bytes, max_seconds=settings.voice_max_seconds),
            cpu_threads=settings.voice_cpu_threads,
        )

    # -- lifecycle
    async def __aenter__(self) -> Transcriber:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="voice")
        self._loading = asyncio.get_running_loop().run_in_executor(self._pool, self._load)
        # A failure is logged, counted and shown by health(); retrieve it so asyncio does not warn too.
        self._loading.add_done_callback(lambda f: f.cancelled() or f.exception())
        return self

    async def start(self) -> None:
        """Start the worker pool and begin loading the model in the background (the app lifespan calls this)."""
        await self.__aenter__()

    async def aclose(self) -> None:
        """Stop: running transcriptions stop at their next segment, queued ones are dropped."""
        await self.__aexit__(None, None, None)

    async def __aexit__(self, *exc: object) -> None:
        with self._lock:
            for job in self._jobs:
                job.cancelled.set()
        if self._pool is not None:
            await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
        self._pool, self._model = None, None

    def _load(self) -> None:
        from faster_whisper import WhisperModel  # heavy import (onnxruntime, ctranslate2): only when used

        started = time.perf_counter()
        try:
            source = self._model_source
            path = source() if callable(source) else Path(source)
            self._model = WhisperModel(str(path), device="cpu", compute_type="int8",
                                       cpu_threads=self._cpu_threads, num_workers=self.workers)
            self._model_dir = path
        except Exception as exc:  # any loader failure becomes the component's reported state
            self._load_error = exc.message if isinstance(exc, AppError) else type(exc).__name__
            self.metrics.degraded.labels(component="voice").inc()
            logger.error("voice.model_failed", error=self._load_error, detail=str(exc)[:300])
            raise ModelError(f"speech model unavailable: {self._load_error}") from exc
        logger.info("voice.model_loaded", path=str(path), seconds=round(time.perf_counter() - started, 2))

    async def ready(self) -> None:
        """Wait until the model is loaded; raise ModelError if it cannot be."""
        if self._loading is None:
            raise ModelError("the transcriber is not started", code="voice_unavailable")
        try:
            await asyncio.shield(self._loading)
        except ModelError as exc:  # the cause (paths, settings) is in the log and /health, not for clients
            raise ModelError("speech recognition is unavailable on this server") from exc

    # -- the work
    @property
    def queue_depth(self) -> int:
        """Transcriptions admitted: running or waiting."""
        return self._admitted

    async def transcribe(
        self,
        audio: bytes,
        *,
        lang: str | None,
        fmt: str | None = None,
        on_partial: Callable[[Transcript], None] | None = None,
    ) -> Transcript:
        """Transcribe one recording.

        ``lang``: the speaker's language (one of :data:`LANGUAGES`, aliases such as ``nb`` accepted);
        None or ``auto`` detects it among the six. ``fmt``: the declared container or MIME type, or
        None to sniff. ``on_partial`` is called on the event loop with the text so far after each
        segment of a long recording. Raises BadRequest / UnsupportedMedia / PayloadTooLarge for bad
        audio, BusyError ``voice_busy`` when the pool and its queue are full, ModelError when the
        model cannot be loaded.
        """
        outcome = "failed"
        try:
            language = normalize_language(lang)
            normalize_format(fmt)  # a declared format outside the supported set is refused before decoding
            if not audio:
                raise BadRequest("the recording is empty", code="audio_empty")
            if len(audio) > self.limits.max_bytes:
                raise PayloadTooLarge(f"recordings may be at most {self.limits.max_bytes} bytes",
                                      code="audio_too_large")
            job = self._admit()
            try:
                await self.ready()
                result = await self._run(job, audio, language, on_partial)
            finally:
                job.cancelled.set()  # a caller cancelled mid-run: the worker stops at the next segment
                if not job.submitted:
                    self._release(job)
            outcome = "ok"
            return result
        except BusyError:
            outcome = "busy"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except AppError as exc:
            outcome = "rejected" if exc.status < 500 else "failed"
            self.metrics.voice_failures.labels(code=exc.code).inc()
            logger.info("voice.rejected", code=exc.code, bytes=len(audio))
            raise
        finally:
            self.metrics.transcriptions.labels(outcome=outcome).inc()

    def count_rejection(self, exc: AppError) -> None:
        """Count a recording refused before it reached :meth:`transcribe` (an oversized HTTP body)."""
        self.metrics.voice_failures.labels(code=exc.code).inc()
        self.metrics.transcriptions.labels(outcome="rejected").inc()

    def _admit(self) -> _Job:
        with self._lock:
            if self._admitted >= self.workers + self.queue_max:
                logger.warning("voice.busy", admitted=self._admitted)
                raise BusyError("speech recognition is busy; try again in a moment", code="voice_busy")
            self._admitted += 1
            job = _Job()
            self._jobs.add(job)
            self.metrics.voice_queue.set(self._admitted)
        return job

    def _release(self, job: _Job) -> None:
        with self._lock:
            self._admitted -= 1
            self._jobs.discard(job)
            self.metrics.voice_queue.set(self._admitted)

    async def _run(self, job: _Job, audio: bytes, language: str | None,
                   on_partial: Callable[[Transcript], None] | None) -> Transcript:
        loop = asyncio.get_running_loop()
        partial = None
        if on_partial is not None:
            def partial(t: Transcript) -> None:
                loop.call_soon_threadsafe(on_partial, t)
        try:
            if self._pool is None:
                raise RuntimeError("no pool")
            future = self._pool.submit(self._work, job, audio, language, partial)
        except RuntimeError as exc:  # stopped meanwhile
            raise ModelError("the transcriber is stopped", code="voice_unavailable") from exc
        job.submitted = True
        # Released when the thread is done (or the queued job is cancelled), not when the caller
        # stops waiting: an abandoned transcription still occupies its worker until it notices.
        future.add_done_callback(lambda _f: self._release(job))
        try:
            transcript = await asyncio.wrap_future(future)
        except DecodeCancelled as exc:  # the service is stopping
            raise ModelError("speech recognition stopped", code="voice_unavailable") from exc
        processing = time.perf_counter() - job.started
        self.metrics.audio_seconds.inc(transcript.duration)
        if transcript.duration > 0:
            self.metrics.voice_rtf.observe(processing / transcript.duration)
        logger.info("voice.transcribed", language=transcript.language, duration=round(transcript.duration, 2),
                    seconds=round(processing, 3), decode_seconds=round(job.decoded - job.started, 3),
                    chars=len(transcript.text))
        return transcript

    def _work(self, job: _Job, audio: bytes, language: str | None,
              partial: Callable[[Transcript], None] | None) -> Transcript:
        """Runs in a worker thread; foreign errors become AppError here, at the boundary."""
        try:
            return self._transcribe_sync(job, audio, language, partial)
        except (AppError, DecodeCancelled):
            raise
        except Exception as exc:
            logger.error("voice.failed", error=f"{type(exc).__name__}: {exc}")
            raise AppError("speech recognition failed", code="transcription_failed") from exc

    def _transcribe_sync(self, job: _Job, audio: bytes, language: str | None,
                         partial: Callable[[Transcript], None] | None) -> Transcript:
        """Decode, check, (detect), transcribe segment by segment."""
        job.started = time.perf_counter()
        samples = decode(audio, self.limits, job.cancelled)
        job.decoded = time.perf_counter()
        duration = samples.size / SAMPLE_RATE
        if duration < self.limits.min_seconds:
            raise BadRequest("the recording is too short", code="audio_empty")
        if float(np.max(np.abs(samples))) < SILENCE_PEAK:
            raise BadRequest("the recording is silent", code="audio_silent")
        if language is None:
            language = self._detect(samples)
        # No conditioning on the previous window: with temperature fallback off, it is what lets
        # Whisper loop on a repeated phrase; recordings here are short and need no cross-window context.
        segments, _info = self._model.transcribe(
            samples, language=language, task="transcribe", beam_size=self._beam_size,
            temperature=0.0, vad_filter=True, condition_on_previous_text=False,
        )
        texts: list[str] = []
        for segment in segments:  # a generator: each step decodes one 30 s window
            if job.cancelled.is_set():
                raise DecodeCancelled()
            texts.append(segment.text.strip())
            if partial is not None:
                partial(Transcript(correct_codes(" ".join(texts), language), language, duration))
        text = correct_codes(" ".join(t for t in texts if t), language)
        if not text:
            raise BadRequest("no speech was recognised in the recording", code="audio_silent")
        return Transcript(text, language, duration)

    def _detect(self, samples: np.ndarray) -> str:
        """The most probable of the six languages (Whisper's own detection ranks all 99)."""
        _lang, _prob, ranked = self._model.detect_language(samples, vad_filter=True)
        scores: dict[str, float] = {}
        for code, prob in ranked:
            code = _DETECTION_FOLD.get(code, code)
            if code in LANGUAGES:
                scores[code] = scores.get(code, 0.0) + prob
        return max(scores, key=lambda c: scores[c]) if scores else "en"

    # -- health
    async def health(self) -> ComponentHealth:
        """``healthy`` when loaded with capacity; ``degraded`` while loading or saturated; ``unhealthy``
        (not critical: chat works without voice) when the model failed to load or the pool is stopped."""
        started = time.perf_counter()
        capacity = self.workers + self.queue_max
        if self._loading is None or self._pool is None:
            status, detail = Status.UNHEALTHY, "not started"
        elif not self._loading.done():
            status, detail = Status.DEGRADED, "loading the speech model"
        elif self._loading.cancelled() or self._loading.exception() is not None:
            status, detail = Status.UNHEALTHY, f"speech model unavailable: {self._load_error}"
        elif self._admitted >= capacity:
            status, detail = Status.DEGRADED, f"saturated: {self._admitted}/{capacity} admitted"
        else:
            status, detail = Status.HEALTHY, f"{self._admitted}/{capacity} admitted, model {self._model_dir}"
        return ComponentHealth("voice", status, (time.perf_counter() - started) * 1000, detail, critical=False)
