"""server/voice/model.py: which directory WHISPER_MODEL names, and when a model directory is trusted.

The real 145 MB assembly is tested end to end in tests/voice/test_whisper_model.py; here the stamp
logic runs on small stand-in files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.voice.model import MODEL_FILES, STAMP, ModelError, is_assembled, resolve_model, verify


def stand_in(directory: Path) -> Path:
    """Small files under the model's names, with a stamp recording the pinned digests and their sizes:
    what a verified assembly leaves behind, as far as :func:`is_assembled` can tell."""
    directory.mkdir(parents=True)
    stamp = {}
    for name, digest in MODEL_FILES.items():
        (directory / name).write_bytes(name.encode())
        stamp[name] = {"sha256": digest, "size": len(name.encode())}
    (directory / STAMP).write_text(json.dumps(stamp))
    return directory


def test_model_errors_are_503_voice_model_unavailable() -> None:
    error = ModelError("x")
    assert (error.status, error.code) == (503, "voice_model_unavailable")


@pytest.mark.parametrize("name", ["Systran/faster-whisper-small", "large-v3", "tiny"])
def test_a_hub_name_is_refused_without_touching_the_cache(name: str, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="is not a directory.*never downloaded"):
        resolve_model(name, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_a_directory_without_the_model_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(ModelError) as caught:
        resolve_model(str(tmp_path), tmp_path / "cache")
    assert "config.json, tokenizer.json" in caught.value.message
    assert "model.bin" not in caught.value.message.rsplit("lacks", 1)[1]


def test_a_complete_directory_is_used_as_given(tmp_path: Path) -> None:
    for name in ("model.bin", "config.json", "tokenizer.json"):
        (tmp_path / name).write_bytes(b"x")
    assert resolve_model(str(tmp_path), tmp_path / "cache") == tmp_path


@pytest.mark.parametrize("name", ["", "base", "BASE", " bundled "])
def test_the_bundled_names_use_the_cache_when_it_is_verified(name: str, tmp_path: Path) -> None:
    cache = stand_in(tmp_path / "whisper-base")
    assert resolve_model(name, cache) == cache


def test_the_stamp_is_trusted_only_while_sizes_match(tmp_path: Path) -> None:
    cache = stand_in(tmp_path / "whisper-base")
    assert is_assembled(cache)
    (cache / "model.bin").write_bytes(b"m")  # another size than the stamp records
    assert not is_assembled(cache)


@pytest.mark.parametrize("damage", ["no stamp", "unreadable stamp", "other digest", "missing file"])
def test_an_incomplete_or_foreign_directory_is_not_trusted(damage: str, tmp_path: Path) -> None:
    cache = stand_in(tmp_path / "whisper-base")
    if damage == "no stamp":
        (cache / STAMP).unlink()
    elif damage == "unreadable stamp":
        (cache / STAMP).write_text("{")
    elif damage == "other digest":
        stamp = json.loads((cache / STAMP).read_text())
        stamp["config.json"]["sha256"] = "0" * 64
        (cache / STAMP).write_text(json.dumps(stamp))
    else:
        (cache / "tokenizer.json").unlink()
    assert not is_assembled(cache)


def test_verify_hashes_the_files_not_the_stamp(tmp_path: Path) -> None:
    cache = stand_in(tmp_path / "whisper-base")
    with pytest.raises(ModelError, match="has sha256 .* expected"):
        verify(cache)
    (cache / "vocabulary.json").unlink()
    for name in MODEL_FILES:
        if name != "vocabulary.json":
            (cache / name).unlink()
    with pytest.raises(ModelError, match="missing"):
        verify(cache)
