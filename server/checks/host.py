"""This host and its configuration: required variables, free disk in DATA_DIR, the listening port."""

from __future__ import annotations

import errno
import shutil
import socket
from pathlib import Path

from core.settings import Settings
from server.checks.results import CheckResult, Outcome, describe

DISK_MIN_FREE_BYTES = 1 << 30  # below: FAIL
DISK_WARN_FREE_BYTES = 5 << 30  # below: WARN


async def check_variables(settings: Settings) -> list[CheckResult]:
    """What production needs set (development falls back to embedded services and defaults)."""
    out: list[CheckResult] = []
    production = settings.env == "production"
    missing: list[str] = []
    warnings: list[str] = []
    if production:
        for env, value in (("DATABASE_URL", settings.database_url), ("REDIS_URL", settings.redis_url)):
            if not value:
                missing.append(env)
        if not settings.allowed_origins:
            warnings.append("ALLOWED_ORIGINS empty: only same-origin pages can open the chat")
        if settings.root_path != "/ai":
            warnings.append(f"ROOT_PATH is {settings.root_path!r}, nginx.conf mounts the app at '/ai'")
    missing += settings.problems()  # what the service refuses to start with (weak secrets, bad keys, ...)
    if not settings.openai_model:
        warnings.append("OPENAI_MODEL empty: answers are retrieval-only")
    if missing:
        out.append(CheckResult("variables", Outcome.FAIL, "missing or invalid: " + "; ".join(missing)))
    elif warnings:
        out.append(CheckResult("variables", Outcome.WARN, "; ".join(warnings)))
    else:
        out.append(CheckResult("variables", Outcome.OK, f"ENV={settings.env}, ROOT_PATH={settings.root_path or '/'}"))
    return out


async def check_disk(settings: Settings) -> list[CheckResult]:
    path = settings.data_path
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError as exc:
        return [CheckResult("disk", Outcome.FAIL, f"cannot stat {probe}: {describe(exc)}")]
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
        return describe(exc)
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
        return [CheckResult("port", Outcome.FAIL, f"cannot listen on {host}:{settings.port}: {describe(exc)}")]
    finally:
        sock.close()
    return [CheckResult("port", Outcome.OK, f"{host}:{settings.port} is free")]
