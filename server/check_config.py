"""``python -m server check-config``: validate a configuration against the real world before a deploy.

Each check prints one line (``OK``, ``WARN``, ``FAIL`` or ``SKIP``, the check's name, what it found)
and the command exits non-zero when any check failed. Checks: required variables, PostgreSQL reachable
with the pgvector extension available, Redis reachable, the LLM provider reachable with the
configured models, the embeddings endpoint (EMBEDDER=openai), the speech model available offline,
SMTP reachable, free disk space in DATA_DIR, the listening port free.
Secrets are never printed (DSNs are shown without their password).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import importlib.util
import shutil
import smtplib
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from core.settings import DEFAULT_JWT_SECRET, Settings

CHECK_TIMEOUT_SECONDS = 10.0
DISK_MIN_FREE_BYTES = 1 << 30  # below: FAIL
DISK_WARN_FREE_BYTES = 5 << 30  # below: WARN


class Outcome(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The result of one check; ``line()`` is what the command prints."""

    name: str
    outcome: Outcome
    detail: str

    @property
    def ok(self) -> bool:
        return self.outcome is not Outcome.FAIL

    def line(self) -> str:
        return f"{self.outcome.value:<5} {self.name:<10} {self.detail}"


def redact_url(url: str) -> str:
    """``postgresql://user:secret@db:5432/x`` -> ``postgresql://user:***@db:5432/x``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- checks -----------------------------------------------------------------------------------------

async def check_variables(settings: Settings) -> list[CheckResult]:
    """What production needs set (development falls back to embedded services and defaults)."""
    out: list[CheckResult] = []
    production = settings.env == "production"
    missing: list[str] = []
    warnings: list[str] = []
    if production:
        for env, value in (("DATABASE_URL", settings.database_url), ("REDIS_URL", settings.redis_url),
                           ("JWT_SECRET", "" if settings.jwt_secret == DEFAULT_JWT_SECRET else settings.jwt_secret)):
            if not value:
                missing.append(env)
        if settings.jwt_algorithm == "HS256" and 0 < len(settings.jwt_secret) < 32:
            warnings.append("JWT_SECRET is shorter than 32 characters")
        if not settings.conversation_encryption_key:
            warnings.append("CONVERSATION_ENCRYPTION_KEY empty: conversations stored unencrypted")
        if not settings.allowed_origins:
            warnings.append("ALLOWED_ORIGINS empty: only same-origin pages can open the chat")
        if settings.root_path != "/ai":
            warnings.append(f"ROOT_PATH is {settings.root_path!r}, nginx.conf mounts the app at '/ai'")
    if settings.conversation_encryption_key:
        try:
            from cryptography.fernet import Fernet

            Fernet(settings.conversation_encryption_key.encode())
        except (ValueError, TypeError):
            missing.append("CONVERSATION_ENCRYPTION_KEY (not a valid Fernet key)")
    if not settings.openai_model:
        warnings.append("OPENAI_MODEL empty: answers are retrieval-only")
    if missing:
        out.append(CheckResult("variables", Outcome.FAIL, "missing or invalid: " + ", ".join(missing)))
    elif warnings:
        out.append(CheckResult("variables", Outcome.WARN, "; ".join(warnings)))
    else:
        out.append(CheckResult("variables", Outcome.OK, f"ENV={settings.env}, ROOT_PATH={settings.root_path or '/'}"))
    return out


async def check_postgres(settings: Settings) -> list[CheckResult]:
    """Connect, report the server version and whether the pgvector extension can be used."""
    if not settings.database_url:
        return [CheckResult("postgres", Outcome.SKIP, "DATABASE_URL empty: embedded PostgreSQL under DATA_DIR (development only)")]
    out = [await _postgres_one("postgres", settings.database_url, need_vector=True)]
    if settings.host_database_url:
        out.append(await _postgres_one("host-db", settings.host_database_url, need_vector=False))
    return out


async def _postgres_one(name: str, dsn: str, *, need_vector: bool) -> CheckResult:
    import asyncpg

    where = redact_url(dsn)
    try:
        conn = await asyncpg.connect(dsn, timeout=CHECK_TIMEOUT_SECONDS)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError, ValueError) as exc:
        return CheckResult(name, Outcome.FAIL, f"cannot connect to {where}: {_describe(exc)}")
    try:
        version = await conn.fetchval("SHOW server_version")
        if not need_vector:
            return CheckResult(name, Outcome.OK, f"PostgreSQL {version} at {where}")
        row = await conn.fetchrow(
            "SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'vector'")
        if row is None:
            return CheckResult(name, Outcome.FAIL,
                               f"PostgreSQL {version} at {where} has no pgvector extension available "
                               "(install pgvector on the server, e.g. use the pgvector/pgvector image)")
        if row["installed_version"]:
            return CheckResult(name, Outcome.OK, f"PostgreSQL {version} at {where}, pgvector {row['installed_version']} installed")
        can_create = await conn.fetchval(
            "SELECT has_database_privilege(current_database(), 'CREATE') OR "
            "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)")
        if not can_create:
            return CheckResult(name, Outcome.FAIL,
                               f"PostgreSQL {version} at {where}: pgvector {row['default_version']} available but not "
                               "installed, and this user may not CREATE EXTENSION (ask a superuser: CREATE EXTENSION vector)")
        return CheckResult(name, Outcome.OK,
                           f"PostgreSQL {version} at {where}, pgvector {row['default_version']} available "
                           "(created by `migrate`)")
    except (asyncpg.PostgresError, OSError) as exc:
        return CheckResult(name, Outcome.FAIL, f"query failed on {where}: {_describe(exc)}")
    finally:
        await conn.close(timeout=2)


async def check_redis(settings: Settings) -> list[CheckResult]:
    if not settings.redis_url:
        return [CheckResult("redis", Outcome.SKIP, "REDIS_URL empty: private redis-server under DATA_DIR (development only)")]
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    where = redact_url(settings.redis_url)
    client = aioredis.from_url(settings.redis_url, socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
                               socket_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        await client.ping()
        info = await client.info("server")
        persistence = await client.info("persistence")
    except (RedisError, OSError) as exc:
        return [CheckResult("redis", Outcome.FAIL, f"cannot reach {where}: {_describe(exc)}")]
    finally:
        await client.aclose()
    detail = f"Redis {info.get('redis_version', '?')} at {where}"
    if settings.env == "production" and not int(persistence.get("aof_enabled", 0)):
        return [CheckResult("redis", Outcome.WARN, detail + ": append-only file off (replay buffers lost on restart)")]
    return [CheckResult("redis", Outcome.OK, detail)]


async def check_llm(settings: Settings) -> list[CheckResult]:
    """The provider answers with this key, and knows the configured models (models list, else 1 token)."""
    if not settings.openai_model:
        return [CheckResult("llm", Outcome.WARN, "OPENAI_MODEL empty: no LLM, retrieval-only answers")]
    import openai

    client = openai.AsyncOpenAI(api_key=settings.openai_api_key or "none", base_url=settings.openai_base_url or None,
                                timeout=CHECK_TIMEOUT_SECONDS, max_retries=0)
    where = settings.openai_base_url or "api.openai.com"
    models = [m for m in (settings.openai_model, settings.openai_fallback_model) if m]
    try:
        listed: set[str] | None
        try:
            listed = {m.id async for m in client.models.list()}
        except openai.NotFoundError:
            listed = None  # some compatible servers have no /models: try a completion instead
        out: list[CheckResult] = []
        for model in models:
            label = "llm" if model == settings.openai_model else "llm-fallbk"
            if listed is not None and model in listed:
                out.append(CheckResult(label, Outcome.OK, f"model {model} available at {where}"))
                continue
            try:
                await client.chat.completions.create(model=model, max_tokens=1,
                                                     messages=[{"role": "user", "content": "ping"}])
            except openai.NotFoundError:
                out.append(CheckResult(label, Outcome.FAIL, f"model {model} not found at {where}"))
                continue
            out.append(CheckResult(label, Outcome.OK, f"model {model} answered a 1-token completion at {where}"))
        return out
    except openai.AuthenticationError as exc:
        return [CheckResult("llm", Outcome.FAIL, f"authentication failed at {where} (HTTP {exc.status_code}): check OPENAI_API_KEY")]
    except openai.PermissionDeniedError as exc:
        return [CheckResult("llm", Outcome.FAIL, f"permission denied at {where} (HTTP {exc.status_code}) for the configured models")]
    except openai.APIConnectionError as exc:
        return [CheckResult("llm", Outcome.FAIL, f"cannot reach {where}: {_describe(exc.__cause__ or exc)}")]
    except openai.APIStatusError as exc:
        return [CheckResult("llm", Outcome.FAIL, f"provider at {where} answered HTTP {exc.status_code}: {exc.message}")]
    finally:
        await client.close()


async def check_embedder(settings: Settings) -> list[CheckResult]:
    """The embeddings endpoint answers one embedding when EMBEDDER=openai (the local model needs nothing)."""
    if settings.embedder != "openai":
        return [CheckResult("embedder", Outcome.OK, "local multilingual-e5-small (in-process, offline)")]
    if not settings.embedding_model:
        return [CheckResult("embedder", Outcome.FAIL, "EMBEDDER=openai needs EMBEDDING_MODEL")]
    import openai

    base_url = settings.embedding_base_url or settings.openai_base_url or None
    where = base_url or "api.openai.com"
    client = openai.AsyncOpenAI(api_key=settings.embedding_api_key or settings.openai_api_key or "none",
                                base_url=base_url, timeout=CHECK_TIMEOUT_SECONDS, max_retries=0)
    try:
        result = await client.embeddings.create(model=settings.embedding_model, input=["ping"])
    except openai.AuthenticationError as exc:
        return [CheckResult("embedder", Outcome.FAIL, f"authentication failed at {where} (HTTP {exc.status_code}): check EMBEDDING_API_KEY")]
    except openai.APIConnectionError as exc:
        return [CheckResult("embedder", Outcome.FAIL, f"cannot reach {where}: {_describe(exc.__cause__ or exc)}")]
    except openai.APIStatusError as exc:
        return [CheckResult("embedder", Outcome.FAIL, f"{where} answered HTTP {exc.status_code} for {settings.embedding_model}")]
    finally:
        await client.close()
    dims = len(result.data[0].embedding) if result.data else 0
    return [CheckResult("embedder", Outcome.OK, f"{settings.embedding_model} at {where} ({dims} dimensions)")]


async def check_voice(settings: Settings) -> list[CheckResult]:
    """The speech model can be loaded without a network: a model directory, or the bundled one."""
    if not settings.voice_enabled:
        return [CheckResult("voice", Outcome.SKIP, "VOICE_ENABLED=false")]
    from server.voice import model as whisper_model

    if settings.whisper_model.strip().lower() not in whisper_model.BUNDLED_NAMES:
        try:
            path = whisper_model.resolve_model(settings.whisper_model, settings.whisper_cache_path)
        except whisper_model.ModelError as exc:
            return [CheckResult("voice", Outcome.FAIL, exc.message)]
        return [CheckResult("voice", Outcome.OK, f"Whisper model directory {path}")]
    cache = settings.whisper_cache_path
    if whisper_model.is_assembled(cache):
        return [CheckResult("voice", Outcome.OK, f"bundled Whisper base model ready in {cache}")]
    packages = sorted({package for package, _ in whisper_model.MODEL_PARTS} | {whisper_model.SIDECAR_PACKAGE})
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        return [CheckResult("voice", Outcome.FAIL, f"bundled Whisper model not in {cache} and its packages are "
                                                    f"missing ({', '.join(missing)}): set WHISPER_MODEL or reinstall")]
    return [CheckResult("voice", Outcome.OK, f"bundled Whisper base model will be assembled into {cache} at start-up")]


async def check_smtp(settings: Settings) -> list[CheckResult]:
    if not settings.smtp_host:
        return [CheckResult("smtp", Outcome.WARN, "SMTP_HOST empty: support is not e-mailed on escalation")]
    return [await asyncio.to_thread(_smtp_blocking, settings)]


def _smtp_blocking(settings: Settings) -> CheckResult:
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        smtp_class = smtplib.SMTP_SSL if settings.smtp_security == "tls" else smtplib.SMTP
        with smtp_class(settings.smtp_host, settings.smtp_port, timeout=CHECK_TIMEOUT_SECONDS) as smtp:
            smtp.ehlo()
            if settings.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.noop()
    except smtplib.SMTPAuthenticationError as exc:
        return CheckResult("smtp", Outcome.FAIL, f"login refused by {where} ({exc.smtp_code}): check SMTP_USERNAME/SMTP_PASSWORD")
    except smtplib.SMTPNotSupportedError:
        return CheckResult("smtp", Outcome.FAIL, f"{where} does not offer STARTTLS: set SMTP_SECURITY (none|tls)")
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        return CheckResult("smtp", Outcome.FAIL, f"cannot talk to {where}: {_describe(exc)}")
    security = settings.smtp_security + (", login ok" if settings.smtp_username else "")
    return CheckResult("smtp", Outcome.OK, f"{where} reachable ({security})")


async def check_disk(settings: Settings) -> list[CheckResult]:
    path = settings.data_path
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError as exc:
        return [CheckResult("disk", Outcome.FAIL, f"cannot stat {probe}: {_describe(exc)}")]
    free_gib = usage.free / (1 << 30)
    detail = f"{free_gib:.1f} GiB free in {path}"
    writable = _writable(path if path.exists() else probe)
    if writable:
        return [CheckResult("disk", Outcome.FAIL, f"{path} is not writable: {writable}")]
    if usage.free < DISK_MIN_FREE_BYTES:
        return [CheckResult("disk", Outcome.FAIL, detail + " (need at least 1 GiB)")]
    if usage.free < DISK_WARN_FREE_BYTES:
        return [CheckResult("disk", Outcome.WARN, detail + " (less than 5 GiB)")]
    return [CheckResult("disk", Outcome.OK, detail)]


def _writable(directory: Path) -> str:
    """Empty when a file can be created in ``directory``; else the reason."""
    target = directory / ".check-config-write-test"
    try:
        target.write_bytes(b"")
        target.unlink()
    except OSError as exc:
        return _describe(exc)
    return ""


async def check_port(settings: Settings) -> list[CheckResult]:
    host = settings.host or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, settings.port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return [CheckResult("port", Outcome.FAIL, f"{host}:{settings.port} is already in use")]
        return [CheckResult("port", Outcome.FAIL, f"cannot listen on {host}:{settings.port}: {_describe(exc)}")]
    finally:
        sock.close()
    return [CheckResult("port", Outcome.OK, f"{host}:{settings.port} is free")]


CHECKS: tuple[tuple[str, Callable[[Settings], Awaitable[list[CheckResult]]]], ...] = (
    ("variables", check_variables),
    ("postgres", check_postgres),
    ("redis", check_redis),
    ("llm", check_llm),
    ("embedder", check_embedder),
    ("voice", check_voice),
    ("smtp", check_smtp),
    ("disk", check_disk),
    ("port", check_port),
)


async def _guarded(name: str, check: Callable[[Settings], Awaitable[list[CheckResult]]],
                   settings: Settings) -> list[CheckResult]:
    try:
        return await asyncio.wait_for(check(settings), CHECK_TIMEOUT_SECONDS + 5)
    except TimeoutError:
        return [CheckResult(name, Outcome.FAIL, f"no answer within {CHECK_TIMEOUT_SECONDS + 5:.0f} s")]


async def run_checks(settings: Settings, *, skip: frozenset[str] = frozenset()) -> list[CheckResult]:
    """Run every check concurrently; results in the fixed order of ``CHECKS``.

    ``skip`` names checks not to run (e.g. ``{"port"}`` when validating next to a running replica).
    """
    selected = [(name, check) for name, check in CHECKS if name not in skip]
    groups = await asyncio.gather(*(_guarded(name, check, settings) for name, check in selected))
    results = [r for group in groups for r in group]
    results += [CheckResult(name, Outcome.SKIP, "skipped (--skip)") for name, _ in CHECKS if name in skip]
    return results


def main(settings: Settings, argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Print one line per check and a summary; 0 when nothing failed, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m server check-config",
                                     description="Validate the configuration against the real services.")
    parser.add_argument("--skip", default="", help=f"comma-separated checks to skip: {', '.join(n for n, _ in CHECKS)}")
    args = parser.parse_args(list(argv or []))
    skip = frozenset(s.strip() for s in args.skip.split(",") if s.strip())
    unknown = skip - {n for n, _ in CHECKS}
    stream = out or sys.stdout
    if unknown:
        print(f"unknown check(s) in --skip: {', '.join(sorted(unknown))}", file=stream)
        return 2
    results = asyncio.run(run_checks(settings, skip=skip))
    for result in results:
        print(result.line(), file=stream)
    counts: dict[Any, int] = {o: sum(r.outcome is o for r in results) for o in Outcome}
    failed = counts[Outcome.FAIL]
    print(f"check-config: {'FAILED' if failed else 'passed'} ({counts[Outcome.OK]} ok, {counts[Outcome.WARN]} warnings, "
          f"{failed} failed, {counts[Outcome.SKIP]} skipped)", file=stream)
    return 1 if failed else 0
