"""A benchmark stopped by a signal (a time-out's SIGTERM, a closed terminal's SIGHUP) leaves nothing
running: its embedded PostgreSQL is stopped and its data directory removed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"))  # a zombie is gone too


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signalled_benchmark_stops_its_embedded_postgres(sig: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BENCH_DATABASE_URL"}
    proc = subprocess.Popen([sys.executable, "-m", "bench", "knowledge", "--sizes", "20000", "--queries", "20",
                             "--runs", "1"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    assert proc.stdout is not None
    started = None
    deadline = time.monotonic() + 120
    lines = []
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"embedded\.postgres_started\s+data_dir=(\S+)\s+pid=(\d+)", line)
            if found:
                started = (Path(found.group(1)), int(found.group(2)))
                break
        assert started is not None, "the benchmark did not start its PostgreSQL:\n" + "".join(lines[-20:])
        data_dir, pid = started
        time.sleep(1.0)  # loading its corpus
        assert _alive(pid)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 128 + sig, out[-2000:]
    for _ in range(100):
        if not _alive(pid):
            break
        time.sleep(0.1)
    assert not _alive(pid), f"PostgreSQL (pid {pid}) still runs after the benchmark was stopped"
    assert not data_dir.exists(), f"{data_dir} was left behind"
