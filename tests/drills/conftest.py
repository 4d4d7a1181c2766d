"""Fault drills: real processes (uvicorn replicas, PostgreSQL, redis-server) broken on purpose.

Each drill writes the figures it measured to tests/artifacts/drills/<name>.json (docs/reliability.md
reports them); the assertions are about what was lost, never about how fast it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "drills"


@pytest.fixture
def record_figures() -> Callable[[str, dict[str, Any]], None]:
    """``record_figures("redis_outage", {...})``: keep a drill's measurements for the reliability report."""

    def record(name: str, figures: dict[str, Any]) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
        print(f"\n{name}: {json.dumps(figures, sort_keys=True)}")

    return record
