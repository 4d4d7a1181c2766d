"""OpenTelemetry traces: exported over real OTLP/HTTP (protobuf) to a collector endpoint on loopback."""

from __future__ import annotations

import gzip
import threading
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
import structlog
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.tracing import Tracing, add_trace_ids, setup_tracing, shutdown_tracing, traces_endpoint
from testkit.scripted_llm import ThreadedServer


class OTLPReceiver:
    """The receiving end of OTLP/HTTP: decodes ExportTraceServiceRequest bodies into plain dicts."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.resources: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/traces", self.traces, methods=["POST"])])

    async def traces(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        assert request.headers["content-type"] == "application/x-protobuf"
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        with self.lock:
            for resource_spans in message.resource_spans:
                self.resources.append(_attrs(resource_spans.resource.attributes))
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append({
                            "name": span.name, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(), "attributes": _attrs(span.attributes),
                            "events": [e.name for e in span.events], "status": span.status.code, "scope": scope.scope.name,
                        })
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    def named(self, name: str) -> dict[str, Any]:
        matches = [s for s in self.spans if s["name"] == name]
        assert matches, f"no span {name!r} among {[s['name'] for s in self.spans]}"
        return matches[0]


def _attrs(attributes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in attributes:
        which = kv.value.WhichOneof("value")
        value = getattr(kv.value, which) if which else None
        if which == "array_value":
            value = [getattr(v, v.WhichOneof("value")) for v in value.values]
        out[kv.key] = value
    return out


@pytest.fixture
def collector():
    receiver = OTLPReceiver()
    with ThreadedServer(receiver.app()) as server:
        receiver.url = server.url  # type: ignore[attr-defined]
        yield receiver


def test_endpoint_convention():
    assert traces_endpoint("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_endpoint("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_endpoint("https://otlp.example.com/v1/traces") == "https://otlp.example.com/v1/traces"


def test_tracing_is_off_without_an_endpoint(settings_factory):
    assert setup_tracing(settings_factory(otel_exporter_otlp_endpoint="")) is None
    tracing = Tracing(None)
    assert not tracing.enabled
    with tracing.turn(session_id="s") as span, tracing.llm_call(model="m") as call:
        call.first_token()
        call.usage(1, 2)
        assert not span.get_span_context().is_valid
    shutdown_tracing(None)


async def test_spans_reach_the_collector_with_genai_attributes(settings_factory, collector, database_url, redis_url):
    settings = settings_factory(otel_exporter_otlp_endpoint=collector.url, otel_service_name="assistant-test")
    provider = setup_tracing(settings)
    assert provider is not None
    tracing = Tracing(provider)
    conn = await asyncpg.connect(database_url)
    client = aioredis.from_url(redis_url)
    try:
        with tracing.connection(user_role="operator") as connection_span:
            connection_span.set_attribute("session.id", "s-1")
            with tracing.turn(session_id="s-1", message_id="m-1", lang="el"):
                with tracing.retrieval(k=5, lang="el") as retrieval:
                    retrieval.set_attribute("retrieval.results", 3)
                    await conn.fetchval("SELECT 1")
                with tracing.llm_call(model="primary", server_address="127.0.0.1", max_tokens=700,
                                      temperature=0.2) as call:
                    call.first_token()
                    call.first_token()  # only the first counts
                    call.usage(120, 42)
                    call.response(model="primary-2024", finish_reason="stop")
                await client.set("trace-test", "1")
            with pytest.raises(RuntimeError), tracing.turn(session_id="s-1"):
                raise RuntimeError("provider exploded")
    finally:
        await conn.close()
        await client.aclose()
        shutdown_tracing(provider)

    connection = collector.named("ws.connection")
    turn = collector.named("chat.turn")
    retrieval_span = collector.named("kb.retrieval")
    llm = collector.named("chat primary")
    assert turn["parent"] == connection["span_id"]
    assert retrieval_span["parent"] == turn["span_id"] and llm["parent"] == turn["span_id"]
    assert {s["trace_id"] for s in (connection, turn, retrieval_span, llm)} == {connection["trace_id"]}
    assert connection["attributes"]["session.id"] == "s-1"
    attrs = llm["attributes"]
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "primary"
    assert attrs["gen_ai.usage.input_tokens"] == 120 and attrs["gen_ai.usage.output_tokens"] == 42
    assert attrs["gen_ai.response.model"] == "primary-2024"
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert attrs["gen_ai.server.time_to_first_token"] >= 0
    assert llm["events"].count("gen_ai.first_token") == 1
    # database and Redis client spans (the libraries' instrumentations), inside the turn
    db_spans = [s for s in collector.spans if s["attributes"].get("db.system") == "postgresql"
                or s["attributes"].get("db.system.name") == "postgresql"]
    assert any(s["parent"] == retrieval_span["span_id"] for s in db_spans), [s["name"] for s in collector.spans]
    redis_spans = [s for s in collector.spans if "redis" in str(s["attributes"].get("db.system", ""))
                   + str(s["attributes"].get("db.system.name", ""))]
    assert any(s["parent"] == turn["span_id"] for s in redis_spans)
    failed = [s for s in collector.spans if s["name"] == "chat.turn" and s["status"] == 2]
    assert failed, "an exception escaping a span marks it as an error"
    assert collector.resources[0]["service.name"] == "assistant-test"
    assert all("provider exploded" not in str(s["attributes"]) for s in collector.spans if s["name"] != "chat.turn")


def test_log_events_carry_trace_ids(settings_factory, collector):
    provider = setup_tracing(settings_factory(otel_exporter_otlp_endpoint=collector.url))
    tracing = Tracing(provider)
    captured: list[dict[str, Any]] = []

    def capture(_logger: Any, _method: str, event_dict: Any) -> Any:
        captured.append(dict(event_dict))
        raise structlog.DropEvent

    logger = structlog.wrap_logger(structlog.PrintLogger(), processors=[add_trace_ids, capture])
    try:
        logger.info("outside.span")
        with tracing.turn(session_id="s") as span:
            logger.info("inside.span")
            context = span.get_span_context()
    finally:
        shutdown_tracing(provider)
    outside, inside = captured
    assert "trace_id" not in outside
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert trace.get_current_span().get_span_context().is_valid is False


async def test_a_conversation_is_traced_end_to_end(collector, settings_factory, llm_server, running_server, make_token):
    """A real replica with OTEL_EXPORTER_OTLP_ENDPOINT set: one question gives connection, turn, retrieval,
    LLM and database spans in one trace, exported when the replica stops."""
    from testkit.wsclient import ChatClient
    from tests.server.test_engine import upload_manual

    settings = settings_factory(otel_exporter_otlp_endpoint=collector.url, openai_base_url=llm_server.base_url,
                                openai_api_key="test-key", openai_model="primary")
    async with running_server(settings) as srv:
        await upload_manual(srv, make_token(role="admin"))  # with no manual a turn skips retrieval altogether
        client = ChatClient(srv.ws_url, make_token())
        await client.connect()
        await client.ask("the brush motor does not start")
        done = await client.until("done", timeout=30)
        await client.close()
    assert done["status"] == "complete"
    turn = collector.named("chat.turn")
    llm = collector.named("chat primary")
    assert llm["trace_id"] == turn["trace_id"]
    assert llm["attributes"]["gen_ai.request.model"] == "primary"
    assert llm["attributes"]["gen_ai.usage.output_tokens"] > 0
    assert "gen_ai.server.time_to_first_token" in llm["attributes"]
    assert any(s["trace_id"] == turn["trace_id"] and s["name"] == "kb.retrieval" for s in collector.spans)
    assert any(s["name"] == "ws.connection" for s in collector.spans)
