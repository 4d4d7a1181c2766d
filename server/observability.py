"""Metrics: ``Metrics`` owns its own ``CollectorRegistry``: no module-level metric objects, so several
apps can live in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """Every Prometheus metric the service exports (prefix ``abparts_``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        p = "abparts_"
        # HTTP
        self.http_requests = Counter(p + "http_requests_total", "HTTP requests", ["method", "route", "status"], registry=r)
        self.http_latency = Histogram(p + "http_request_duration_seconds", "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS, registry=r)
        # WebSocket hub
        self.ws_connections = Gauge(p + "ws_connections", "Open WebSocket connections", registry=r)
        self.ws_connects = Counter(p + "ws_connects_total", "WebSocket connection attempts by outcome", ["outcome"], registry=r)
        self.active_sessions = Gauge(p + "active_sessions", "Sessions with at least one open connection on this replica", registry=r)
        self.frames_sent = Counter(p + "ws_frames_sent_total", "Frames sent to clients", ["type"], registry=r)
        self.frames_received = Counter(p + "ws_frames_received_total", "Frames received from clients", ["type"], registry=r)
        self.protocol_errors = Counter(p + "ws_errors_total", "Error frames sent, by code", ["code"], registry=r)
        self.replayed_frames = Counter(p + "replayed_frames_total", "Frames replayed on resume", registry=r)
        self.slow_clients = Counter(p + "ws_slow_clients_total", "Times a connection fell behind its stream and was served from Redis at its own pace", registry=r)
        # Turns
        self.turns = Counter(p + "turns_total", "Answered questions by mode and status", ["mode", "status"], registry=r)
        self.ttft = Histogram(p + "time_to_first_token_seconds", "Question received to first answer text sent", buckets=LATENCY_BUCKETS, registry=r)
        self.turn_duration = Histogram(p + "turn_duration_seconds", "Question received to answer done", buckets=LATENCY_BUCKETS, registry=r)
        self.tokens_streamed = Counter(p + "tokens_streamed_total", "Answer chunks streamed to clients", registry=r)
        self.duplicate_messages = Counter(p + "duplicate_messages_total", "Messages re-sent with a known client_id (not answered twice)", registry=r)
        self.rate_limited = Counter(p + "rate_limited_total", "Requests refused by a rate limit", ["scope"], registry=r)
        # LLM
        self.llm_calls = Counter(p + "llm_calls_total", "LLM calls by model and outcome", ["model", "outcome"], registry=r)
        self.llm_errors = Counter(p + "llm_errors_total", "LLM errors by model and kind", ["model", "kind"], registry=r)
        self.llm_retries = Counter(p + "llm_retries_total", "LLM retries", ["model"], registry=r)
        self.llm_fallbacks = Counter(p + "llm_fallbacks_total", "Turns that fell back to the fallback model", registry=r)
        self.llm_tokens = Counter(p + "llm_tokens_total", "LLM tokens by model and kind (prompt, completion)", ["model", "kind"], registry=r)
        self.llm_cost = Counter(p + "llm_cost_usd_total", "Estimated LLM cost", ["model"], registry=r)
        self.llm_ttft = Histogram(p + "llm_time_to_first_token_seconds", "Provider time to first token", ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.llm_ratelimit_remaining = Gauge(p + "llm_ratelimit_remaining_requests", "Requests left in the provider's rate-limit window (from its headers)", ["model"], registry=r)
        self.retrieval_only = Counter(p + "retrieval_only_answers_total", "Answers given from the manuals without an LLM", ["reason"], registry=r)
        # Retrieval / knowledge base
        self.retrieval_latency = Histogram(p + "retrieval_duration_seconds", "Knowledge-base search latency", buckets=LATENCY_BUCKETS, registry=r)
        self.not_covered = Counter(p + "not_covered_total", "Questions the manuals did not cover", registry=r)
        self.ingestion_jobs = Counter(p + "kb_ingestion_jobs_total", "Ingestion jobs by outcome", ["outcome"], registry=r)
        self.kb_chunks = Gauge(p + "kb_chunks", "Chunks in the knowledge base", registry=r)
        self.query_batch_size = Histogram(p + "kb_query_batch_size", "Query embeddings per model call (concurrent questions' queries are merged), by kind", ["kind"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r)
        # Storage
        self.db_pool_size = Gauge(p + "db_pool_connections", "PostgreSQL pool connections", ["state"], registry=r)
        self.db_errors = Counter(p + "db_errors_total", "PostgreSQL errors", ["operation"], registry=r)
        self.db_pool_timeouts = Counter(p + "db_pool_timeouts_total", "Waits for a pooled PostgreSQL connection that timed out (the request or job failed with postgres_unavailable), by pool", ["pool"], registry=r)
        self.redis_errors = Counter(p + "redis_errors_total", "Redis errors", ["operation"], registry=r)
        self.degraded = Counter(p + "degraded_events_total", "Times a component fell back to a degraded mode", ["component"], registry=r)
        self.component_up = Gauge(p + "component_up", "1 healthy, 0.5 degraded, 0 unhealthy (last readiness check)", ["component"], registry=r)
        # Jobs, escalation, feedback
        self.jobs = Counter(p + "jobs_total", "Background jobs by task and outcome", ["task", "outcome"], registry=r)
        self.escalations = Counter(p + "escalations_total", "Escalations by trigger", ["trigger"], registry=r)
        self.notifications = Counter(p + "notifications_total", "Support notifications by channel and outcome", ["channel", "outcome"], registry=r)
        self.feedback = Counter(p + "feedback_total", "Answer feedback by rating", ["rating"], registry=r)
        # Voice
        self.transcriptions = Counter(p + "voice_transcriptions_total", "Transcriptions by outcome", ["outcome"], registry=r)
        self.audio_seconds = Counter(p + "voice_audio_seconds_total", "Seconds of audio transcribed", registry=r)
        self.voice_rtf = Histogram(p + "voice_real_time_factor", "Processing time / audio duration", buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5), registry=r)
        self.voice_queue = Gauge(p + "voice_queue_depth", "Transcriptions running or waiting", registry=r)
        self.voice_failures = Counter(p + "voice_failures_total", "Transcriptions refused or failed, by error code", ["code"], registry=r)
        # Deployment: process CPU, memory and file descriptors (process_*), for the CPU/memory alerts
        ProcessCollector(registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
