"""Content-addressed storage of uploaded originals (served back for citations)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class FileStore:
    """Files named by their sha256 under ``root``; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def key(self, sha256: str, extension: str) -> str:
        """The storage key of content with this hash (two-character fan-out folders)."""
        return f"{sha256[:2]}/{sha256}{extension}"

    def path(self, key: str) -> Path:
        """The file of ``key``; a key that would leave the storage directory is refused."""
        resolved = (self.root / key).resolve()
        if self.root.resolve() not in resolved.parents:
            raise ValueError("storage key escapes the storage directory")
        return resolved

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (nothing to do when it is already there)."""
        target = self.path(key)
        if target.exists() and target.stat().st_size == len(data):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
