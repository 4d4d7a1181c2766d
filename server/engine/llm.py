"""The language model: an OpenAI-compatible streaming client with retries, fallback and cancel.

``OpenAIChat.stream(messages)`` yields ``TextChunk``s and finally one ``Finished`` with the usage.
Before the first token it retries 429/5xx/time-outs with exponential backoff and full jitter, then
moves to the fallback model; after the first token a failure ends the stream with an
``UpstreamError(code="llm_interrupted")`` (the caller keeps the partial answer). Closing the
generator (the user cancelled) closes the HTTP response, which stops the generation upstream.

Three clocks bound a call, so a misbehaving provider (a 429 storm, a request that never answers, a
stream that stalls without closing) can never hold a turn: LLM_TIMEOUT_SECONDS for the first token of
one attempt, LLM_INTER_TOKEN_TIMEOUT_SECONDS between tokens, and LLM_ANSWER_DEADLINE_SECONDS for the
whole call (attempts, backoff, fallback and stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import httpx2
import openai

from core.errors import DependencyUnavailable, UpstreamError
from core.health import ComponentHealth, Status
from core.logs import get_logger
from core.settings import Settings
from server.engine.sse import StreamError, chunk_text, chunk_usage, completion_chunks
from server.observability import Metrics
from server.tracing import Tracing

log = get_logger("server.llm")


# HTTP transport errors of the openai client (it runs on its own httpx fork, httpx2)
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx.HTTPError, httpx2.HTTPError)
_OPEN_ERRORS: tuple[type[BaseException], ...] = (openai.OpenAIError, *_TRANSPORT_ERRORS)
_RELAY_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, StreamError, openai.OpenAIError, *_TRANSPORT_ERRORS)


@dataclasses.dataclass(frozen=True)
class TextChunk:
    text: str


@dataclasses.dataclass(frozen=True)
class Finished:
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    usage_estimated: bool
    fallback_used: bool
    provider_ttft: float | None


StreamItem = TextChunk | Finished

_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class _ConnectErrors(httpx2.AsyncBaseTransport):
    """The SDK's aiohttp transport, with a refused or unreachable provider reported as what it is.

    That transport maps every ``aiohttp.ClientConnectionError`` to a *connect time-out*, so a provider
    that refuses the connection, or whose name does not resolve, came out as ``APITimeoutError``
    (counted as ``llm_errors{kind="timeout"}``, shown as such in ``/health``); here it is a
    ``ConnectError`` again (``APIConnectionError``, ``kind="connection"``), as with httpx. A real
    connect time-out stays one."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def handle_async_request(self, request: Any) -> Any:
        try:
            return await self._inner.handle_async_request(request)
        except httpx2.ConnectTimeout as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ClientConnectorError) and not isinstance(cause, TimeoutError):
                raise httpx2.ConnectError(str(exc), request=request) from cause
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


class _AioHttpClient(openai.DefaultAioHttpClient):
    """``openai.DefaultAioHttpClient`` whose transports (direct and through a proxy) report errors as above."""

    def _init_transport(self, *args: Any, **kwargs: Any) -> Any:
        return _ConnectErrors(super()._init_transport(*args, **kwargs))

    def _init_proxy_transport(self, *args: Any, **kwargs: Any) -> Any:
        return _ConnectErrors(super()._init_proxy_transport(*args, **kwargs))


def http_client(kind: str, limits: Any) -> Any:
    """The HTTP client under the ``openai`` client (``LLM_HTTP_CLIENT``).

    ``aiohttp``: the SDK's own aiohttp transport (``openai[aiohttp]``), whose C parser reads a streamed
    answer for about half the CPU per token of the default pure-Python transport (h11 over anyio):
    on a replica streaming many answers at once, reading the provider's streams was the largest
    share of its event loop (docs/performance.md). ``httpx``: that default transport. Both keep the
    SDK's request building, status errors, time-outs (the read time-out is the wait between two
    reads with either) and the proxies set in the environment (``HTTP_PROXY``, ``HTTPS_PROXY``,
    ``NO_PROXY``)."""
    if kind == "aiohttp":
        return _AioHttpClient(limits=limits)
    if kind == "httpx":
        return openai.DefaultAsyncHttpxClient(limits=limits)
    raise ValueError(f"unknown LLM_HTTP_CLIENT {kind!r} (aiohttp or httpx)")


