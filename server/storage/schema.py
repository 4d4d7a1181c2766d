"""The service's database schema: its own migrations beside those of the knowledge library."""

from __future__ import annotations

from pathlib import Path

from knowledge import MIGRATIONS_DIR as KNOWLEDGE_MIGRATIONS

SERVER_MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATIONS: tuple[Path, ...] = (SERVER_MIGRATIONS, KNOWLEDGE_MIGRATIONS)
