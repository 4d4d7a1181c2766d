"""OpenTelemetry traces: set-up from the settings and small span functions.

Tracing is off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (an OTLP/HTTP collector such as the
OpenTelemetry Collector, Jaeger, Tempo or Honeycomb). When on:

- ``Tracing.from_settings(settings)`` (no I/O) gives the hub, the turns, the conversation engine and
  the LLM client spans for a connection, a turn, a retrieval and an LLM call (OpenTelemetry GenAI
  conventions: model, token usage, time to first token). It is an async context manager: entering
  it starts the batch OTLP/HTTP export and turns on the asyncpg and Redis instrumentations (client
  spans for every query and command); leaving it flushes and stops them;
- ``setup_tracing(settings)`` does both at once for scripts and tests: a ``TracerProvider`` exporting
  and instrumenting, to pass to ``Tracing(provider)`` and stop with ``shutdown_tracing``;
- ``add_trace_ids`` is a structlog processor putting ``trace_id``/``span_id`` on every log event
  written inside a span, so logs and traces can be joined.

With tracing off every span method is a no-op (``Tracing(None)``), so callers never test for it.
The provider is passed around, not installed as the global one: several apps can share a process.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from core.logs import get_logger
from core.settings import Settings

logger = get_logger(__name__)

TRACER_NAME = "abparts.assistant"


def traces_endpoint(base: str) -> str:
    """The OTLP/HTTP traces URL for a collector base URL (``http://collector:4318`` -> ``.../v1/traces``).

    Like the OpenTelemetry environment convention, a URL already ending in ``/v1/traces`` is kept.
    """
    base = base.strip().rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def _provider(settings: Settings) -> TracerProvider:
    resource = Resource.create({
        "service.name": settings.otel_service_name,
        "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
        "deployment.environment.name": settings.env,
    })
    return TracerProvider(resource=resource)


def _exporter(settings: Settings) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=traces_endpoint(settings.otel_exporter_otlp_endpoint), timeout=5)


def _start_export(provider: TracerProvider, exporter: SpanExporter, settings: Settings) -> None:
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
    _instrument_clients(provider)
    endpoint = settings.otel_exporter_otlp_endpoint
    logger.info("tracing.enabled", endpoint=traces_endpoint(endpoint) if endpoint else "custom exporter",
                service=settings.otel_service_name)


def setup_tracing(settings: Settings, exporter: SpanExporter | None = None) -> TracerProvider | None:
    """A tracer provider that exports and instruments the clients at once; ``None`` when tracing is off.

    For scripts and tests; the app uses ``Tracing.from_settings`` and enters it in its lifespan.
    ``exporter`` replaces the OTLP exporter (any OpenTelemetry SDK exporter). Stop it with
    ``shutdown_tracing``.
    """
    if not settings.otel_exporter_otlp_endpoint and exporter is None:
        return None
    provider = _provider(settings)
    _start_export(provider, exporter or _exporter(settings), settings)
    return provider


def _instrument_clients(provider: TracerProvider) -> None:
    """Client spans for asyncpg queries and Redis commands (the libraries' own instrumentations)."""
    try:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
    except ImportError as exc:  # optional extras missing: traces still work, without DB/Redis spans
        logger.warning("tracing.instrumentation_missing", error=str(exc))
        return
    # These patch the client libraries process-wide (that is how they work): the newest provider wins,
    # and shutdown_tracing removes the patches again.
    for instrumentor in (AsyncPGInstrumentor(), RedisInstrumentor()):  # type: ignore[no-untyped-call]
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        instrumentor.instrument(tracer_provider=provider)


def _uninstrument_clients() -> None:
    try:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
    except ImportError:
        return
    for instrumentor in (AsyncPGInstrumentor(), RedisInstrumentor()):  # type: ignore[no-untyped-call]
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


def shutdown_tracing(provider: TracerProvider | None) -> None:
    """Flush pending spans and stop the exporter (the app lifespan's shutdown). ``None`` is a no-op."""
    if provider is None:
        return
    _uninstrument_clients()
    try:
        provider.force_flush(timeout_millis=5000)
    finally:
        provider.shutdown()


def add_trace_ids(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: ``trace_id`` and ``span_id`` (hex) of the current span, when there is one.

    Pass it to ``configure_logging(extra_processors=[add_trace_ids])``.
    """
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict


class LLMCall:
    """The span of one LLM request: record the first token, the usage and the outcome."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self._started = time.perf_counter()
        self._first: float | None = None

    def first_token(self) -> None:
        """Call when the first streamed token arrives (once; later calls are ignored)."""
        if self._first is None:
            self._first = time.perf_counter() - self._started
            self.span.set_attribute("gen_ai.server.time_to_first_token", self._first)
            self.span.add_event("gen_ai.first_token")

    def usage(self, input_tokens: int | None, output_tokens: int | None) -> None:
        if input_tokens is not None:
            self.span.set_attribute("gen_ai.usage.input_tokens", int(input_tokens))
        if output_tokens is not None:
            self.span.set_attribute("gen_ai.usage.output_tokens", int(output_tokens))

    def response(self, *, model: str | None = None, finish_reason: str | None = None,
                 response_id: str | None = None) -> None:
        if model:
            self.span.set_attribute("gen_ai.response.model", model)
        if finish_reason:
            self.span.set_attribute("gen_ai.response.finish_reasons", [finish_reason])
        if response_id:
            self.span.set_attribute("gen_ai.response.id", response_id)

    def retry(self, attempt: int, reason: str) -> None:
        self.span.add_event("gen_ai.retry", {"attempt": attempt, "reason": reason})


class Tracing:
    """Spans for the hub, the conversation engine and the LLM client.

    ``Tracing(provider)`` with the result of ``setup_tracing``; ``Tracing(None)`` does nothing.
    Each method is a context manager yielding the span; an exception escaping it is recorded and
    marks the span as an error. No message text is ever put on a span (personal data).
    """

    def __init__(self, provider: TracerProvider | None, *, exporter: SpanExporter | None = None,
                 settings: Settings | None = None) -> None:
        self.enabled = provider is not None
        self.provider = provider
        self.tracer: trace.Tracer = provider.get_tracer(TRACER_NAME) if provider else trace.NoOpTracer()
        self._pending_export = (exporter, settings) if exporter is not None and settings is not None else None

    @classmethod
    def from_settings(cls, settings: Settings, exporter: SpanExporter | None = None) -> Tracing:
        """Spans as OTEL_* asks: exported once entered, or none at all without an endpoint. No I/O."""
        if not settings.otel_exporter_otlp_endpoint and exporter is None:
            return cls(None)
        return cls(_provider(settings), exporter=exporter or _exporter(settings), settings=settings)

    async def __aenter__(self) -> Tracing:
        """Start exporting and instrument asyncpg and Redis (before the app opens its pools)."""
        if self.provider is not None and self._pending_export is not None:
            exporter, settings = self._pending_export
            self._pending_export = None
            _start_export(self.provider, exporter, settings)
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Flush the spans still buffered and stop the exporter."""
        shutdown_tracing(self.provider)

    @contextlib.contextmanager
    def _span(self, name: str, kind: SpanKind, attributes: dict[str, Any]) -> Iterator[Span]:
        clean = {k: v for k, v in attributes.items() if v is not None}
        with self.tracer.start_as_current_span(name, kind=kind, attributes=clean,
                                               record_exception=True, set_status_on_exception=True) as span:
            yield span

    def connection(self, *, session_id: str | None = None, user_role: str | None = None,
                   resumed: bool | None = None, protocol: int | None = None) -> contextlib.AbstractContextManager[Span]:
        """The whole life of one WebSocket connection (hub). Set ``session.id`` later with ``span.set_attribute``."""
        return self._span("ws.connection", SpanKind.SERVER, {
            "session.id": session_id, "user.role": user_role, "ws.resumed": resumed, "ws.protocol": protocol,
        })

    def turn(self, *, session_id: str, message_id: str | None = None, lang: str | None = None,
             machine_id: str | None = None) -> contextlib.AbstractContextManager[Span]:
        """One question and its answer (conversation engine)."""
        return self._span("chat.turn", SpanKind.INTERNAL, {
            "session.id": session_id, "message.id": message_id, "chat.lang": lang, "machine.id": machine_id,
        })

    def retrieval(self, *, k: int | None = None, lang: str | None = None,
                  machine_model: str | None = None) -> contextlib.AbstractContextManager[Span]:
        """A knowledge-base search. Set ``retrieval.results`` / ``retrieval.top_score`` on the span."""
        return self._span("kb.retrieval", SpanKind.INTERNAL, {
            "retrieval.k": k, "chat.lang": lang, "machine.model": machine_model,
        })

    @contextlib.contextmanager
    def llm_call(self, *, model: str, server_address: str | None = None, max_tokens: int | None = None,
                 temperature: float | None = None, provider: str = "openai") -> Iterator[LLMCall]:
        """One chat-completion request (GenAI semantic conventions); yields an ``LLMCall``.

        The span is a child of the current span but is not made current itself, so it may stay open
        across ``yield`` in an async generator (a streaming answer) without confusing the context.
        """
        attributes = {k: v for k, v in {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.system": provider,
            "gen_ai.request.model": model,
            "gen_ai.request.max_tokens": max_tokens,
            "gen_ai.request.temperature": temperature,
            "server.address": server_address,
        }.items() if v is not None}
        span = self.tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes)
        try:
            yield LLMCall(span)
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit):
                span.record_exception(exc)
                span.set_attribute("error.type", type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
            raise
        finally:
            span.end()

    @staticmethod
    def error(span: Span, code: str, message: str = "") -> None:
        """Mark a span failed without an exception (e.g. an answer that ended with status failed)."""
        span.set_attribute("error.type", code)
        span.set_status(Status(StatusCode.ERROR, message or code))
