"""The PostgreSQL a benchmark runs against: ``BENCH_DATABASE_URL`` when set, else a throw-away embedded one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def database(name: str) -> Iterator[str]:
    """A DSN for the benchmark's database ``name``; an embedded server is deleted afterwards."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        yield url
        return
    from core.embedded import embedded_postgres

    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        os.chmod(tmp, 0o755)
        with embedded_postgres(Path(tmp) / "pg", database=name, cleanup="delete") as dsn:
            yield dsn
