"""Fixtures for the deployment tests: the repository's nginx.conf run by Debian's nginx, TLS material,
two real app replicas sharing PostgreSQL and Redis, and functions to run the deployment tools."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testkit.scripted_llm import free_port
from testkit.tls import CertificatePair, write_self_signed
from testkit.wsclient import ChatClient

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """Path of a command-line tool (the virtualenv's first, then PATH); skip the test when absent."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name) or (shutil.which(name, path="/usr/sbin:/sbin"))
    if not found:
        pytest.skip(f"{name} is not installed (make install)")
    return found


def substitute(text: str, replacements: list[tuple[str, str]]) -> str:
    """Apply literal replacements; each must match at least once, so the test breaks loudly if the
    production file changes shape instead of silently testing something else."""
    for old, new in replacements:
        if old not in text:
            raise AssertionError(f"expected {old!r} in the configuration file")
        text = text.replace(old, new)
    return text


# -- TLS ----------------------------------------------------------------------------------------------

TLSFiles = CertificatePair


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A self-signed certificate for localhost / 127.0.0.1 (what deploy/nginx/certs holds in production)."""
    return write_self_signed(tmp_path_factory.mktemp("certs"))


# -- nginx ----------------------------------------------------------------------------------------------

@dataclass
class Nginx:
    conf: Path
    http_port: int
    https_port: int
    tls: TLSFiles
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.https_port}/ai/ws"


def render_nginx_conf(workdir: Path, upstreams: list[str], tls: TLSFiles) -> Nginx:
    """nginx.conf with only ports, upstream addresses and file paths changed for this machine."""
    http_port, https_port = free_port(), free_port()
    (workdir / "cache").mkdir(parents=True, exist_ok=True)
    (workdir / "acme").mkdir(exist_ok=True)
    text = (ROOT / "nginx.conf").read_text()
    assert len(upstreams) == 2
    text = substitute(text, [
        ("user nginx;", "user root;"),  # the test runs as root; the image has an nginx user
        ("pid /run/nginx.pid;", f"pid {workdir}/nginx.pid;"),
        ("/var/log/nginx/error.log", f"{workdir}/error.log"),
        ("/var/log/nginx/access.log", f"{workdir}/access.log"),
        ("/var/cache/nginx/ai_static", f"{workdir}/cache"),
        ("/var/www/acme", f"{workdir}/acme"),
        ("/etc/nginx/certs/fullchain.pem", str(tls.cert)),
        ("/etc/nginx/certs/privkey.pem", str(tls.key)),
        ("server app1:8000", f"server {upstreams[0]}"),
        ("server app2:8000", f"server {upstreams[1]}"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
    ])
    conf = workdir / "nginx.conf"
    conf.write_text(text)
    return Nginx(conf, http_port, https_port, tls)


def nginx_test(conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("nginx"), "-t", "-c", str(conf)], capture_output=True, text=True, timeout=30)


@contextlib.contextmanager
def running_nginx(nginx: Nginx) -> Iterator[Nginx]:
    result = nginx_test(nginx.conf)
    assert result.returncode == 0, result.stderr
    proc = subprocess.Popen([tool("nginx"), "-c", str(nginx.conf), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    nginx.proc = proc
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", nginx.https_port), timeout=0.5):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.05)
        yield nginx
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful stop
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- replicas -------------------------------------------------------------------------------------------

@pytest.fixture
def replica_settings(settings_factory: Callable[..., Any], llm_server: Any) -> Callable[..., Any]:
    """Settings of a replica as deployed: mounted at /ai, scripted LLM as the provider."""

    def make(**kw: Any) -> Any:
        base = dict(root_path="/ai", openai_base_url=llm_server.base_url, openai_api_key="test-key",
                    openai_model="primary", openai_fallback_model="fallback", llm_max_retries=1,
                    llm_backoff_seconds=0.01, llm_timeout_seconds=10)
        base.update(kw)
        return settings_factory(**base)

    return make


@pytest.fixture
async def two_replicas(replica_settings: Callable[..., Any], running_server: Callable[..., Any]) -> AsyncIterator[list[Any]]:
    """Two real app processes sharing one PostgreSQL database and one Redis."""
    async with running_server(replica_settings()) as a, running_server(replica_settings()) as b:
        yield [a, b]


@pytest.fixture
async def nginx_in_front(two_replicas: list[Any], tls_files: TLSFiles, tmp_path: Path) -> AsyncIterator[Nginx]:
    upstreams = [f"{r.settings.host}:{r.settings.port}" for r in two_replicas]
    nginx = render_nginx_conf(tmp_path / "nginx", upstreams, tls_files)
    with running_nginx(nginx):
        yield nginx


class TLSChatClient(ChatClient):
    """The suite's protocol client, connecting over wss:// with a given TLS context."""

    def __init__(self, ws_url: str, token: str, ssl_context: ssl.SSLContext, *, origin: str | None = None) -> None:
        super().__init__(ws_url, token, origin=origin, ssl_context=ssl_context)


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of the samples of ``name`` (with these labels) in a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                total += sample.value
    return total


def exported_metric_names(text: str) -> set[str]:
    """Every series name a /metrics page exports, including the _bucket/_sum/_count/_total series of
    families that have no samples yet (a labelled counter before its first increment)."""
    names: set[str] = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            name, kind = m.groups()
            names.add(name)
            if kind == "counter":
                base = name[:-6] if name.endswith("_total") else name
                names.update({base + "_total", base + "_created"})
            elif kind in ("histogram", "summary"):
                names.update({name + "_bucket", name + "_sum", name + "_count", name + "_created"})
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "rate", "irate", "increase", "by", "without", "on", "ignoring",
    "group_left", "group_right", "and", "or", "unless", "bool", "offset", "histogram_quantile", "clamp_min",
    "clamp_max", "absent", "time", "le", "topk", "bottomk", "label_values", "abs", "delta", "deriv",
}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (label matchers, ranges, strings and groupings removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        token = m.group(0)
        following = text[m.end():].lstrip()[:1]
        if token in PROMQL_WORDS or following == "(" or token.startswith("$") or re.fullmatch(r"e\d*", token):
            continue
        names.add(token)
    return names


async def wait_until(predicate: Callable[[], Any], within: float = 20, interval: float = 0.2) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy; return that."""
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)
