"""The benchmark report: SVG charts drawn to scale, and docs/performance.md put together from result files."""

from __future__ import annotations

import json
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench import report
from bench.charts import line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def test_chart_points_are_drawn_to_scale(tmp_path: Path) -> None:
    path = line_chart(tmp_path / "c.svg", title="p95 <load>", x_label="q/s", y_label="ms",
                      series={"hub": [(10, 40.0), (20, 80.0)], "relay": [(10, 10.0), (20, 20.0)]})
    root = ET.parse(path).getroot()  # well-formed XML: the title's "<" is escaped
    circles = [(float(c.get("cx") or 0), float(c.get("cy") or 0)) for c in root.iter(f"{SVG}circle")]
    assert len(circles) == 4
    (hx1, hy1), (hx2, hy2), (rx1, ry1), (rx2, ry2) = circles
    assert hx1 == rx1 < hx2 == rx2  # same x values, same columns, left to right
    # linear scale, y growing downwards: the relay's 10 -> 20 step is where zero lies below 10, and
    # the hub's 80 is twice as far from zero as its 40
    zero = ry1 + (ry1 - ry2)
    assert abs((zero - hy2) - 2 * (zero - hy1)) < 1.0
    texts = "".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "p95 <load>" in texts and "hub" in texts and "relay" in texts


def test_log_scale_spaces_decades_evenly(tmp_path: Path) -> None:
    path = line_chart(tmp_path / "c.svg", title="t", x_label="x", y_label="y", log_y=True,
                      series={"a": [(1, 1.0), (2, 10.0), (3, 100.0)]})
    ys = [float(c.get("cy") or 0) for c in ET.parse(path).getroot().iter(f"{SVG}circle")]
    assert abs((ys[0] - ys[1]) - (ys[1] - ys[2])) < 0.5
    with pytest.raises(ValueError, match="positive"):
        line_chart(tmp_path / "bad.svg", title="t", x_label="x", y_label="y", log_y=True, series={"a": [(1, 0.0)]})


def test_nice_ticks_cover_the_range_with_round_steps() -> None:
    ticks = nice_ticks(0, 93)
    assert ticks[0] <= 0 and ticks[-1] >= 93
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert steps == {20.0}


def test_render_puts_each_section_under_its_machine_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("bench_fake_suite")

    def section(result: dict[str, object], charts_dir: Path) -> str:
        return f"## Fake suite\n\nratio {result['runs'][0]['ratio']}\n"  # type: ignore[index]

    module.section = section  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench_fake_suite", module)
    (tmp_path / "fake.json").write_text(json.dumps({"machine": {"cores": 2, "at": "2026-12-02 03:00 UTC", "load_1m": 1.5,
                                                                "load_1m_end": 2.5},
                                                    "runs": [{"ratio": 0.93}]}))
    page = report.render({"fake": "bench_fake_suite", "absent": "bench_fake_suite"}, tmp_path, tmp_path)
    assert page.startswith("# Performance")
    fake = page.index("## Fake suite")
    assert page.index("load average 1.5 when it started, 2.5 when it ended", fake) < page.index("ratio 0.93", fake)
    assert "No result file for: `absent`" in page


def test_spread_is_half_the_range_over_the_mean() -> None:
    assert report.spread([0.9, 1.1]) == "±10 %"
    assert report.spread([1.0]) == ""


def test_a_suite_without_a_result_file_keeps_its_section_of_the_page(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("bench_fake_suite")
    module.section = lambda result, charts_dir: f"## Fake suite\n\nratio {result['runs'][0]['ratio']}\n"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench_fake_suite", module)
    (tmp_path / "fake.json").write_text(json.dumps({"machine": {"cores": 2}, "runs": [{"ratio": 0.5}]}))
    earlier = ("# Performance\n\n<!-- bench: fake -->\n## Fake suite\n\nratio 0.1\n\n"
               "<!-- bench: kept -->\n## Kept suite\n\nmeasured last week: 1.07\n")
    page = report.render({"fake": "bench_fake_suite", "kept": "bench_fake_suite", "absent": "bench_fake_suite"},
                         tmp_path, tmp_path, previous=earlier)
    assert "ratio 0.5" in page and "ratio 0.1" not in page  # rewritten from its new result
    assert "<!-- bench: kept -->\n## Kept suite\n\nmeasured last week: 1.07\n" in page  # kept as it was
    assert "No result file for: `absent`" in page and "`kept`" not in page
    again = report.render({"fake": "bench_fake_suite", "kept": "bench_fake_suite"}, tmp_path / "none", tmp_path,
                          previous=page)
    assert again.count("## Kept suite") == 1 and "ratio 0.5" in again and "Not in this run" not in again
