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
import statistics
import time
from collections.abc import Callable
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "protocol.json")
    args = ap.parse_args(argv)
    assert typed_delta(7) == dict_delta(7), "the typed codec must write the same bytes as the baseline"
    rows = []
    for name, typed, baseline in (("serialise delta", typed_delta, dict_delta),
                                  ("parse message", typed_message, dict_message)):
        t = per_frame_us(typed, args.frames, args.repeat)
        b = per_frame_us(baseline, args.frames, args.repeat)
        rows.append({"operation": name, "typed_us": round(t, 2), "baseline_us": round(b, 2), "ratio": round(t / b, 2)})
        print(f"{name:<16} typed {t:6.2f} µs/frame  baseline {b:6.2f} µs/frame  ratio {t / b:4.2f}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"frames": args.frames, "repeat": args.repeat, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
