"""The idle-connection and voice benchmarks' own logic: the compression figures and their report sections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import bench_idle, bench_voice


def _frames() -> list[str]:
    return [json.dumps({"type": "delta", "seq": n, "text": f"word{n} of the answer "}) for n in range(100)]


def test_compression_counts_wire_bytes_with_and_without_context() -> None:
    frames = _frames()
    figures = bench_idle.compression(frames)
    plain = sum(len(f.encode()) + 2 for f in frames)  # short frames: a 2-byte header each
    assert figures["bytes_uncompressed"] == plain
    # with context takeover the repeated keys cost almost nothing; every frame alone barely compresses
    assert figures["bytes_deflate"] < 0.5 * plain < figures["bytes_deflate_no_context_takeover"]
    assert figures["saved_bytes"] == plain - figures["bytes_deflate"]


def _idle_run(service: float, baseline: float, failed: int = 0) -> dict[str, Any]:
    points = lambda kib: [{"connections": n, "rss_mb": 100 + n * kib / 1024, "kib_per_connection": kib}  # noqa: E731
                          for n in (1000, 5000, 10000)]
    return {"levels": [1000, 5000, 10000], "service": {"points": points(service), "failed": failed},
            "service_deflate": {"points": points(service + 42), "failed": 0},
            "baseline": {"points": points(baseline), "failed": 0}, "kib_per_connection": service,
            "baseline_kib_per_connection": baseline, "ratio": service / baseline,
            "deflate_kib_per_connection": service + 42, "met": service <= bench_idle.GOAL_KIB and not failed,
            "compression": bench_idle.compression(_frames())}


def test_idle_section_states_each_run_against_the_goal(tmp_path: Path) -> None:
    result = {"suite": "idle", "runs": [_idle_run(22.0, 15.0), _idle_run(30.0, 15.0, failed=3)]}
    text = bench_idle.section(result, tmp_path)
    assert text.startswith("## ")
    rows = [line for line in text.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert "**22.0 KiB**" in rows[0] and "| met |" in rows[0]
    assert "not met (3 failed)" in rows[1]
    assert "![" in text and (tmp_path / "idle_rss.svg").exists()


def test_voice_section_reports_overhead_and_rtf(tmp_path: Path) -> None:
    def run(baseline: float, ws: float) -> dict[str, Any]:
        med = {"baseline": baseline, "websocket": ws, "http": ws}
        return {"median_s": med, "times_s": {k: [v, v] for k, v in med.items()},
                "rtf": {k: v / 10 for k, v in med.items()}, "overhead_websocket": ws / baseline,
                "overhead_http": ws / baseline, "met": ws / baseline < bench_voice.GOAL_OVERHEAD}

    text = bench_voice.section({"suite": "voice", "runs": [run(2.0, 2.1), run(2.0, 2.4)]}, tmp_path)
    rows = [line for line in text.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert "**1.050**" in rows[0] and rows[0].endswith("| met |")
    assert "**1.200**" in rows[1] and rows[1].endswith("| not met |")
    assert "0.210" in rows[0]  # RTF of the WebSocket path
    assert (tmp_path / "voice_overhead.svg").exists()
