"""Protocol codec benchmark: the cost of typed frames on the hot path, beside plain-dict JSON.

Every answer token becomes a ``delta`` frame (serialised once per frame) and every question a
``message`` frame (parsed and validated once). This measures both through ``server.protocol`` and,
in the same process and run, the baseline a hand-written dict codec would cost: ``json.dumps`` of a
dict literal and ``json.loads`` plus the same field checks written inline. Figures are per frame,
and the ratios are typed / baseline.

Run: ``python -m bench protocol [--frames 200000] [--repeat 5]`` (writes bench/results/protocol.json)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import machine, spread
from core.languages import LANGUAGES
from server import protocol

ROOT = Path(__file__).resolve().parents[1]
TOKEN = " nozzle"
MESSAGE = json.dumps({"type": "message", "client_id": "c-123456", "text": "Η μηχανή δείχνει σφάλμα E04, τι να κάνω;",
                      "lang": "el"}, ensure_ascii=False)


def typed_delta(i: int) -> str:
    return protocol.dumps(protocol.Delta("m-1", TOKEN), seq=i)


def dict_delta(i: int) -> str:
    return json.dumps({"type": "delta", "seq": i, "message_id": "m-1", "text": TOKEN}, ensure_ascii=False,
                      separators=(",", ":"))


def typed_message(_: int) -> object:
    return protocol.parse_client_frame(MESSAGE, max_text_chars=4000)


def dict_message(_: int) -> object:
    frame = json.loads(MESSAGE)
    if not isinstance(frame, dict) or frame.get("type") != "message":
        raise ValueError("bad frame")
    text, client_id, lang = frame.get("text"), frame.get("client_id"), frame.get("lang")
    if not isinstance(text, str) or not text.strip() or len(text) > 4000:
        raise ValueError("bad text")
    if not isinstance(client_id, str) or len(client_id) > 100:
        raise ValueError("bad client_id")
    if lang is not None and lang not in LANGUAGES:
        raise ValueError("bad lang")
    return frame


def per_frame_us(fn: Callable[[int], object], frames: int, repeat: int) -> float:
    """Median over ``repeat`` runs of the time per call, in microseconds."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        for i in range(frames):
            fn(i)
        runs.append((time.perf_counter() - started) / frames * 1e6)
    return statistics.median(runs)


def measure(frames: int, repeat: int) -> list[dict[str, object]]:
    """One run: each operation through the typed codec and through the hand-written baseline."""
    rows: list[dict[str, object]] = []
    for name, typed, baseline in (("serialise delta", typed_delta, dict_delta),
                                  ("parse message", typed_message, dict_message)):
        t = per_frame_us(typed, frames, repeat)
        b = per_frame_us(baseline, frames, repeat)
        rows.append({"operation": name, "typed_us": round(t, 2), "baseline_us": round(b, 2), "ratio": round(t / b, 2)})
        print(f"{name:<16} typed {t:6.2f} µs/frame  baseline {b:6.2f} µs/frame  ratio {t / b:4.2f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "protocol.json")
    args = ap.parse_args(argv)
    assert typed_delta(7) == dict_delta(7), "the typed codec must write the same bytes as the baseline"
    info = machine()
    runs = [{"rows": measure(args.frames, args.repeat)} for _ in range(args.runs)]
    info["load_1m_end"] = round(os.getloadavg()[0], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"suite": "protocol", "machine": info, "frames": args.frames, "repeat": args.repeat,
                                    "runs": runs}, indent=2))
    return 0


def section(result: dict[str, Any], charts_dir: Path) -> str:
    """The page's section: per operation, each run's typed and baseline cost and their ratio."""
    lines = ["## Protocol codec: typed frames on the hot path", "",
             f"Command: `python -m bench protocol --frames {result['frames']} --repeat {result['repeat']}` "
             "(writes `bench/results/protocol.json`).", "",
             "Every frame is a frozen dataclass (`server/protocol/`); each answer token becomes a `delta` frame "
             "serialised once, each question a `message` frame parsed and validated once. The baseline, in the same "
             "process and run, is a hand-written codec: `json.dumps` of a dict literal, and `json.loads` plus the "
             "same field checks written inline; the benchmark first checks that both write the same bytes. Each "
             "figure is the median of the repeats.", "",
             "| operation | run | typed | baseline | typed / baseline |", "|---|---|---|---|---|"]
    operations = [row["operation"] for row in result["runs"][0]["rows"]]
    for op in operations:
        ratios = []
        for i, run in enumerate(result["runs"], 1):
            row = next(r for r in run["rows"] if r["operation"] == op)
            ratios.append(row["ratio"])
            lines.append(f"| {op} | {i} | {row['typed_us']} µs | {row['baseline_us']} µs | {row['ratio']} |")
        lines.append(f"| {op} | spread | | | {spread(ratios)} |")
    lines += ["", "The typed path costs under a microsecond more per delta frame: at the few thousand tokens per "
              "second the hub delivers, a few milliseconds of CPU per second, against the ~100 µs Redis round trip "
              "each frame already makes. Parsing costs a few microseconds more per question, once per question."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
