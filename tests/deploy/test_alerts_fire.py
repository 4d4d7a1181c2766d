"""Every fault the alert rules describe, caused for real, makes its alert go pending or firing in a
real Prometheus (Debian's) scraping a real replica.

The replica runs with the scripted LLM provider, its own Redis (so the test can stop it), a webhook
target that refuses connections (so notification jobs fail) and its own PostgreSQL database (so the
test can break it). Prometheus loads a copy of deploy/prometheus/alerts.yml in which only the timing
changed: every ``for:`` is 0 s and every range is 2 minutes (the expressions and thresholds are the
production ones), scraping and evaluating each second."""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid

import asyncpg
import httpx
import pytest
import yaml

from core.embedded import redis_binary
from testkit.redis_server import redis_answers
from testkit.scripted_llm import free_port
from testkit.wsclient import ChatClient
from tests.deploy.conftest import ROOT, tool, wait_until
from tests.deploy.test_prometheus import PROM_DIR, _start_prometheus, prometheus_config

pytestmark = pytest.mark.slow

# what each phase of the test must set off
FAULT_ALERTS = {
    "llm errors and fallbacks": {"LLMFallbackInUse", "LLMProviderFailures", "RetrievalOnlyAnswers"},
    "slow answers": {"SlowFirstAnswerToken"},
    "escalation spike and failing jobs": {"HighEscalationRate", "BackgroundJobsFailing", "SupportNotificationsFailing"},
    "database errors": {"DatabaseErrors", "HighErrorRate"},
    "redis down": {"RedisDown"},
}


def fast_rules(text: str) -> str:
    """alerts.yml with the timing shortened and nothing else changed."""
    doc = yaml.safe_load(text)
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule["for"] = "0s"
            rule["expr"] = re.sub(r"\[\d+[smhd]\]", "[2m]", rule["expr"])
    return yaml.safe_dump(doc, sort_keys=False)


def test_fast_rules_change_only_the_timing():
    original = yaml.safe_load((PROM_DIR / "alerts.yml").read_text())
    fast = yaml.safe_load(fast_rules((PROM_DIR / "alerts.yml").read_text()))
    for g_orig, g_fast in zip(original["groups"], fast["groups"], strict=True):
        for a, b in zip(g_orig["rules"], g_fast["rules"], strict=True):
            assert re.sub(r"\[\d+[smhd]\]", "[R]", a["expr"]) == re.sub(r"\[\d+[smhd]\]", "[R]", b["expr"])
            assert a["labels"] == b["labels"] and b["for"] == "0s"


