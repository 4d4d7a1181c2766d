"""What the service reaches out to besides its own stores: the host database through its schema
mapping (machine context), and the webhook targets of escalations."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from core.settings import Settings
from server.checks.results import CHECK_TIMEOUT_SECONDS, CheckResult, Outcome, describe, redact_url
from server.support.machines import DEFAULT_MAPPING, HOST_ERRORS, MAPPING_COLUMNS, MappingError, SchemaMapping


async def check_host_db(settings: Settings) -> list[CheckResult]:
    """The host database and the mapping: every query of the mapping is prepared there (so its SQL,
    tables and columns are checked without reading a row) and returns the columns the assistant needs."""
    if not settings.host_database_url:
        if settings.development:
            return [CheckResult("host_db", Outcome.OK, "HOST_DATABASE_URL empty: the sample schema host_demo "
                                                        "(development only; demo machines and records)")]
        return [CheckResult("host_db", Outcome.WARN, "HOST_DATABASE_URL empty: machine context is off "
                                                      "(no machine data, maintenance or parts in answers)")]
    path = Path(settings.host_schema_mapping) if settings.host_schema_mapping else DEFAULT_MAPPING
    try:
        mapping = SchemaMapping.load(path)
    except MappingError as exc:
        return [CheckResult("host_db", Outcome.FAIL, str(exc))]
    import asyncpg

    where = redact_url(settings.host_database_url)
    try:
        conn = await asyncpg.connect(settings.host_database_url, timeout=CHECK_TIMEOUT_SECONDS,
                                     server_settings={"default_transaction_read_only": "on"})
    except (*HOST_ERRORS, ValueError) as exc:
        return [CheckResult("host_db", Outcome.FAIL, f"cannot connect to {where}: {describe(exc)}")]
    problems: list[str] = []
    checked: list[str] = []
    try:
        for key, required in MAPPING_COLUMNS.items():
            sql = getattr(mapping, key)
            if not sql:
                continue
            try:
                statement = await conn.prepare(sql)
            except asyncpg.PostgresError as exc:
                problems.append(f"{key}: {type(exc).__name__}: {str(exc)[:160]}")
                continue
            columns = {a.name for a in statement.get_attributes()}
            missing = sorted(required - columns)
            if missing:
                problems.append(f"{key}: returns no column {', '.join(missing)} (rename with AS)")
            checked.append(key)
    finally:
        await conn.close()
    if problems:
        return [CheckResult("host_db", Outcome.FAIL, f"mapping {path.name} against {where}: " + "; ".join(problems))]
    return [CheckResult("host_db", Outcome.OK, f"{where}: mapping {path.name} checked ({', '.join(checked)})")]


async def check_webhooks(settings: Settings) -> list[CheckResult]:
    """Each webhook target: a valid https URL (http only in development), with a signing secret, whose
    host accepts a connection (TCP, and TLS for https) within the time-out. Nothing is posted."""
    if not settings.webhook_urls:
        return [CheckResult("webhooks", Outcome.OK, "WEBHOOK_URLS empty: escalations are not sent to webhooks")]
    out: list[CheckResult] = []
    if not settings.webhook_secret:
        out.append(CheckResult("webhooks", Outcome.FAIL, "WEBHOOK_SECRET empty: receivers could not verify the webhooks"))
    for url in settings.webhook_urls:
        out.append(await _webhook_target(url, production=not settings.development))
    return out


async def _webhook_target(url: str, *, production: bool) -> CheckResult:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return CheckResult("webhooks", Outcome.FAIL, f"{url!r} is not a URL")
    shown = f"{parts.scheme}://{parts.hostname}:{port}{parts.path}"  # no user info, no query string
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return CheckResult("webhooks", Outcome.FAIL, f"{shown}: needs an http(s) URL with a host")
    if parts.scheme == "http" and production:
        return CheckResult("webhooks", Outcome.FAIL, f"{shown}: plain http in production (use https)")
    context = ssl.create_default_context() if parts.scheme == "https" else None
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, port, ssl=context,
                                    server_hostname=parts.hostname if context else None),
            CHECK_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        return CheckResult("webhooks", Outcome.FAIL, f"{shown}: cannot connect: {describe(exc)}")
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 2)
    except (OSError, TimeoutError, ssl.SSLError):
        pass  # the connection was made; how it ends does not matter here
    outcome = Outcome.WARN if parts.scheme == "http" else Outcome.OK
    return CheckResult("webhooks", outcome, f"{shown}: accepts connections" + (" (plain http)" if outcome is Outcome.WARN else ""))
