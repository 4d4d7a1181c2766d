"""Benchmarks: ``python -m bench [protocol|hub|knowledge|voice|escalation] [options]``; no argument runs them all."""

from __future__ import annotations

import importlib
import sys

SUITES = {"protocol": "bench.bench_protocol", "hub": "bench.bench_hub", "knowledge": "bench.bench_knowledge",
          "voice": "bench.bench_voice",
          "escalation": "bench.bench_escalation"}


def main(argv: list[str]) -> int:
    if argv and argv[0] in SUITES:
        return int(importlib.import_module(SUITES[argv[0]]).main(argv[1:]) or 0)
    if argv:
        print(f"unknown suite {argv[0]!r}; choose from {', '.join(SUITES)}", file=sys.stderr)
        return 2
    status = 0
    for name, module in SUITES.items():
        print(f"\n=== {name} ===", flush=True)
        status |= int(importlib.import_module(module).main([]) or 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
