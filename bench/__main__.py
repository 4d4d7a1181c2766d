"""Benchmarks: ``python -m bench [SUITE|report] [options]``.

With no argument every suite runs, then docs/performance.md is rewritten from the result files
(``bench/results/<suite>.json``); ``report`` only rewrites the page; a suite's name runs that suite.
"""

from __future__ import annotations

import importlib
import signal
import sys
from types import FrameType

from bench import report

SUITES = {"protocol": "bench.bench_protocol", "hub": "bench.bench_hub", "knowledge": "bench.bench_knowledge",
          "voice": "bench.bench_voice", "idle": "bench.bench_idle",
          "escalation": "bench.bench_escalation", "ingest": "bench.bench_ingest"}


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    # SIGTERM or SIGHUP (a timeout, a closed terminal) unwinds like Ctrl-C, so every suite's embedded
    # PostgreSQL and Redis, servers and temporary directories are stopped and removed on the way out
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)
    if argv and argv[0] == "report":
        print(f"wrote {report.write(SUITES)}")
        return 0
    if argv and argv[0] in SUITES:
        return int(importlib.import_module(SUITES[argv[0]]).main(argv[1:]) or 0)
    if argv:
        print(f"unknown suite {argv[0]!r}; choose from {', '.join(SUITES)} or report", file=sys.stderr)
        return 2
    status = 0
    for name, module in SUITES.items():
        print(f"\n=== {name} ===", flush=True)
        status |= int(importlib.import_module(module).main([]) or 0)
    print(f"wrote {report.write(SUITES)}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
