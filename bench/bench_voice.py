"""Speech transcription benchmark: real-time factor, latency, concurrent throughput, memory.

Runs the service's own Transcriber (the code behind POST /api/transcribe and the WebSocket audio
frames) in-process on English espeak-ng speech encoded as webm/opus, like a browser recording:

* latency and real-time factor (processing seconds / audio seconds) for 5 s, 15 s and 60 s clips;
* throughput with 4 concurrent 15 s uploads, for 1 worker x 2 threads and 2 workers x 1 thread;
* peak resident memory of the process.

    .venv/bin/python -m bench.bench_voice [--repeat 3] [--out bench/results/voice.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.observability import Metrics  # noqa: E402
from server.voice.model import ensure_model  # noqa: E402
from server.voice.transcriber import Transcriber  # noqa: E402
from tests.voice.speech import LONG_TEXT, convert, speak  # noqa: E402


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_clips(workdir: Path) -> dict[int, bytes]:
    """English speech of 5, 15 and 60 seconds as webm/opus."""
    speech = speak(LONG_TEXT, "en", workdir / "long.wav")  # about 37 s
    doubled = workdir / "doubled.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(speech), "-i", str(speech),
                    "-filter_complex", "[0:a][1:a]concat=n=2:v=0:a=1[a]", "-map", "[a]", str(doubled)], check=True)
    clips: dict[int, bytes] = {}
    for seconds in (5, 15, 60):
        cut = workdir / f"cut{seconds}.wav"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(doubled), "-t", str(seconds),
                        str(cut)], check=True)
        clips[seconds] = convert(cut, "webm", workdir / f"clip{seconds}.webm").read_bytes()
    return clips


async def latency(transcriber: Transcriber, clips: dict[int, bytes], repeat: int) -> list[dict[str, Any]]:
    rows = []
    await transcriber.transcribe(clips[5], lang="en")  # warm-up
    for seconds, data in clips.items():
        times, duration = [], 0.0
        for _ in range(repeat):
            started = time.perf_counter()
            result = await transcriber.transcribe(data, lang="en")
            times.append(time.perf_counter() - started)
            duration = result.duration
        median = statistics.median(times)
        rows.append({"clip_s": seconds, "audio_s": round(duration, 2), "latency_median_s": round(median, 3),
                     "latency_min_s": round(min(times), 3), "latency_max_s": round(max(times), 3),
                     "rtf_median": round(median / duration, 3), "bytes": len(data)})
    return rows


async def throughput(model_dir: Path, data: bytes, workers: int, threads: int, uploads: int) -> dict[str, Any]:
    async with Transcriber(model_dir, metrics=Metrics(), workers=workers, queue_max=uploads,
                           cpu_threads=threads) as transcriber:
        await transcriber.ready()
        await transcriber.transcribe(data, lang="en")  # warm-up

        async def one() -> tuple[float, float]:
            started = time.perf_counter()
            result = await transcriber.transcribe(data, lang="en")
            return time.perf_counter() - started, result.duration

        started = time.perf_counter()
        results = await asyncio.gather(*(one() for _ in range(uploads)))
        wall = time.perf_counter() - started
    audio = sum(d for _, d in results)
    return {"workers": workers, "cpu_threads": threads, "uploads": uploads, "wall_s": round(wall, 2),
            "audio_s_per_wall_s": round(audio / wall, 2),
            "latency_mean_s": round(statistics.mean(t for t, _ in results), 2),
            "latency_max_s": round(max(t for t, _ in results), 2)}


def main(argv: list[str] | None = None) -> int:
    """The benchmark's command line (the same calling form as the other suites)."""
    return asyncio.run(main_async(argv))


async def main_async(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "voice.json")
    args = parser.parse_args(argv)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model_dir = ensure_model(workdir / "whisper-base")
        clips = make_clips(workdir)
        rss_before = _rss_mb()
        started = time.perf_counter()
        async with Transcriber(model_dir, metrics=Metrics(), workers=1, queue_max=4, cpu_threads=2) as transcriber:
            await transcriber.ready()
            load_s = time.perf_counter() - started
            rss_loaded = _rss_mb()
            rows = await latency(transcriber, clips, args.repeat)
        concurrent = [await throughput(model_dir, clips[15], 1, 2, args.uploads),
                      await throughput(model_dir, clips[15], 2, 1, args.uploads)]
    report = {
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": load_at_start, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
        "model": "whisper base, CTranslate2 int8, beam 5, VAD on",
        "model_load_s": round(load_s, 2),
        "rss_mb": {"before_model": round(rss_before), "model_loaded": round(rss_loaded), "peak": round(_peak_rss_mb())},
        "latency": rows,
        "concurrent_15s_uploads": concurrent,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
