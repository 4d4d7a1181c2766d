"""Shared fixtures: real PostgreSQL (pgvector), real Redis, the scripted LLM provider, real servers."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from core.db import migrate, open_pool
from core.embedded import embedded_postgres, embedded_redis
from core.settings import Settings
from server.auth import mint_token
from server.protocol import CLIENT_FRAMES
from server.storage.schema import MIGRATIONS
from testkit.scripted_llm import ScriptedLLM, ThreadedServer
from testkit.servers import running_server as _running_server

TEST_SECRET = "test-secret-for-the-suite-0123456789"
TEST_AUDIENCE = "abparts-assistant-tests"
TEST_ISSUER = "https://host.tests.invalid"
TEST_FERNET_KEY = "x0pQ8e3yBcKsG1r3PZ8mbtc0Hrpw3ygeJ9jVHIm5wGA="
# Every test client comes from 127.0.0.1, shares one Redis and often reuses a user name within a
# minute, so the suite's servers get budgets no test reaches; tests/server/test_security.py sets the
# real ones and checks each refusal.
GENEROUS = 1_000_000
SUITE_LIMITS: dict[str, Any] = dict(
    http_requests_per_minute_per_address=GENEROUS, http_requests_per_minute_per_user=GENEROUS,
    ws_frames_per_minute_per_address=GENEROUS, ws_connections_per_user=1000, transcriptions_per_minute=GENEROUS,
    ws_frame_limits=tuple(f"{name}={GENEROUS}" for name in CLIENT_FRAMES if name != "message"),
)
# what ENV=production requires on top of the test settings (the suite's tokens carry this aud and iss)
PRODUCTION = dict(env="production", jwt_audience=TEST_AUDIENCE, jwt_issuer=TEST_ISSUER,
                  conversation_encryption_key=TEST_FERNET_KEY)
TEMPLATE_DB = "abparts_template"


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Embedded PostgreSQL 18 + pgvector for the whole run; yields the DSN of its template database."""
    directory = tmp_path_factory.mktemp("pg") / "data"
    with embedded_postgres(directory, database=TEMPLATE_DB, cleanup="delete") as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def _migrated_template(pg_server: str) -> str:
    pool = await open_pool(pg_server, min_size=1, max_size=2)
    try:
        await migrate(pool, MIGRATIONS)
    finally:
        await pool.close()
    return pg_server


@pytest.fixture
async def database_url(_migrated_template: str) -> str:
    """A fresh database with every migration applied (cloned from a migrated template)."""
    name = "t_" + uuid.uuid4().hex[:16]
    conn = await asyncpg.connect(_migrated_template.replace(f"/{TEMPLATE_DB}?", "/postgres?"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    finally:
        await conn.close()
    return _migrated_template.replace(f"/{TEMPLATE_DB}?", f"/{name}?")


@pytest.fixture
async def db_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await open_pool(database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with embedded_redis(tmp_path_factory.mktemp("redis"), persist=False) as url:
        yield url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    await client.flushall()
    yield client
    await client.aclose()


class LLMServer:
    def __init__(self, llm: ScriptedLLM, url: str) -> None:
        self.llm = llm
        self.url = url
        self.base_url = url + "/v1"


@pytest.fixture(scope="session")
def _llm_session() -> Iterator[LLMServer]:
    llm = ScriptedLLM()
    with ThreadedServer(llm.app()) as server:
        yield LLMServer(llm, server.url)


@pytest.fixture
def llm_server(_llm_session: LLMServer) -> LLMServer:
    """The scripted OpenAI-compatible provider, with an empty script and request log."""
    _llm_session.llm.reset()
    return _llm_session


@pytest.fixture
def settings_factory(database_url: str, redis_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test server: fresh database, shared Redis, test secret, quiet defaults, ENV=development
    (pass ``**PRODUCTION`` for a production server; ``strict=False`` for settings the service would refuse)."""

    def make(*, strict: bool = True, **overrides: Any) -> Settings:
        base: dict[str, Any] = dict(
            **SUITE_LIMITS, env="development", database_url=database_url, redis_url=redis_url, data_dir=tmp_path / "data", jwt_secret=TEST_SECRET,
            port=0, kb_seed_samples=False, voice_enabled=False, require_grounding=False, log_level="info", shutdown_drain_seconds=5.0,
        )
        base.update(overrides)
        return Settings(strict=strict, **base)

    return make


@pytest.fixture
def llm_settings(settings_factory, llm_server):
    """Settings for a server whose provider is the scripted LLM (primary + fallback models)."""

    def make(**kw):
        base = dict(openai_base_url=llm_server.base_url, openai_api_key="test-key", openai_model="primary",
                    openai_fallback_model="fallback", llm_max_retries=2, llm_backoff_seconds=0.01,
                    llm_timeout_seconds=5)
        base.update(kw)
        return settings_factory(**base)

    return make


SERVER_LOGS = pytest.StashKey[list[Path]]()


@pytest.fixture
def running_server(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``async with running_server(settings) as srv:`` a real uvicorn subprocess (srv.url, srv.ws_url).
    A failing test's report ends with the tail of each server's log."""
    logs = request.node.stash.setdefault(SERVER_LOGS, [])

    @contextlib.asynccontextmanager
    async def start(settings: Settings, **kw: Any) -> AsyncIterator[Any]:
        async with _running_server(settings, **kw) as handle:
            logs.append(handle.log_path)
            yield handle

    return start


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        for path in item.stash.get(SERVER_LOGS, []):
            report.sections.append((f"server log {path.name} (last lines, without access lines)",
                                    server_log_tail(path)))
    return report


def server_log_tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(unreadable: {exc})"
    kept = [line[:400] for line in text.splitlines() if '"http.access"' not in line and "/health" not in line]
    return "\n".join(kept[-lines:])


@pytest.fixture
def make_token() -> Callable[..., str]:
    def make(user: str | None = None, *, role: str = "operator", lang: str = "en",
             machines: list[str] | None = None, ttl: int = 3600, secret: str = TEST_SECRET, name: str = "") -> str:
        user = user or "u-" + uuid.uuid4().hex[:8]
        # aud and iss are always there: a development server ignores them, a production one requires them
        return mint_token(Settings(env="development", jwt_secret=secret, jwt_audience=TEST_AUDIENCE,
                                   jwt_issuer=TEST_ISSUER), user_id=user, name=name or user, role=role, lang=lang,
                          machines=machines or [], ttl_seconds=ttl)

    return make
