"""`python -m server check-config` against real services: each failure reported on its own clear line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

import pytest

from testkit.scripted_llm import free_port
from tests.deploy.conftest import ROOT

DEBIAN_PG = "postgresql://postgres@127.0.0.1:5432/postgres"  # Debian's PostgreSQL 15: no pgvector package


def run_check_config(settings: Any, *args: str) -> tuple[int, dict[str, tuple[str, str]], str]:
    """Run the real command with the settings as environment; parse `OUTCOME name detail` lines."""
    env = {**os.environ, **settings.to_env()}
    result = subprocess.run([sys.executable, "-m", "server", "check-config", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    lines: dict[str, tuple[str, str]] = {}
    for line in result.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] in ("OK", "WARN", "FAIL", "SKIP"):
            lines[parts[1]] = (parts[0], parts[2])
    return result.returncode, lines, result.stdout + result.stderr


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on loopback."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    controller = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def good_settings(settings_factory, llm_server, smtp_server, tmp_path):
    def make(**kw: Any) -> Any:
        base = dict(openai_base_url=llm_server.base_url, openai_api_key="test-key", openai_model="primary",
                    openai_fallback_model="fallback", smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                    smtp_security="none", port=free_port(), data_dir=tmp_path / "data")
        base.update(kw)
        return settings_factory(**base)

    return make


def test_everything_reachable_passes(good_settings):
    code, lines, output = run_check_config(good_settings())
    assert code == 0, output
    assert lines["postgres"][0] == "OK" and "pgvector" in lines["postgres"][1]
    assert lines["redis"][0] == "OK"
    assert lines["llm"] == ("OK", lines["llm"][1]) and "primary" in lines["llm"][1]
    assert lines["llm-fallbk"][0] == "OK" and "fallback" in lines["llm-fallbk"][1]
    assert lines["smtp"][0] == "OK"
    assert lines["disk"][0] in ("OK", "WARN") and "GiB free" in lines["disk"][1]
    assert lines["port"][0] == "OK"
    assert "check-config: passed" in output


def test_no_database(good_settings):
    dead = free_port()
    code, lines, output = run_check_config(good_settings(database_url=f"postgresql://app:s3cret@127.0.0.1:{dead}/abparts"))
    assert code == 1
    outcome, detail = lines["postgres"]
    assert outcome == "FAIL" and "cannot connect" in detail and f"127.0.0.1:{dead}" in detail
    assert "s3cret" not in output, "the password is never printed"
    assert lines["redis"][0] == "OK", "the other checks still run and report"


def test_postgres_without_pgvector(good_settings):
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        pytest.skip("Debian's PostgreSQL (no pgvector) is not running on 127.0.0.1:5432")
    code, lines, _ = run_check_config(good_settings(database_url=DEBIAN_PG))
    assert code == 1
    outcome, detail = lines["postgres"]
    assert outcome == "FAIL" and "no pgvector extension available" in detail


def test_redis_down(good_settings):
    code, lines, _ = run_check_config(good_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    assert code == 1
    outcome, detail = lines["redis"]
    assert outcome == "FAIL" and "cannot reach" in detail
    assert lines["postgres"][0] == "OK"


def test_bad_llm_key(good_settings):
    code, lines, output = run_check_config(good_settings(openai_api_key="bad-key"))
    assert code == 1
    outcome, detail = lines["llm"]
    assert outcome == "FAIL" and "authentication failed" in detail and "401" in detail and "OPENAI_API_KEY" in detail
    assert "bad-key" not in output


def test_llm_unreachable_and_port_taken(good_settings):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, lines, _ = run_check_config(good_settings(openai_base_url=f"http://127.0.0.1:{free_port()}/v1", port=port))
    assert code == 1
    assert lines["llm"][0] == "FAIL" and "cannot reach" in lines["llm"][1]
    assert lines["port"] == ("FAIL", f"127.0.0.1:{port} is already in use")


def test_smtp_down_and_production_variables(good_settings):
    settings = good_settings(smtp_port=free_port(), env="production", jwt_secret="x" * 40, root_path="/ai",
                             conversation_encryption_key="not-a-fernet-key")
    code, lines, _ = run_check_config(settings)
    assert code == 1
    assert lines["smtp"][0] == "FAIL" and "cannot talk to" in lines["smtp"][1]
    assert lines["variables"][0] == "FAIL" and "CONVERSATION_ENCRYPTION_KEY" in lines["variables"][1]


def test_speech_model_checks(good_settings, tmp_path):
    missing = tmp_path / "no-such-model"
    code, lines, _ = run_check_config(good_settings(voice_enabled=True, whisper_model=str(missing)))
    assert code == 1
    assert lines["voice"][0] == "FAIL" and str(missing) in lines["voice"][1]
    code, lines, output = run_check_config(good_settings(voice_enabled=True, whisper_cache_dir=tmp_path / "whisper"))
    assert code == 0, output
    assert lines["voice"][0] == "OK" and "bundled Whisper base model" in lines["voice"][1]


def test_embeddings_endpoint_checked_when_remote(good_settings, llm_server):
    code, lines, _ = run_check_config(good_settings(embedder="openai", embedding_model="text-embedding-3-small",
                                                    embedding_base_url=f"http://127.0.0.1:{free_port()}/v1"))
    assert code == 1
    assert lines["embedder"][0] == "FAIL" and "cannot reach" in lines["embedder"][1]
    code, lines, _ = run_check_config(good_settings())
    assert lines["embedder"][0] == "OK" and "local" in lines["embedder"][1]
