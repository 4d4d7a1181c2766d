"""The services the assistant calls out to: the LLM provider, the embeddings endpoint, SMTP, and the
speech model it needs on disk."""

from __future__ import annotations

import asyncio
import importlib.util
import smtplib
import ssl

from core.settings import Settings
from server.checks.results import CHECK_TIMEOUT_SECONDS, CheckResult, Outcome, describe


def provider_failure(name: str, where: str, exc: Exception, *, key_variable: str) -> CheckResult:
    """What an OpenAI-compatible endpoint's refusal means for the operator, as one FAIL line."""
    import openai

    if isinstance(exc, openai.AuthenticationError):
        detail = f"authentication failed at {where} (HTTP {exc.status_code}): check {key_variable}"
    elif isinstance(exc, openai.PermissionDeniedError):
        detail = f"permission denied at {where} (HTTP {exc.status_code}) for the configured models"
    elif isinstance(exc, openai.APIConnectionError):
        detail = f"cannot reach {where}: {describe(exc.__cause__ or exc)}"
    elif isinstance(exc, openai.APIStatusError):
        detail = f"{where} answered HTTP {exc.status_code}: {exc.message}"
    else:
        detail = f"{where}: {describe(exc)}"
    return CheckResult(name, Outcome.FAIL, detail)


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
    except openai.OpenAIError as exc:
        return [provider_failure("llm", where, exc, key_variable="OPENAI_API_KEY")]
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
    except openai.OpenAIError as exc:
        return [provider_failure("embedder", where, exc, key_variable="EMBEDDING_API_KEY")]
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
        return CheckResult("smtp", Outcome.FAIL, f"cannot talk to {where}: {describe(exc)}")
    security = settings.smtp_security + (", login ok" if settings.smtp_username else "")
    return CheckResult("smtp", Outcome.OK, f"{where} reachable ({security})")
