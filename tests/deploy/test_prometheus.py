"""Prometheus configuration, alert rules and the Grafana dashboard, checked against a running app."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from testkit.scripted_llm import free_port
from tests.deploy.conftest import (
    ROOT,
    exported_metric_names,
    promql_metric_names,
    substitute,
    tool,
    wait_until,
)

PROM_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboard.json"

REQUIRED_ALERTS = {
    "AIAssistantDown", "AIAssistantReplicaDown", "HighErrorRate", "SlowResponses", "LLMProviderFailures",
    "LLMFallbackInUse", "LLMRateLimitApproaching", "DatabasePoolExhausted", "DatabaseSlow", "RedisDown",
    "HighCPU", "HighMemory", "HighEscalationRate", "IngestionJobsFailing", "VoiceQueueSaturated",
}
# Alerts with a unit test in alerts_test.yml (the main ones).
TESTED_ALERTS = {
    "AIAssistantDown", "AIAssistantReplicaDown", "HighErrorRate", "SlowResponses", "LLMProviderFailures",
    "LLMRateLimitApproaching", "RedisDown", "DatabasePoolExhausted", "VoiceQueueSaturated", "HighEscalationRate",
    "IngestionJobsFailing", "HighCPU",
}
ALWAYS_PRESENT = {"up"}  # series Prometheus itself adds to every target


def promtool(*args: str, cwd: Path = PROM_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def alert_rules() -> list[dict]:
    doc = yaml.safe_load((PROM_DIR / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    # label_values(<selector>, <label>): the selector is PromQL, the label is not a metric
    exprs += [v["query"]["query"].removeprefix("label_values(").rsplit(",", 1)[0]
              for v in board["templating"]["list"] if isinstance(v.get("query"), dict)]
    return exprs


@pytest.fixture
async def app_metrics(replica_settings, running_server) -> str:
    """The /metrics page of a real running replica."""
    async with running_server(replica_settings()) as srv, httpx.AsyncClient() as http:
        response = await http.get(srv.url + "/metrics")
    assert response.status_code == 200
    return response.text


def test_promtool_check_config_and_rules():
    config = promtool("check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr
    assert "SUCCESS" in config.stdout
    rules = promtool("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_promtool_rule_unit_tests():
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rule_unit_tests_fail_when_an_alert_is_broken(tmp_path):
    """The unit tests can fail: raise the error-rate threshold and its test no longer passes."""
    shutil.copy(PROM_DIR / "alerts_test.yml", tmp_path)
    broken = (PROM_DIR / "alerts.yml").read_text().replace(
        "clamp_min(sum(rate(abparts_http_requests_total[5m])), 1e-9) > 0.05",
        "clamp_min(sum(rate(abparts_http_requests_total[5m])), 1e-9) > 0.5")
    (tmp_path / "alerts.yml").write_text(broken)
    result = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0 and "HighErrorRate" in result.stdout + result.stderr


def test_every_required_alert_exists_and_the_main_ones_are_unit_tested():
    names = {r["alert"] for r in alert_rules()}
    assert REQUIRED_ALERTS <= names, REQUIRED_ALERTS - names
    tests = yaml.safe_load((PROM_DIR / "alerts_test.yml").read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t["alert_rule_test"]}
    assert TESTED_ALERTS <= tested, TESTED_ALERTS - tested
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["runbook"].startswith("docs/OPERATIONS_RUNBOOK.md#"), rule["alert"]


def test_runbook_has_every_section_alerts_link_to():
    runbook = (ROOT / "docs" / "OPERATIONS_RUNBOOK.md").read_text()
    anchors = {_anchor(line) for line in runbook.splitlines() if line.startswith("#")}
    for rule in alert_rules():
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert anchor in anchors, f"{rule['alert']} links to missing runbook section #{anchor}"


def _anchor(heading: str) -> str:
    text = heading.lstrip("#").strip().lower()
    return "".join(c if c.isalnum() or c in "-_" else "-" if c == " " else "" for c in text)


async def test_alerts_and_dashboard_query_only_exported_metrics(app_metrics):
    exported = exported_metric_names(app_metrics) | ALWAYS_PRESENT
    for rule in alert_rules():
        unknown = promql_metric_names(rule["expr"]) - exported
        assert not unknown, f"alert {rule['alert']} queries metrics the app does not export: {unknown}"
    for expr in dashboard_exprs():
        unknown = promql_metric_names(expr) - exported
        assert not unknown, f"dashboard query {expr!r} uses metrics the app does not export: {unknown}"


async def test_dashboard_has_a_panel_for_every_metric_family(app_metrics):
    board = json.loads(DASHBOARD.read_text())
    assert {"datasource", "instance"} <= {v["name"] for v in board["templating"]["list"]}
    assert next(v for v in board["templating"]["list"] if v["name"] == "datasource")["type"] == "datasource"
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    used = set().union(*(promql_metric_names(e) for e in dashboard_exprs()))
    families = {line.split()[2] for line in app_metrics.splitlines() if line.startswith("# TYPE ")}
    for family in sorted(families):
        if family.endswith("_created"):
            continue  # creation timestamps of unlabelled counters/histograms, not a family of their own
        series = {family, family + "_total", family + "_bucket"}
        assert series & used, (f"no dashboard panel shows {family}: add one to ROWS in "
                               "deploy/grafana/build_dashboard.py and run it")


def test_dashboard_file_is_what_the_generator_writes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_dashboard", ROOT / "deploy" / "grafana" / "build_dashboard.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    assert json.loads(DASHBOARD.read_text()) == module.build()


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard():
    ds = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert ds["datasources"][0]["type"] == "prometheus"
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"
    boards = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/abparts.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.prod.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    target = boards["providers"][0]["options"]["path"]
    assert any(m.startswith("./deploy/grafana/dashboard.json:" + target + "/") for m in mounts)


def prometheus_config(app: str, port: int) -> str:
    """deploy/prometheus/prometheus.yml with only the app's address, Prometheus's own port and the
    intervals (1 s) changed."""
    return substitute((PROM_DIR / "prometheus.yml").read_text(), [
        ('targets: ["app1:8000", "app2:8000"]', f'targets: ["{app}"]'),
        ('targets: ["localhost:9090"]', f'targets: ["127.0.0.1:{port}"]'),
        ("scrape_interval: 15s", "scrape_interval: 1s"),
        ("evaluation_interval: 15s", "evaluation_interval: 1s"),
        ("scrape_timeout: 10s", "scrape_timeout: 1s"),
    ])


async def test_real_prometheus_scrapes_a_running_app(replica_settings, running_server, tmp_path):
    """Prometheus (Debian) with deploy/prometheus/prometheus.yml and alerts.yml, only the target address,
    its own port and the intervals changed: the app's target is up and its series are queryable."""
    binary = tool("prometheus")
    async with running_server(replica_settings()) as srv:
        port = free_port()
        (tmp_path / "prometheus.yml").write_text(prometheus_config(f"{srv.settings.host}:{srv.settings.port}", port))
        shutil.copy(PROM_DIR / "alerts.yml", tmp_path / "alerts.yml")
        proc = await asyncio.to_thread(_start_prometheus, binary, tmp_path, port)
        api = f"http://127.0.0.1:{port}/api/v1"
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                async def app_target_up() -> dict | None:
                    try:
                        targets = (await http.get(api + "/targets")).json()["data"]["activeTargets"]
                    except (httpx.HTTPError, ValueError, KeyError):
                        return None
                    mine = [t for t in targets if t["labels"]["job"] == "abparts-assistant"]
                    return mine[0] if mine and mine[0]["health"] == "up" else None

                target = await wait_until(app_target_up, within=60, interval=0.5)
                assert target["scrapeUrl"] == f"{srv.url}/metrics"

                async def series(query: str) -> list:
                    result = (await http.get(api + "/query", params={"query": query})).json()["data"]["result"]
                    return result

                up = await wait_until(lambda: series('up{job="abparts-assistant"}'), within=30)
                assert up[0]["value"][1] == "1"
                assert await wait_until(lambda: series('process_resident_memory_bytes{job="abparts-assistant"}'), within=30)
                rules = (await http.get(api + "/rules")).json()["data"]["groups"]
                loaded = {r["name"] for g in rules for r in g["rules"]}
                assert REQUIRED_ALERTS <= loaded

                async def down_alerts() -> list:
                    alerts = (await http.get(api + "/alerts")).json()["data"]["alerts"]
                    return [a for a in alerts if a["labels"]["alertname"] in ("AIAssistantDown", "AIAssistantReplicaDown")]

                # before the first scrape `absent(up)` may make AIAssistantDown pending; once the target
                # is scraped up, no "down" alert stays active
                await wait_until(lambda: _negate(down_alerts()), within=30)
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 20)


def _start_prometheus(binary: str, directory: Path, port: int) -> subprocess.Popen[bytes]:
    with open(directory / "prometheus.log", "wb") as log:
        return subprocess.Popen([binary, f"--config.file={directory / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={directory / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT)


async def _negate(coro) -> bool:
    return not await coro
