"""Generate deploy/grafana/dashboard.json (run: python deploy/grafana/build_dashboard.py).

The dashboard is data: one row per area, one panel per metric family the service exports. Edit the
tables below, not the JSON. tests/deploy checks that every family the app exports appears in a panel
and that every metric a panel queries is one the app exports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'job="abparts-assistant", instance=~"$instance"'


def rate(metric: str, by: str = "", extra: str = "") -> str:
    sel = SEL + (", " + extra if extra else "")
    group = f" by ({by})" if by else ""
    return f"sum{group} (rate({metric}{{{sel}}}[$__rate_interval]))"


def quantiles(metric: str) -> list[tuple[str, str]]:
    return [(f'histogram_quantile({q}, sum by (le) (rate({metric}_bucket{{{SEL}}}[$__rate_interval])))', f"p{int(q * 100)}")
            for q in (0.5, 0.95, 0.99)]


# (row title, [(panel title, unit, kind, [(expr, legend)])])
ROWS: list[tuple[str, list[tuple[str, str, str, list[tuple[str, str]]]]]] = [
    ("Traffic", [
        ("HTTP requests by status", "reqps", "timeseries", [(rate("abparts_http_requests_total", "status"), "{{status}}")]),
        ("HTTP latency", "s", "timeseries", quantiles("abparts_http_request_duration_seconds")),
        ("HTTP 5xx ratio", "percentunit", "timeseries", [(
            rate("abparts_http_requests_total", extra='status=~"5.."') + " / clamp_min("
            + rate("abparts_http_requests_total") + ", 1e-9)",
            "5xx")]),
        ("WebSocket connections and active sessions", "short", "timeseries", [
            (f"sum(abparts_ws_connections{{{SEL}}})", "connections"),
            (f"sum(abparts_active_sessions{{{SEL}}})", "active sessions")]),
        ("WebSocket connects by outcome", "ops", "timeseries", [(rate("abparts_ws_connects_total", "outcome"), "{{outcome}}")]),
        ("Frames sent / received by type", "ops", "timeseries", [
            (rate("abparts_ws_frames_sent_total", "type"), "sent {{type}}"),
            (rate("abparts_ws_frames_received_total", "type"), "received {{type}}")]),
        ("WebSocket errors, slow clients, replays", "ops", "timeseries", [
            (rate("abparts_ws_errors_total", "code"), "error {{code}}"),
            (rate("abparts_ws_slow_clients_total"), "slow clients closed"),
            (rate("abparts_replayed_frames_total"), "frames replayed")]),
    ]),
    ("Conversations", [
        ("Answers by mode and status", "ops", "timeseries", [(rate("abparts_turns_total", "mode, status"), "{{mode}} {{status}}")]),
        ("Time to first answer text", "s", "timeseries", quantiles("abparts_time_to_first_token_seconds")),
        ("Answer duration", "s", "timeseries", quantiles("abparts_turn_duration_seconds")),
        ("Chunks streamed, duplicates, rate-limited", "ops", "timeseries", [
            (rate("abparts_tokens_streamed_total"), "chunks streamed"),
            (rate("abparts_duplicate_messages_total"), "duplicate messages"),
            (rate("abparts_rate_limited_total", "scope"), "rate limited {{scope}}")]),
    ]),
    ("Language model", [
        ("LLM calls by model and outcome", "ops", "timeseries", [(rate("abparts_llm_calls_total", "model, outcome"), "{{model}} {{outcome}}")]),
        ("LLM errors, retries, fallbacks", "ops", "timeseries", [
            (rate("abparts_llm_errors_total", "model, kind"), "error {{model}} {{kind}}"),
            (rate("abparts_llm_retries_total", "model"), "retry {{model}}"),
            (rate("abparts_llm_fallbacks_total"), "fallback")]),
        ("LLM tokens", "short", "timeseries", [(rate("abparts_llm_tokens_total", "model, kind"), "{{model}} {{kind}}")]),
        ("LLM cost (selected range)", "currencyUSD", "stat", [
            (f"sum(increase(abparts_llm_cost_usd_total{{{SEL}}}[$__range]))", "USD")]),
        ("LLM time to first token", "s", "timeseries", quantiles("abparts_llm_time_to_first_token_seconds")),
        ("LLM rate limit remaining", "short", "timeseries", [
            (f"min by (model) (abparts_llm_ratelimit_remaining_requests{{{SEL}}})", "{{model}}")]),
        ("Retrieval-only answers", "ops", "timeseries", [(rate("abparts_retrieval_only_answers_total", "reason"), "{{reason}}")]),
    ]),
    ("Knowledge base", [
        ("Retrieval latency", "s", "timeseries", quantiles("abparts_retrieval_duration_seconds")),
        ("Questions the manuals did not cover", "ops", "timeseries", [(rate("abparts_not_covered_total"), "not covered")]),
        ("Ingestion jobs by outcome", "ops", "timeseries", [(rate("abparts_kb_ingestion_jobs_total", "outcome"), "{{outcome}}")]),
        ("Chunks in the knowledge base", "short", "stat", [(f"max(abparts_kb_chunks{{{SEL}}})", "chunks")]),
        ("Query embeddings per model call", "short", "timeseries", quantiles("abparts_kb_query_batch_size")),
    ]),
    ("Storage and health", [
        ("PostgreSQL pool", "short", "timeseries", [
            (f"sum by (instance, state) (abparts_db_pool_connections{{{SEL}}})", "{{instance}} {{state}}")]),
        ("PostgreSQL and Redis errors", "ops", "timeseries", [
            (rate("abparts_db_errors_total", "operation"), "db {{operation}}"),
            (rate("abparts_redis_errors_total", "operation"), "redis {{operation}}"),
            (rate("abparts_db_pool_timeouts_total", "pool"), "pool wait time-out {{pool}}")]),
        ("Component health (1 healthy, 0.5 degraded, 0 unhealthy)", "short", "timeseries", [
            (f"min by (component) (abparts_component_up{{{SEL}}})", "{{component}}")]),
        ("Degraded-mode events", "ops", "timeseries", [(rate("abparts_degraded_events_total", "component"), "{{component}}")]),
    ]),
    ("Support and jobs", [
        ("Background jobs", "ops", "timeseries", [(rate("abparts_jobs_total", "task, outcome"), "{{task}} {{outcome}}")]),
        ("Escalations by trigger", "ops", "timeseries", [(rate("abparts_escalations_total", "trigger"), "{{trigger}}")]),
        ("Support notifications", "ops", "timeseries", [(rate("abparts_notifications_total", "channel, outcome"), "{{channel}} {{outcome}}")]),
        ("Answer feedback", "ops", "timeseries", [(rate("abparts_feedback_total", "rating"), "{{rating}}")]),
    ]),
    ("Voice", [
        ("Transcriptions by outcome", "ops", "timeseries", [(rate("abparts_voice_transcriptions_total", "outcome"), "{{outcome}}")]),
        ("Voice refusals and failures by code", "ops", "timeseries", [(rate("abparts_voice_failures_total", "code"), "{{code}}")]),
        ("Audio transcribed", "s", "timeseries", [(rate("abparts_voice_audio_seconds_total"), "audio seconds / s")]),
        ("Real-time factor", "short", "timeseries", quantiles("abparts_voice_real_time_factor")),
        ("Voice queue depth", "short", "timeseries", [(f"max by (instance) (abparts_voice_queue_depth{{{SEL}}})", "{{instance}}")]),
    ]),
    ("Replicas", [
        ("Replicas up", "short", "stat", [(f"sum(up{{{SEL}}})", "up")]),
        ("CPU per replica", "percentunit", "timeseries", [
            (f"rate(process_cpu_seconds_total{{{SEL}}}[$__rate_interval])", "{{instance}}")]),
        ("Memory per replica", "bytes", "timeseries", [
            (f"process_resident_memory_bytes{{{SEL}}}", "{{instance}} resident"),
            (f"process_virtual_memory_bytes{{{SEL}}}", "{{instance}} virtual")]),
        ("Open file descriptors", "short", "timeseries", [
            (f"process_open_fds{{{SEL}}} / process_max_fds{{{SEL}}}", "{{instance}} used fraction")]),
        ("Uptime", "s", "stat", [(f"time() - max by (instance) (process_start_time_seconds{{{SEL}}})", "{{instance}}")]),
    ]),
]


def panel(pid: int, title: str, unit: str, kind: str, targets: list[tuple[str, str]], x: int, y: int) -> dict[str, Any]:
    return {
        "id": pid, "type": kind, "title": title, "datasource": DS,
        "gridPos": {"h": 8, "w": 8, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": [{"refId": chr(65 + i), "datasource": DS, "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(targets)],
    }


def build() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    pid, y = 1, 0
    for title, row in ROWS:
        panels.append({"id": pid, "type": "row", "title": title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid, y = pid + 1, y + 1
        for i, spec in enumerate(row):
            panels.append(panel(pid, *spec, x=(i % 3) * 8, y=y + (i // 3) * 8))
            pid += 1
        y += ((len(row) + 2) // 3) * 8
    return {
        "uid": "abparts-assistant",
        "title": "ABParts AI Assistant",
        "tags": ["abparts", "assistant"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "refresh": 1},
            {"name": "instance", "label": "Replica", "type": "query", "datasource": DS,
             "query": {"query": 'label_values(up{job="abparts-assistant"}, instance)', "refId": "instance"},
             "definition": 'label_values(up{job="abparts-assistant"}, instance)',
             "includeAll": True, "multi": True, "allValue": ".*", "current": {}, "refresh": 2, "hide": 0},
        ]},
        "annotations": {"list": []},
        "panels": panels,
    }


if __name__ == "__main__":
    target = Path(__file__).with_name("dashboard.json")
    target.write_text(json.dumps(build(), indent=2) + "\n")
    print(f"wrote {target}")
