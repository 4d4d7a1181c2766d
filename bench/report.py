"""docs/performance.md, written from the benchmarks' result files.

Every suite writes ``bench/results/<suite>.json`` and renders its own section with
``section(result, charts_dir)``; this module puts the sections together under a header that says
on which machine and under what load the figures were taken, and draws nothing itself.

    python -m bench report        # rewrite docs/performance.md from the result files present

A suite with no result file here keeps the section the page already has for it (each section
follows a ``<!-- bench: NAME -->`` marker), so running one suite updates its own section only.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import platform
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "performance.md"
CHARTS_DIR = ROOT / "docs" / "charts"

HEADER = """# Performance

Every figure here is written by `make bench` (`python -m bench`), which runs each suite and then
rewrites this page from the result files in `bench/results/`; `python -m bench report` rewrites it
from the files present, and `python -m bench <suite>` runs one suite. Each suite measures its
baseline in the same run as the figure it compares it with, and runs twice, so each table gives both
runs and their spread; a ratio is the figure divided by its baseline. Charts are SVG files in
`docs/charts/`, drawn by the benchmarks. A suite stopped with Ctrl-C, SIGTERM or SIGHUP stops the
PostgreSQL, Redis and servers it started and removes their temporary directories
(tests/drills/test_bench_interrupted.py).

Timing figures on a shared machine move from run to run; the ratios move much less, which is why
the goals are stated as ratios. The machine and its load when each suite ran are given with it.
"""


def machine() -> dict[str, Any]:
    """What the figures were taken on: CPU model and count, memory, load average, Python, time."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {"cpu": model or platform.processor(), "cores": os.cpu_count() or 0, "memory_gib": memory_gib,
            "load_1m": round(load[0], 2), "python": platform.python_version(),
            "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}


def describe(info: dict[str, Any] | None) -> str:
    """One line: the machine and its load, from a suite's ``machine`` record."""
    if not info:
        return "_Machine not recorded._"
    parts = [f"{info.get('cores', '?')} cores"]
    if info.get("cpu"):
        parts.append(str(info["cpu"]))
    if info.get("memory_gib"):
        parts.append(f"{info['memory_gib']} GiB")
    text = f"_Taken {info.get('at', '?')} on {', '.join(parts)}; load average {info.get('load_1m', '?')} when it started"
    if "load_1m_end" in info:
        text += f", {info['load_1m_end']} when it ended"
    return text + "._"


MARKER = re.compile(r"^<!-- bench: ([\w-]+) -->\n", re.MULTILINE)


def previous_sections(page: str) -> dict[str, str]:
    """The sections of an earlier page, by suite name (the text after each marker, up to the next)."""
    found = list(MARKER.finditer(page))
    out = {}
    for m, nxt in zip(found, [*found[1:], None], strict=False):  # the last one has no next
        body = page[m.end(): nxt.start() if nxt else len(page)]
        out[m.group(1)] = body.split("\n## Not in this run", 1)[0].strip() + "\n"
    return out


def render(suites: dict[str, str], results_dir: Path = RESULTS_DIR, charts_dir: Path = CHARTS_DIR,
           previous: str = "") -> str:
    """The whole page: the header, then each suite in ``suites`` order: from its result file, or else
    its section in ``previous`` (the page as it was)."""
    parts = [HEADER]
    missing = []
    kept = previous_sections(previous)
    for name, module_name in suites.items():
        path = results_dir / f"{name}.json"
        module = importlib.import_module(module_name)
        if not path.exists() or not hasattr(module, "section"):
            if name in kept:
                parts.append(f"<!-- bench: {name} -->\n{kept[name]}")
            else:
                missing.append(name)
            continue
        result = json.loads(path.read_text())
        body = module.section(result, charts_dir).strip()
        heading, _, rest = body.partition("\n")
        parts.append(f"<!-- bench: {name} -->\n{heading}\n\n{describe(result.get('machine'))}\n{rest}\n")
    if missing:
        parts.append("## Not in this run\n\nNo result file for: " + ", ".join(f"`{m}`" for m in missing)
                     + ". Run `python -m bench <suite>` to add it.\n")
    return "\n".join(parts)


def write(suites: dict[str, str], doc: Path = DOC) -> Path:
    doc.write_text(render(suites, previous=doc.read_text() if doc.exists() else ""))
    return doc


def spread(values: list[float]) -> str:
    """How far the runs are apart, as a share of their mean: '±4 %' (or '' with one run)."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return ""
    mean = sum(values) / len(values)
    if mean == 0:
        return "±0 %"
    return f"±{(max(values) - min(values)) / 2 / abs(mean) * 100:.0f} %"
