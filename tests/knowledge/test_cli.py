"""``python -m knowledge`` against a real database: ingest with progress, list, search, delete, eval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.knowledge import documents

ROOT = Path(__file__).resolve().parents[2]


def _cli(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(data_dir), "KB_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-m", "knowledge", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)


def test_cli_ingest_list_search_eval_delete(database_url: str, tmp_path: Path):
    manual = tmp_path / "robot.md"
    manual.write_bytes(documents.MARKDOWN)
    done = _cli(database_url, tmp_path, "ingest", str(manual), "--model", "AutoBoss V4", "--lang", "en")
    assert done.returncode == 0, done.stderr
    assert "robot.md: document 1 ready" in done.stderr + done.stdout
    assert "pages" in done.stdout + done.stderr  # the progress bar

    listed = _cli(database_url, tmp_path, "list")
    assert listed.returncode == 0 and "AutoBoss V4" in listed.stdout and "ready" in listed.stdout

    found = _cli(database_url, tmp_path, "search", "E22 pump cavitation", "-k", "1")
    assert found.returncode == 0 and "E22 | Pump cavitation" in found.stdout and "Troubleshooting" in found.stdout

    questions = tmp_path / "q.json"
    questions.write_text(json.dumps({"questions": [
        {"id": "q1", "lang": "en", "q": "pump cavitation", "answers": [{"doc": "robot", "contains": "E22"}]},
        {"id": "q2", "lang": "es", "q": "¿Cada cuánto se cambia el filtro?", "answers": [{"doc": "robot", "contains": "AB-7001-02"}]},
    ]}))
    scored = _cli(database_url, tmp_path, "eval", str(questions), "--no-seed")
    assert scored.returncode == 0, scored.stderr
    assert "| en | 1 | 1.00 | 1.00 | 1.000 |" in scored.stdout and "| all | 2 |" in scored.stdout

    gone = _cli(database_url, tmp_path, "delete", "1")
    assert gone.returncode == 0
    missing = _cli(database_url, tmp_path, "delete", "1")
    assert missing.returncode == 1 and "kb_not_found" in missing.stderr
