"""server/observability.py ``Metrics``: each instance owns its registry and renders the Prometheus text format."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text.decode()) for s in family.samples}


def test_renders_what_was_counted() -> None:
    from server.observability import Metrics

    metrics = Metrics()
    metrics.http_requests.labels(method="GET", route="/health/live", status="200").inc(3)
    metrics.ws_connections.set(2)
    metrics.ttft.observe(0.2)
    rendered = samples(metrics.render())
    key = ("abparts_http_requests_total", (("method", "GET"), ("route", "/health/live"), ("status", "200")))
    assert rendered[key] == 3
    assert rendered[("abparts_ws_connections", ())] == 2
    assert rendered[("abparts_time_to_first_token_seconds_count", ())] == 1
    assert rendered[("abparts_time_to_first_token_seconds_bucket", (("le", "0.25"),))] == 1
    assert rendered[("abparts_time_to_first_token_seconds_bucket", (("le", "0.1"),))] == 0


def test_instances_do_not_share_state() -> None:
    from server.observability import Metrics

    first, second = Metrics(), Metrics()  # a module-level metric would raise "Duplicated timeseries" here
    first.turns.labels(mode="llm", status="ok").inc()
    assert ("abparts_turns_total", (("mode", "llm"), ("status", "ok"))) in samples(first.render())
    assert ("abparts_turns_total", (("mode", "llm"), ("status", "ok"))) not in samples(second.render())


def test_a_given_registry_is_used() -> None:
    from server.observability import Metrics

    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.feedback.labels(rating="down").inc()
    assert metrics.registry is registry
    assert registry.get_sample_value("abparts_feedback_total", {"rating": "down"}) == 1


def test_every_series_has_the_prefix_or_is_the_process_collector() -> None:
    from server.observability import Metrics

    names = {family.name for family in text_string_to_metric_families(Metrics().render().decode())}
    assert any(name.startswith("process_") for name in names)  # CPU and memory for the alerts
    assert {n for n in names if not n.startswith(("abparts_", "process_"))} == set()
    assert len([n for n in names if n.startswith("abparts_")]) >= 40
