"""Speech transcription benchmark: the service's overhead over faster-whisper, real-time factor, memory.

Per run (``--runs 2``), on a 10 s English recording (espeak-ng speech encoded as webm/opus written to a
pipe, as a browser's MediaRecorder produces it):

* **baseline**: faster-whisper's own ``WhisperModel.transcribe`` on the recording, in this process, with
  the service's parameters (int8, the same CPU threads, beam 5, temperature 0, VAD on, the language given);
* **WebSocket**: the widget's path through a real ``python -m server serve``: from the end of the
  recording (the widget then sends ``audio_start``, the bytes and ``audio_end``) to the final
  ``transcript`` frame on the socket;
* **HTTP**: ``POST /api/transcribe`` with the same recording, request to response.

Each is measured ``--repeat`` times, interleaved (the order turning each round) after a warm-up
of each, and the median is reported with the real-time factor (seconds / audio seconds) and the overhead
ratio (service / baseline; goal under 1.10). ``--full`` adds the older measurements: latency for 5, 15 and
60 s clips, throughput of 4 concurrent uploads for two pool shapes, and the process's memory.

    .venv/bin/python -m bench voice [--runs 2] [--repeat 5] [--full]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import websockets  # noqa: E402

from core.embedded import embedded_postgres, embedded_redis  # noqa: E402
from core.settings import Settings  # noqa: E402
from server.auth import mint_token  # noqa: E402
from server.observability import Metrics  # noqa: E402
from server.voice.model import ensure_model  # noqa: E402
from server.voice.transcriber import Transcriber  # noqa: E402
from testkit.scripted_llm import free_port  # noqa: E402
from testkit.servers import ServerHandle, running_server  # noqa: E402
from tests.voice.speech import LONG_TEXT, speak, streamed_webm  # noqa: E402

GOAL_OVERHEAD = 1.10
CLIP_SECONDS = 10
CPU_THREADS = 2  # VOICE_CPU_THREADS's default, for the baseline and the service alike
SECRET = "bench-secret-0123456789-0123456789"


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
    for seconds in (5, CLIP_SECONDS, 15, 60):
        cut = workdir / f"cut{seconds}.wav"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(doubled), "-t", str(seconds),
                        str(cut)], check=True)
        clips[seconds] = streamed_webm(cut)  # like MediaRecorder: no duration in the header
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


class Baseline:
    """faster-whisper on its own: ``WhisperModel.transcribe`` with the parameters the service uses."""

    def __init__(self, model_dir: Path) -> None:
        from faster_whisper import WhisperModel

        self.model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=CPU_THREADS,
                                  num_workers=1)

    def transcribe(self, data: bytes) -> tuple[float, str]:
        started = time.perf_counter()
        segments, _info = self.model.transcribe(io.BytesIO(data), language="en", task="transcribe", beam_size=5,
                                                temperature=0.0, vad_filter=True, condition_on_previous_text=False)
        text = " ".join(segment.text.strip() for segment in segments)
        return time.perf_counter() - started, text


async def over_websocket(server: ServerHandle, token: str, data: bytes) -> tuple[float, str]:
    """Seconds from the end of the recording to the final transcript frame, as the widget sends it."""
    async with websockets.connect(server.ws_url, max_size=2**22, open_timeout=30) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready", ready
        started = time.perf_counter()  # the recording has just ended: the widget sends it now
        await ws.send(json.dumps({"type": "audio_start", "format": "webm", "lang": "en"}))
        for offset in range(0, len(data), 65536):
            await ws.send(data[offset:offset + 65536])
        await ws.send(json.dumps({"type": "audio_end"}))
        async with asyncio.timeout(120):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "transcript" and not frame["partial"]:
                    return time.perf_counter() - started, frame["text"]
                if frame["type"] == "error":
                    raise RuntimeError(f"transcription failed: {frame}")


async def over_http(server: ServerHandle, http: httpx.AsyncClient, token: str, data: bytes) -> tuple[float, str]:
    started = time.perf_counter()
    response = await http.post(server.url + "/api/transcribe?lang=en", content=data, timeout=120,
                               headers={"authorization": f"Bearer {token}", "content-type": "audio/webm"})
    response.raise_for_status()
    return time.perf_counter() - started, response.json()["text"]


async def overhead_run(server: ServerHandle, settings: Settings, baseline: Baseline, clip: bytes,
                       repeat: int) -> dict[str, Any]:
    """One run: warm-up of each path, then ``repeat`` interleaved rounds; medians and ratios."""
    token = mint_token(settings, user_id="bench-voice-" + uuid.uuid4().hex[:8])
    times: dict[str, list[float]] = {"baseline": [], "websocket": [], "http": []}
    texts: dict[str, str] = {}
    async with httpx.AsyncClient() as http:
        await asyncio.to_thread(baseline.transcribe, clip)  # warm-up of each path
        await over_websocket(server, token, clip)
        await over_http(server, http, token, clip)
        names = list(times)
        for round_number in range(repeat):
            # the order turns each round, so no path always follows the same other one
            for name in names[round_number % 3:] + names[:round_number % 3]:
                if name == "baseline":
                    seconds, text = await asyncio.to_thread(baseline.transcribe, clip)
                elif name == "websocket":
                    seconds, text = await over_websocket(server, token, clip)
                else:
                    seconds, text = await over_http(server, http, token, clip)
                times[name].append(seconds)
                texts[name] = text
    medians = {name: statistics.median(values) for name, values in times.items()}
    overhead = medians["websocket"] / medians["baseline"]
    return {
        "clip_s": CLIP_SECONDS, "repeat": repeat, "times_s": times, "median_s": medians,
        "rtf": {name: value / CLIP_SECONDS for name, value in medians.items()},
        "overhead_websocket": overhead, "overhead_http": medians["http"] / medians["baseline"],
        "added_ms_websocket": (medians["websocket"] - medians["baseline"]) * 1000,
        "same_text": len(set(texts.values())) == 1, "texts": texts,
        "met": overhead < GOAL_OVERHEAD, "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


async def full_measurements(model_dir: Path, clips: dict[int, bytes], repeat: int, uploads: int) -> dict[str, Any]:
    """The latency per clip length, concurrent throughput and memory (``--full``)."""
    rss_before = _rss_mb()
    started = time.perf_counter()
    async with Transcriber(model_dir, metrics=Metrics(), workers=1, queue_max=4, cpu_threads=2) as transcriber:
        await transcriber.ready()
        load_s = time.perf_counter() - started
        rss_loaded = _rss_mb()
        rows = await latency(transcriber, {s: clips[s] for s in (5, 15, 60)}, repeat)
    concurrent = [await throughput(model_dir, clips[15], 1, 2, uploads),
                  await throughput(model_dir, clips[15], 2, 1, uploads)]
    return {"model_load_s": round(load_s, 2),
            "rss_mb": {"before_model": round(rss_before), "model_loaded": round(rss_loaded), "peak": round(_peak_rss_mb())},
            "latency": rows, "concurrent_15s_uploads": concurrent}


def main(argv: list[str] | None = None) -> int:
    """The benchmark's command line (the same calling form as the other suites)."""
    return asyncio.run(main_async(argv))