class OpenAIChat:
    """Streams chat completions from any OpenAI-compatible provider."""

    def __init__(self, settings: Settings, metrics: Metrics, client: openai.AsyncOpenAI | None = None, *,
                 tracing: Tracing | None = None) -> None:
        self._s = settings
        self._m = metrics
        # the transport's read time-out bounds every wait for bytes: for the headers and the first token
        # (the attempt's own clock, below, is LLM_TIMEOUT_SECONDS) and for each next token. Where it is
        # the inter-token time-out, a stalled stream is caught by the read the HTTP client times anyway,
        # and a token costs no timer of its own (see _relay)
        self._read_timeout = max(settings.llm_timeout_seconds, settings.llm_inter_token_timeout_seconds)
        # a client passed in keeps its own time-outs: then every token is timed here
        self._reads_bounded = client is None and self._read_timeout <= settings.llm_inter_token_timeout_seconds
        limits = openai.DEFAULT_CONNECTION_LIMITS
        self.client = client or openai.AsyncOpenAI(
            api_key=settings.openai_api_key or "not-needed",
            base_url=settings.openai_base_url or None,
            max_retries=0,  # retries are ours: with jitter, metrics and the fallback model
            timeout=openai.Timeout(self._read_timeout, connect=settings.llm_connect_timeout_seconds),
            # every concurrent answer keeps its connection for the next: with the SDK's default of 100 idle
            # connections, the answers beyond the hundredth each opened a new one (a TLS handshake to a
            # hosted provider) and closed it after the answer
            http_client=http_client(settings.llm_http_client, type(limits)(
                max_connections=limits.max_connections, max_keepalive_connections=limits.max_connections,
                keepalive_expiry=limits.keepalive_expiry)),
        )
        self.models = [m for m in (settings.openai_model, settings.openai_fallback_model) if m]
        self.tracing = tracing or Tracing(None)
        self._recent: list[bool] = []  # last outcomes, for health
        self._last_error = ""

    async def aclose(self) -> None:
        await self.client.close()

    def _note(self, ok: bool, error: str = "") -> None:
        self._recent = (self._recent + [ok])[-10:]
        if error:
            self._last_error = error

    async def health(self) -> ComponentHealth:
        if not self.models:
            return ComponentHealth("llm", Status.DEGRADED, None, "no model configured: retrieval-only answers", critical=False)
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self.client.models.list(), timeout=3)
        except Exception as exc:  # reported as the component's status
            self._note(False, type(exc).__name__)
            return ComponentHealth("llm", Status.UNHEALTHY, (time.perf_counter() - started) * 1000,
                                   type(exc).__name__, critical=False)
        latency = (time.perf_counter() - started) * 1000
        failures = self._recent.count(False)
        if failures >= 3 or (self._recent and not self._recent[-1]):
            return ComponentHealth("llm", Status.DEGRADED, latency, f"{failures} of the last {len(self._recent)} calls failed: {self._last_error}", critical=False)
        return ComponentHealth("llm", Status.HEALTHY, latency, "", critical=False)

    async def stream(self, messages: list[dict[str, str]], *, max_tokens: int | None = None,
                     response_format: dict[str, Any] | None = None) -> AsyncIterator[StreamItem]:
        if not self.models:
            raise UpstreamError("no language model is configured", code="llm_not_configured")
        errors: list[str] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._s.llm_answer_deadline_seconds
        for index, model in enumerate(self.models):
            if deadline - loop.time() <= 0.05:
                break  # the answer's time is spent: no fallback attempt can start
            if index > 0:
                self._m.llm_fallbacks.inc()
                log.warning("llm.fallback", model=model, after=errors[-1] if errors else "")
            for attempt in range(self._s.llm_max_retries + 1):
                if attempt > 0:
                    self._m.llm_retries.labels(model).inc()
                    delay = random.uniform(0, self._s.llm_backoff_seconds * (2 ** (attempt - 1)))
                    await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
                if deadline - loop.time() <= 0.05:
                    errors.append(f"{model}: no answer within {self._s.llm_answer_deadline_seconds:g} s")
                    self._m.llm_errors.labels(model, "deadline").inc()
                    log.warning("llm.deadline", model=model, attempt=attempt)
                    break
                with self.tracing.llm_call(model=model, server_address=self.client.base_url.host,
                                           max_tokens=max_tokens or self._s.llm_max_tokens,
                                           temperature=self._s.llm_temperature) as call:
                    try:
                        opened = await self._open(model, messages, max_tokens, response_format,
                                                  min(self._s.llm_timeout_seconds, deadline - loop.time()))
                    except _Retryable as exc:
                        errors.append(f"{model}: {exc}")
                        self._m.llm_errors.labels(model, exc.kind).inc()
                        self._note(False, exc.kind)
                        log.warning("llm.attempt_failed", model=model, attempt=attempt, kind=exc.kind)
                        Tracing.error(call.span, exc.kind)
                        continue
                    except _Fatal as exc:
                        errors.append(f"{model}: {exc}")
                        self._m.llm_errors.labels(model, exc.kind).inc()
                        self._note(False, exc.kind)
                        log.warning("llm.model_failed", model=model, kind=exc.kind)
                        Tracing.error(call.span, exc.kind)
                        break
                    call.first_token()
                    async with contextlib.aclosing(self._relay(model, opened, fallback_used=index > 0,  # type: ignore[type-var]
                                                               deadline=deadline)) as relay:
                        async for item in relay:
                            if isinstance(item, Finished):
                                call.usage(item.prompt_tokens, item.completion_tokens)
                            yield item
                    return
        self._m.llm_calls.labels("all", "unavailable").inc()
        raise DependencyUnavailable("llm", "the language model is unavailable: " + "; ".join(errors[-3:]))

    async def _open(self, model: str, messages: list[dict[str, str]], max_tokens: int | None,
                    response_format: dict[str, Any] | None, first_token_timeout: float) -> _Opened:
        started = time.perf_counter()
        kwargs: dict[str, Any] = {
            "model": model, "messages": messages, "stream": True,
            "temperature": self._s.llm_temperature, "max_tokens": max_tokens or self._s.llm_max_tokens,
            "stream_options": {"include_usage": True},
        }
        if response_format:
            kwargs["response_format"] = response_format
        stream: Any = None
        try:
            # one clock from sending the request to the first chunk: a provider that never sends headers
            # times out the same as one that sends headers and then nothing.
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races a completed read
            async with asyncio.timeout(max(0.01, first_token_timeout)):
                raw = await self.client.chat.completions.with_raw_response.create(**kwargs)
                remaining = raw.headers.get("x-ratelimit-remaining-requests")
                if remaining is not None and remaining.isdigit():
                    self._m.llm_ratelimit_remaining.labels(model).set(int(remaining))
                # the body's events are read as dicts (server/engine/sse.py), not as the SDK's typed objects
                stream = raw.http_response
                iterator = completion_chunks(stream.aiter_bytes(),
                                             idle_limit=self._s.llm_inter_token_timeout_seconds).__aiter__()
                first = await iterator.__anext__()
        except StopAsyncIteration:
            return _Opened(None, None, [], time.perf_counter() - started)
        except (TimeoutError, openai.APITimeoutError) as exc:
            if stream is not None:
                with contextlib.suppress(Exception):
                    await stream.aclose()  # free the connection of the attempt that timed out
            raise _Retryable("timeout", "no first token in time") from exc
        except StreamError as exc:
            if stream is not None:
                with contextlib.suppress(Exception):
                    await stream.aclose()
            raise _Retryable("protocol", str(exc)[:200]) from exc
        except openai.APIConnectionError as exc:
            raise _Retryable("connection", str(exc)) from exc
        except openai.APIStatusError as exc:
            if exc.status_code in _RETRYABLE_STATUS:
                raise _Retryable(f"http_{exc.status_code}", str(exc)[:200]) from exc
            raise _Fatal(f"http_{exc.status_code}", str(exc)[:200]) from exc
        except _OPEN_ERRORS as exc:
            if stream is not None:
                with contextlib.suppress(Exception):
                    await stream.aclose()
            raise _Retryable("protocol" if isinstance(exc, openai.OpenAIError) else "connection", str(exc)[:200]) from exc
        return _Opened(stream, iterator, [first], time.perf_counter() - started)

    async def _relay(self, model: str, opened: _Opened, *, fallback_used: bool,
                     deadline: float) -> AsyncIterator[StreamItem]:
        self._m.llm_ttft.labels(model).observe(opened.ttft)
        text_parts: list[str] = []
        usage: tuple[int, int] | None = None
        pending = list(opened.first)
        inter_token = self._s.llm_inter_token_timeout_seconds
        try:
            while True:
                if pending:
                    chunk = pending.pop(0)
                elif opened.iterator is None:
                    break
                else:
                    # the next token within the inter-token time-out, and the whole answer within its deadline.
                    # Where the transport's read time-out is the inter-token time-out, a stall is already bounded
                    # without a timer per token: no byte for that long fails the read, and bytes without an event
                    # (keep-alive comments) for that long fail the event reader (idle_limit); together at most
                    # twice the inter-token time-out, so a token needs a timer of its own only when the deadline
                    # is nearer than that
                    remaining = deadline - asyncio.get_running_loop().time()
                    try:
                        if self._reads_bounded and remaining > self._read_timeout + inter_token:
                            chunk = await opened.iterator.__anext__()
                        else:
                            async with asyncio.timeout(max(0.0, min(inter_token, remaining))):
                                chunk = await opened.iterator.__anext__()
                    except StopAsyncIteration:
                        break
                usage = chunk_usage(chunk) or usage
                piece = chunk_text(chunk)
                if piece:
                    text_parts.append(piece)
                    yield TextChunk(piece)
        except _RELAY_ERRORS as exc:
            self._m.llm_errors.labels(model, "interrupted").inc()
            self._m.llm_calls.labels(model, "interrupted").inc()
            self._note(False, "interrupted")
            log.warning("llm.interrupted", model=model, error=type(exc).__name__)
            raise UpstreamError("the language model stopped in the middle of the answer", code="llm_interrupted") from exc
        finally:
            if opened.stream is not None:
                await opened.stream.aclose()  # on cancel this aborts the request upstream
        text = "".join(text_parts)
        estimated = usage is None
        prompt = usage[0] if usage else 0
        completion = usage[1] if usage else _estimate_tokens(text)
        cost = prompt / 1000 * self._s.llm_price_input_per_1k + completion / 1000 * self._s.llm_price_output_per_1k
        self._m.llm_calls.labels(model, "ok").inc()
        self._m.llm_tokens.labels(model, "prompt").inc(prompt)
        self._m.llm_tokens.labels(model, "completion").inc(completion)
        self._m.llm_cost.labels(model).inc(cost)
        self._note(True)
        yield Finished(model, prompt, completion, cost, estimated, fallback_used, opened.ttft)


@dataclasses.dataclass
class _Opened:
    stream: Any
    iterator: Any
    first: list[Any]
    ttft: float


class _Failure(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Retryable(_Failure):
    """Worth another attempt at the same model (429, 5xx, time-out, connection)."""


class _Fatal(_Failure):
    """Not worth retrying this model (bad key, unknown model, bad request): go to the fallback."""
