"""`python -m server check-config` against real services: each failure reported on its own clear line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

import pytest

from testkit.scripted_llm import free_port
from tests.conftest import PRODUCTION
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
    settings = good_settings(smtp_port=free_port(), **{**PRODUCTION, "conversation_encryption_key": "not-a-fernet-key"},
                             jwt_secret="x" * 40, root_path="/ai", strict=False)
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


# -- the host database mapping and the webhook targets ------------------------------------------------

@pytest.fixture
async def host_db(database_url):
    """A database holding the sample host schema (what a host app's database looks like to us)."""
    from core.db import open_pool
    from server.support.host_demo import install_host_demo

    pool = await open_pool(database_url, min_size=1, max_size=2)
    try:
        await install_host_demo(pool)
    finally:
        await pool.close()
    return database_url


def test_host_database_and_its_mapping(good_settings, host_db, tmp_path):
    code, lines, output = run_check_config(good_settings(host_database_url=host_db))
    assert code == 0, output
    assert lines["host_db"][0] == "OK" and "machine, maintenance, parts, service_intervals, models" in lines["host_db"][1]
    mapping = (ROOT / "server/support/host_demo/mapping.yaml").read_text()
    wrong_column = tmp_path / "wrong-column.yaml"
    wrong_column.write_text(mapping.replace("operating_hours AS hours", "operating_hours"))
    code, lines, _ = run_check_config(good_settings(host_database_url=host_db, host_schema_mapping=wrong_column))
    assert code == 1
    assert lines["host_db"][0] == "FAIL" and "machine: returns no column hours" in lines["host_db"][1]
    wrong_table = tmp_path / "wrong-table.yaml"
    wrong_table.write_text(mapping.replace("FROM host_demo.part_usage", "FROM host_demo.parts_used"))
    code, lines, _ = run_check_config(good_settings(host_database_url=host_db, host_schema_mapping=wrong_table))
    assert code == 1
    assert lines["host_db"][0] == "FAIL" and "parts: UndefinedTableError" in lines["host_db"][1]


def test_production_without_host_database_says_machine_context_is_off(good_settings):
    settings = good_settings(**PRODUCTION, jwt_secret="x" * 40, strict=False)
    _, lines, _ = run_check_config(settings)
    assert lines["host_db"] == ("WARN", lines["host_db"][1]) and "machine context is off" in lines["host_db"][1]


def test_webhook_targets(good_settings):
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        up = f"http://127.0.0.1:{listening.getsockname()[1]}/hook?token=abc"
        code, lines, output = run_check_config(good_settings(webhook_urls=(up,), webhook_secret="s" * 40))
        assert lines["webhooks"][0] == "WARN" and "accepts connections (plain http)" in lines["webhooks"][1]
        assert "token=abc" not in output, "no query string (it may hold a key) is printed"
        settings = good_settings(webhook_urls=(up,), webhook_secret="s" * 40, **PRODUCTION, jwt_secret="x" * 40,
                                 strict=False)
        _, lines, _ = run_check_config(settings)
        assert lines["webhooks"][0] == "FAIL" and "plain http in production" in lines["webhooks"][1]
    down = f"http://127.0.0.1:{free_port()}/hook"
    code, lines, _ = run_check_config(good_settings(webhook_urls=(down,), webhook_secret="s" * 40))
    assert code == 1 and lines["webhooks"][0] == "FAIL" and "cannot connect" in lines["webhooks"][1]
    code, _, output = run_check_config(good_settings(webhook_urls=(down,), webhook_secret="", strict=False))
    assert code == 1 and "WEBHOOK_SECRET empty: receivers could not verify the webhooks" in output
