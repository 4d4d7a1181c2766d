"""A metric the service declares but never changes is a dashboard line and an alert that can never
move: every metric of ``Metrics`` is incremented, set or observed somewhere in the code."""

from __future__ import annotations

import ast
import re

from tests.deploy.conftest import ROOT

OBSERVABILITY = ROOT / "server" / "observability.py"
CHANGES = r"(?:\s*\.labels\((?:[^()]|\([^()]*\))*\))?\s*\.(?:inc|dec|set|observe)\("


def declared() -> dict[str, str]:
    """attribute -> metric name, from the assignments in ``Metrics.__init__``."""
    tree = ast.parse(OBSERVABILITY.read_text())
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and node.value.args:
            target = node.targets[0]
            first = node.value.args[0]
            if isinstance(target, ast.Attribute) and isinstance(first, ast.BinOp) and isinstance(first.right, ast.Constant):
                out[target.attr] = "abparts_" + str(first.right.value)
    return out


def code() -> str:
    files = [p for d in ("core", "server", "knowledge") for p in (ROOT / d).rglob("*.py") if p != OBSERVABILITY]
    return "\n".join(p.read_text() for p in files)


def test_every_declared_metric_is_changed_by_the_code():
    metrics = declared()
    assert len(metrics) > 30 and "db_errors" in metrics and "jobs" in metrics
    text = code()
    # a multi-line call (``.labels(...)\n.inc()``) is joined first
    text = re.sub(r"\)\s*\n\s*\.", ").", text)
    dead = sorted(name for attr, name in metrics.items() if not re.search(rf"\.{attr}{CHANGES}", text))
    assert not dead, f"declared in server/observability.py but never incremented, set or observed: {dead}"


def test_the_check_finds_a_dead_metric():
    text = "self._metrics.db_errors.labels('http').inc()\nmetrics.jobs.labels(a, b)\n"
    assert re.search(rf"\.db_errors{CHANGES}", text)
    assert not re.search(rf"\.jobs{CHANGES}", text), "a .labels() without a change does not count"