async def main_async(argv: list[str] | None = None) -> int:
    from bench.report import machine

    parser = argparse.ArgumentParser(prog="python -m bench voice", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="also latency per clip length, throughput, memory")
    parser.add_argument("--uploads", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "voice.json")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"suite": "voice", "machine": machine(),
                              "model": "whisper base, CTranslate2 int8, beam 5, VAD on", "goal_overhead": GOAL_OVERHEAD,
                              "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench-voice-") as tmp:
        workdir = Path(tmp)
        model_dir = ensure_model(workdir / "whisper-base")
        clips = make_clips(workdir)
        baseline = await asyncio.to_thread(Baseline, model_dir)
        with embedded_postgres(workdir / "pg", cleanup="delete") as dsn, \
                embedded_redis(workdir / "redis", persist=False) as redis_url:
            settings = Settings(env="development", database_url=dsn, redis_url=redis_url, data_dir=workdir / "data",
                                jwt_secret=SECRET, port=free_port(), kb_seed_samples=False, voice_enabled=True,
                                whisper_model=str(model_dir), voice_cpu_threads=CPU_THREADS,
                                transcriptions_per_minute=10_000, log_level="warning")
            async with running_server(settings, log_dir=ROOT / "bench" / "results") as server:
                async with httpx.AsyncClient() as http:  # the model loads in the background at start
                    for _ in range(120):
                        health = (await http.get(server.url + "/health/ready", timeout=10)).json()
                        if "loading" not in json.dumps(health):
                            break
                        await asyncio.sleep(0.5)
                for number in range(args.runs):
                    run = await overhead_run(server, settings, baseline, clips[CLIP_SECONDS], args.repeat)
                    report["runs"].append(run)
                    med = run["median_s"]
                    print(f"run {number + 1}: 10 s clip  faster-whisper {med['baseline']:.2f} s  "
                          f"WebSocket {med['websocket']:.2f} s ({run['overhead_websocket']:.3f}x)  "
                          f"HTTP {med['http']:.2f} s ({run['overhead_http']:.3f}x)  RTF {run['rtf']['websocket']:.3f}",
                          flush=True)
        del baseline
        if args.full:
            report["full"] = await full_measurements(model_dir, clips, args.repeat, args.uploads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return 0 if all(run["met"] for run in report["runs"]) else 1


def section(result: dict[str, Any], charts_dir: Path) -> str:
    """The "Voice transcription" section of docs/performance.md."""
    from bench.charts import line_chart
    from bench.report import spread

    runs = result["runs"]
    lines = [
        "## Voice transcription: the service's overhead over faster-whisper",
        "",
        "Command: `.venv/bin/python -m bench voice --runs 2 --repeat 5` (writes `bench/results/voice.json`).",
        "",
        "What is measured: a 10 s English recording (espeak-ng speech as webm/opus written to a pipe, as a",
        "browser's MediaRecorder produces it). **Baseline**: faster-whisper's own `WhisperModel.transcribe`",
        "on the recording, in the benchmark's process, with the service's parameters (Whisper base, int8,",
        f"{CPU_THREADS} CPU threads, beam 5, temperature 0, VAD on, language given); it decodes the webm itself.",
        "**WebSocket**: the widget's path through a real `python -m server serve`: from the end of the",
        "recording (the widget then sends `audio_start`, the bytes and `audio_end`) to the final `transcript`",
        "frame. **HTTP**: `POST /api/transcribe` with the same bytes. Interleaved rounds (the order turning",
        "each round) after a warm-up of each path; medians. Real-time factor = seconds / 10 s of audio.",
        "",
        "| run | faster-whisper | WebSocket | HTTP | RTF (WebSocket) | WebSocket / baseline | HTTP / baseline "
        "| goal | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for number, run in enumerate(runs, 1):
        med = run["median_s"]
        lines.append(f"| {number} | {med['baseline']:.2f} s | {med['websocket']:.2f} s | {med['http']:.2f} s "
                     f"| {run['rtf']['websocket']:.3f} | **{run['overhead_websocket']:.3f}** "
                     f"| {run['overhead_http']:.3f} | < {GOAL_OVERHEAD:.2f} | {'met' if run['met'] else 'not met'} |")
    lines += ["", f"Spread between runs: overhead {spread([r['overhead_websocket'] for r in runs])}, "
                  f"baseline time {spread([r['median_s']['baseline'] for r in runs])}.", ""]
    pooled = {key: [t for run in runs for t in run["times_s"][key]] for key in ("baseline", "websocket")}
    if all(pooled.values()):
        every = pooled["baseline"] + pooled["websocket"]
        lines += [f"All measurements of the runs together: faster-whisper median "
                  f"{statistics.median(pooled['baseline']):.2f} s, WebSocket {statistics.median(pooled['websocket']):.2f} s, "
                  f"**{statistics.median(pooled['websocket']) / statistics.median(pooled['baseline']):.3f}**; single "
                  f"measurements ranged from {min(every):.1f} to {max(every):.1f} s.", ""]
    series = {name: [(float(i + 1), t) for i, t in enumerate(t for run in runs for t in run["times_s"][key])]
              for name, key in (("faster-whisper", "baseline"), ("WebSocket", "websocket"), ("HTTP", "http"))}
    chart = line_chart(charts_dir / "voice_overhead.svg", title="10 s recording to transcript",
                       x_label="measurement (both runs, in order)", y_label="seconds", series=series)
    lines += [f"![10 s recording to transcript, each measurement](charts/{chart.name})", ""]
    full = result.get("full")
    if full:
        lines += ["Latency per clip length (the service's Transcriber in-process, median):", "",
                  "| clip | latency | min–max | RTF |", "|---|---|---|---|"]
        for row in full["latency"]:
            lines.append(f"| {row['clip_s']} s | {row['latency_median_s']:.2f} s | {row['latency_min_s']:.2f}–"
                         f"{row['latency_max_s']:.2f} s | {row['rtf_median']:.2f} |")
        lines += ["", "| pool | wall | audio s per wall s | mean latency | worst |", "|---|---|---|---|---|"]
        for row in full["concurrent_15s_uploads"]:
            lines.append(f"| {row['workers']} worker(s) x {row['cpu_threads']} thread(s) | {row['wall_s']} s "
                         f"| {row['audio_s_per_wall_s']} | {row['latency_mean_s']} s | {row['latency_max_s']} s |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
