"""Typed settings, read once from the environment at the entry point.

Every setting is one row of ``FIELDS``: the environment variable, its type, its default and what it
means. ``docs/configuration.md`` is generated from this table (``python -m server settings-doc``) and a
test keeps the two identical, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

DEFAULT_JWT_SECRET = "dev-insecure-secret-change-me"

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

FIELDS: tuple[Field, ...] = (
    # -- Service
    _f("ENV", "str", "development", "`development` enables the demo host page, the demo token endpoint and the default JWT secret; `production` refuses the default secret.", choices=("development", "production")),
    _f("HOST", "str", "127.0.0.1", "Address uvicorn listens on."),
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
    _f("REDIS_URL", "str", "", "Redis URL. Empty: start a private redis-server under DATA_DIR.", secret=True, section=DB),
    _f("REDIS_MAX_CONNECTIONS", "int", 100, "Redis connections per replica; when all are busy a request waits (up to 10 s) instead of failing.", section=DB),
    _f("HOST_DATABASE_URL", "str", "", "Read-only DSN of the host app's database (machines, maintenance, parts). Empty: the sample host schema `host_demo` in DATABASE_URL.", secret=True, section=DB),
    _f("HOST_SCHEMA_MAPPING", "path", "", "YAML or JSON file with the SQL that reads machines, maintenance history, part usage and service intervals from the host database (docs/escalation.md). Empty: the mapping of the sample host schema, server/support/host_demo/mapping.yaml.", section=DB),
    _f("SESSION_TTL_SECONDS", "int", 86400, "How long a session's hot state and replay buffer live in Redis after its last frame.", section=DB),
    _f("REPLAY_MAX_FRAMES", "int", 5000, "Frames kept per session for resume (older ones are trimmed; a resume beyond them gets a full history reload).", section=DB),
    _f("CONVERSATION_ENCRYPTION_KEY", "str", "", "Fernet key encrypting stored message text at rest. Empty: stored as plain text (development).", secret=True, section=DB),
    # -- Authentication
    _f("JWT_SECRET", "str", DEFAULT_JWT_SECRET, "HS256 secret shared with the host app. The default is refused when ENV=production.", secret=True, section=AUTH),
    _f("JWT_ALGORITHM", "str", "HS256", "`HS256` (shared secret) or `RS256` (public keys from JWT_JWKS_URL).", choices=("HS256", "RS256"), section=AUTH),
    _f("JWT_JWKS_URL", "str", "", "JWKS URL of the host app, for RS256 tokens.", section=AUTH),
    _f("JWT_AUDIENCE", "str", "", "Expected `aud` claim (empty: not checked).", section=AUTH),
    _f("JWT_ISSUER", "str", "", "Expected `iss` claim (empty: not checked).", section=AUTH),
    _f("JWT_LEEWAY_SECONDS", "int", 30, "Clock skew tolerated when checking `exp`.", section=AUTH),
    _f("ALLOWED_ORIGINS", "list", "", "Comma-separated origins allowed to open the WebSocket and call the APIs from a browser. Empty: same origin and non-browser clients only; `*` allows any.", section=AUTH),
    # -- Language model
    _f("OPENAI_API_KEY", "str", "", "API key for the OpenAI-compatible provider.", secret=True, section=LLM),
    _f("OPENAI_BASE_URL", "str", "", "Base URL of an OpenAI-compatible API (vLLM, Ollama, llama.cpp, Azure). Empty with a key: api.openai.com.", section=LLM),
    _f("OPENAI_MODEL", "str", "", "Primary chat model. Empty: no LLM; answers are retrieval-only.", section=LLM),
    _f("OPENAI_FALLBACK_MODEL", "str", "", "Model used when the primary fails.", section=LLM),
    _f("LLM_TIMEOUT_SECONDS", "float", 30.0, "Time allowed for the first token, and between tokens.", section=LLM),
    _f("LLM_CONNECT_TIMEOUT_SECONDS", "float", 5.0, "TCP connect time-out to the provider.", section=LLM),
    _f("LLM_MAX_RETRIES", "int", 2, "Retries per model (429, 5xx, time-outs) before the first token.", section=LLM),
    _f("LLM_BACKOFF_SECONDS", "float", 0.5, "Base of the exponential backoff between retries (full jitter).", section=LLM),
    _f("LLM_MAX_TOKENS", "int", 700, "Maximum tokens per answer.", section=LLM),
    _f("LLM_TEMPERATURE", "float", 0.2, "Sampling temperature.", section=LLM),
    _f("LLM_PRICE_INPUT_PER_1K", "float", 0.0, "Price per 1,000 prompt tokens, for the cost estimate.", section=LLM),
    _f("LLM_PRICE_OUTPUT_PER_1K", "float", 0.0, "Price per 1,000 completion tokens, for the cost estimate.", section=LLM),
    # -- WebSocket hub
    _f("WS_MAX_FRAME_BYTES", "int", 65536, "Largest text frame accepted (bigger: close 1009).", section=WS),
    _f("WS_MAX_AUDIO_BYTES", "int", 10_000_000, "Largest audio recording accepted over the socket.", section=WS),
    _f("MESSAGE_MAX_CHARS", "int", 4000, "Longest question accepted.", section=WS),
    _f("MESSAGES_PER_MINUTE", "int", 20, "Questions per user per minute (across connections).", section=WS),
    _f("WS_PING_INTERVAL_SECONDS", "float", 20.0, "Keepalive ping interval (uvicorn's WebSocket ping).", section=WS),
    _f("WS_HELLO_TIMEOUT_SECONDS", "float", 10.0, "Time a new connection has to send `hello`.", section=WS),
    _f("WS_SEND_QUEUE_MAX", "int", 1000, "Frames buffered for one slow client before it is disconnected (it resumes from its last seq).", section=WS),
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
    _f("KB_SEED_SAMPLES", "bool", True, "Index the sample AutoBoss manuals on first start when the knowledge base is empty.", section=KB),
    _f("RETRIEVAL_K", "int", 5, "Passages put into the prompt.", section=KB),
    _f("REQUIRE_GROUNDING", "bool", True, "Refuse (\"the manuals do not cover this\") and offer a human when retrieval finds nothing relevant. `false` lets the model answer without passages.", section=KB),
    _f("RETRIEVAL_MIN_MARGIN", "float", -0.03, "How much closer the question must be to its best manual passage than to off-topic anchor texts for the manuals to count as covering it (see server/engine/grounding.py). Raise it to refuse more, lower it to answer more. Exact error-code matches and support-team entries always count. Measured on the sample manuals: on-topic questions in the six languages -0.026 to +0.12, off-topic ones -0.094 to +0.019; the model is told to refuse too when the passages do not answer.", section=KB),
    # -- Voice
    _f("WHISPER_MODEL", "str", "", "faster-whisper model directory. Empty: the bundled Whisper base model assembled into WHISPER_CACHE_DIR.", section=VOICE),
    _f("WHISPER_CACHE_DIR", "path", "", "Where the bundled model is assembled. Empty: DATA_DIR/models/whisper-base.", section=VOICE),
    _f("VOICE_ENABLED", "bool", True, "Enable speech transcription.", section=VOICE),
    _f("VOICE_WORKERS", "int", 1, "Transcriptions run at once.", section=VOICE),
    _f("VOICE_QUEUE_MAX", "int", 4, "Transcriptions waiting at most; more get `voice_busy`.", section=VOICE),
    _f("VOICE_CPU_THREADS", "int", 2, "CPU threads per transcription.", section=VOICE),
    _f("VOICE_MAX_BYTES", "int", 10_000_000, "Largest audio upload.", section=VOICE),
    _f("VOICE_MAX_SECONDS", "float", 120.0, "Longest recording accepted.", section=VOICE),
    # -- Escalation
    _f("SMTP_HOST", "str", "", "SMTP server for support e-mails. Empty: e-mail disabled (shown as degraded in /health/ready).", section=ESC),
    _f("SMTP_PORT", "int", 587, "SMTP port.", section=ESC),
    _f("SMTP_USERNAME", "str", "", "SMTP user.", section=ESC),
    _f("SMTP_PASSWORD", "str", "", "SMTP password.", secret=True, section=ESC),
    _f("SMTP_SECURITY", "str", "starttls", "`none`, `starttls` or `tls` (implicit TLS).", choices=("none", "starttls", "tls"), section=ESC),
    _f("SMTP_FROM", "str", "assistant@abparts.local", "Sender address of support e-mails.", section=ESC),
    _f("SUPPORT_EMAIL", "str", "support@abparts.local", "Where escalations are sent; shown to the user.", section=ESC),
    _f("SUPPORT_PHONE", "str", "+47 00 00 00 00", "Support phone number shown to the user.", section=ESC),
    _f("WEBHOOK_URLS", "list", "", "Comma-separated URLs receiving escalation webhooks.", section=ESC),
    _f("WEBHOOK_SECRET", "str", "", "HMAC-SHA256 key signing webhooks.", secret=True, section=ESC),
    _f("ESCALATE_AFTER_FAILED_STEPS", "int", 3, "Offer a human after this many failed steps.", section=ESC),
    _f("NOTIFY_RETRY_MAX_SECONDS", "float", 300.0, "Longest wait between two attempts to deliver a support e-mail or webhook (waits double from 1 s up to this; attempts continue for days).", section=ESC),
    # -- Observability
    _f("LOG_LEVEL", "str", "info", "debug, info, warning or error.", choices=("debug", "info", "warning", "error"), section=OBS),
    _f("LOG_FORMAT", "str", "json", "`json` or `console`.", choices=("json", "console"), section=OBS),
    _f("OTEL_EXPORTER_OTLP_ENDPOINT", "str", "", "OTLP/HTTP endpoint for traces. Empty: tracing off.", section=OBS),
    _f("OTEL_SERVICE_NAME", "str", "abparts-assistant", "Service name in traces.", section=OBS),
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
    port: int
    root_path: str
    public_base_url: str
    workers_in_process: bool
    shutdown_drain_seconds: float
    data_dir: Path | None
    database_url: str
    db_pool_min: int
    db_pool_max: int
    redis_url: str
    redis_max_connections: int
    host_database_url: str
    host_schema_mapping: Path | None
    session_ttl_seconds: int
    replay_max_frames: int
    conversation_encryption_key: str
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
    llm_connect_timeout_seconds: float
    llm_max_retries: int
    llm_backoff_seconds: float
    llm_max_tokens: int
    llm_temperature: float
    llm_price_input_per_1k: float
    llm_price_output_per_1k: float
    ws_max_frame_bytes: int
    ws_max_audio_bytes: int
    message_max_chars: int
    messages_per_minute: int
    ws_ping_interval_seconds: float
    ws_hello_timeout_seconds: float
    ws_send_queue_max: int
    embedder: str
    embedding_model: str
    embedding_base_url: str
    embedding_api_key: str
    kb_storage_dir: Path | None
    kb_upload_max_bytes: int
    kb_max_pages: int
    kb_chunk_tokens: int
    kb_chunk_overlap: int
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
    notify_retry_max_seconds: float
    log_level: str
    log_format: str
    otel_exporter_otlp_endpoint: str
    otel_service_name: str

    def __init__(self, **values: object) -> None:
        unknown = set(values) - set(_BY_ATTR)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        merged: dict[str, object] = {f.attr: _default(f) for f in FIELDS}
        merged.update(values)
        object.__setattr__(self, "_values", merged)
        self._validate()

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
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, Value] = {}
        for field in FIELDS:
            if field.env in environ:
                values[field.attr] = _parse(field, environ[field.env])
        return cls(**values)

    def _validate(self) -> None:
        for field in FIELDS:
            value = getattr(self, field.attr)
            if field.choices and value not in field.choices:
                raise SettingsError(f"{field.env}: must be one of {', '.join(field.choices)}, got {value!r}")
        if self.env == "production" and self.jwt_secret == DEFAULT_JWT_SECRET:
            raise SettingsError("JWT_SECRET: the development default is refused when ENV=production")
        if self.jwt_algorithm == "RS256" and not self.jwt_jwks_url:
            raise SettingsError("JWT_JWKS_URL: required when JWT_ALGORITHM=RS256")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"PORT: out of range: {self.port}")
        if self.data_dir is None:
            raise SettingsError("DATA_DIR: must not be empty")

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
        return Settings(**{**self._values, **changes})

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