async def test_each_fault_sets_off_its_alert(replica_settings, running_server, llm_server, make_token, database_url,
                                            tmp_path):
    binary = tool("prometheus")
    llm = llm_server.llm
    closed = free_port()  # nothing listens here: every webhook delivery fails
    redis_port = free_port()
    redis = await asyncio.to_thread(subprocess.Popen, [redis_binary(), "--port", str(redis_port), "--bind", "127.0.0.1",
                                                       "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                                    stdout=subprocess.DEVNULL)
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    try:
        await wait_until(lambda: redis_answers(redis_port), within=20, interval=0.1)
        settings = replica_settings(redis_url=redis_url, llm_timeout_seconds=40, llm_max_retries=0,
                                    webhook_urls=(f"http://127.0.0.1:{closed}/hook",), webhook_secret="w" * 40,
                                    notify_retry_max_seconds=2.0, ready_cache_seconds=1.0)
        async with running_server(settings) as srv:
            port = free_port()
            (tmp_path / "prometheus.yml").write_text(prometheus_config(f"{srv.settings.host}:{srv.settings.port}", port))
            (tmp_path / "alerts.yml").write_text(fast_rules((PROM_DIR / "alerts.yml").read_text()))
            check = await asyncio.to_thread(subprocess.run, [tool("promtool"), "check", "rules", str(tmp_path / "alerts.yml")],
                                            capture_output=True, text=True, timeout=60)
            assert check.returncode == 0, check.stdout + check.stderr
            proc = await asyncio.to_thread(_start_prometheus, binary, tmp_path, port)
            api = f"http://127.0.0.1:{port}/api/v1"
            seen: dict[str, str] = {}
            try:
                async with httpx.AsyncClient(timeout=10) as http:
                    async def active() -> dict[str, str]:
                        try:
                            alerts = (await http.get(api + "/alerts")).json()["data"]["alerts"]
                        except (httpx.HTTPError, ValueError, KeyError):
                            return {}
                        return {a["labels"]["alertname"]: a["state"] for a in alerts}

                    async def expect(phase: str) -> None:
                        wanted = FAULT_ALERTS[phase]

                        async def reached() -> bool:
                            now = await active()
                            seen.update({k: v for k, v in now.items() if k in wanted})
                            return wanted <= set(now)

                        try:
                            await wait_until(reached, within=90, interval=1)
                        except AssertionError:
                            metrics = (await http.get(srv.url + "/metrics")).text
                            raise AssertionError(f"{phase}: {sorted(wanted - set(seen))} never pending or firing; "
                                                 f"active: {await active()}\n{_abparts(metrics)}") from None

                    async def target_up() -> bool:
                        try:
                            targets = (await http.get(api + "/targets")).json()["data"]["activeTargets"]
                        except (httpx.HTTPError, ValueError, KeyError):
                            return False
                        return any(t["labels"]["job"] == "abparts-assistant" and t["health"] == "up" for t in targets)

                    async def scraped(series: str) -> None:
                        """Wait until Prometheus holds ``series``: a labelled counter appears only at its
                        first increment, and increase() counts from its first scraped value, so each
                        burst below comes after one event has been scraped."""
                        async def present() -> bool:
                            try:
                                return bool((await http.get(api + "/query", params={"query": series})).json()["data"]["result"])
                            except (httpx.HTTPError, ValueError, KeyError):
                                return False

                        await wait_until(present, within=60, interval=0.5)

                    await wait_until(target_up, within=60, interval=0.5)
                    assert not {"LLMFallbackInUse", "DatabaseErrors", "RedisDown"} & set(await active())

                    # LLM errors and fallbacks: the primary fails (fallback answers), then both fail
                    # (answers from the manuals only)
                    llm.push(*[{"kind": "error", "status": 500, "model": "primary"} for _ in range(8)])
                    await _turns(srv, make_token, 1)
                    await scraped('abparts_llm_errors_total{model="primary"}')
                    await _turns(srv, make_token, 7)
                    llm.set_default({"kind": "error", "status": 500})
                    await _turns(srv, make_token, 1)
                    await scraped('abparts_retrieval_only_answers_total{reason!="not_configured"}')
                    await _turns(srv, make_token, 7)
                    await expect("llm errors and fallbacks")

                    # slow answers: the first words come after 11 s (the alert's threshold is 10 s)
                    llm.set_default({"kind": "stream", "text": "Check the fuse [1].", "ttft": 11.0, "interval": 0.0})
                    await _turns(srv, make_token, 3)
                    await expect("slow answers")

                    # an escalation spike; each notification's webhook fails and its job is retried
                    llm.set_default({"kind": "stream", "text": "Check the fuse [1].", "ttft": 0.0, "interval": 0.0})
                    await _turns(srv, make_token, 1, escalate=True)
                    await scraped("abparts_escalations_total")
                    await _turns(srv, make_token, 12, escalate=True)
                    await expect("escalation spike and failing jobs")

                    # database errors: a table the sessions API reads is gone (a bad migration)
                    conn = await asyncpg.connect(database_url)
                    try:
                        await conn.execute("ALTER TABLE sessions RENAME TO sessions_moved")
                    finally:
                        await conn.close()
                    token = make_token()
                    await http.get(srv.url + "/api/sessions", headers={"Authorization": f"Bearer {token}"})
                    await scraped('abparts_db_errors_total{operation="http"}')
                    for _ in range(30):
                        r = await http.get(srv.url + "/api/sessions", headers={"Authorization": f"Bearer {token}"})
                        assert r.status_code == 500 and "sessions_moved" not in r.text and "relation" not in r.text
                    await expect("database errors")

                    # Redis down: readiness turns degraded (still 200: the replica stays in service)
                    # and its report names no exception text
                    redis.terminate()
                    await asyncio.to_thread(redis.wait, 20)

                    async def redis_reported_down() -> dict | None:
                        r = await http.get(srv.url + "/health/ready")
                        body = r.json()
                        return body if body["components"]["redis"]["status"] == "unhealthy" else None

                    ready = await wait_until(redis_reported_down, within=30, interval=0.5)
                    assert ready["status"] == "degraded"
                    assert (await http.get(srv.url + "/health/ready")).status_code == 200
                    assert "refused" not in str(ready).lower() and "redis.sock" not in str(ready)
                    # traffic that needs Redis meets the outage (counted in abparts_redis_errors_total)
                    await _turns(srv, make_token, 4, expect_answer=False)
                    for _ in range(10):
                        await http.get(srv.url + "/health/ready")
                        await asyncio.sleep(0.5)
                    await expect("redis down")
            finally:
                proc.terminate()
                await asyncio.to_thread(proc.wait, 20)
    finally:
        if redis.poll() is None:
            redis.terminate()
            await asyncio.to_thread(redis.wait, 20)
    print("alerts seen:", seen)  # noqa: T201 - shown with -s: which state each alert reached
    assert set().union(*FAULT_ALERTS.values()) <= set(seen)


async def _turns(srv, make_token, count: int, *, escalate: bool = False, expect_answer: bool = True) -> None:
    """``count`` sessions, each asking one question (and escalating), at most four at a time."""
    gate = asyncio.Semaphore(4)

    async def one() -> None:
        async with gate:
            client = ChatClient(srv.ws_url, make_token())
            try:
                await client.connect()
                await client.ask("The brush motor stops after a minute " + uuid.uuid4().hex[:6])
                await client.until("done", timeout=90)
                if escalate:
                    await client.send({"type": "escalate", "reason": "still broken"})
                    await client.until("escalated", timeout=30)
            except Exception:
                if expect_answer:
                    raise
            finally:
                await client.close()

    await asyncio.gather(*(one() for _ in range(count)))



def _abparts(metrics: str) -> str:
    return "\n".join(line for line in metrics.splitlines() if line.startswith("abparts_") and not line.endswith(" 0.0"))


def test_rules_file_is_used_by_the_prometheus_config():
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    assert "alerts.yml" in config["rule_files"]
    assert (ROOT / "deploy" / "prometheus" / "alerts.yml").exists()
