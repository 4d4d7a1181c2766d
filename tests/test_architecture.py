"""The layering of core/, server/ and knowledge/, as import contracts ([tool.importlinter] in pyproject.toml)
checked by import-linter, and proof that the checker sees a violation of each contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("core", "server", "knowledge")


def lint_imports(cwd: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` run in ``cwd`` (it reads ``cwd``/pyproject.toml and analyses the packages found there)."""
    selected = [arg for contract in contracts for arg in ("--contract", contract)]
    env = {**os.environ, "COLUMNS": "500"}  # one line a contract: the report is matched as text
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", *selected], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def contracts() -> dict[str, str]:
    """Contract id -> name, as configured."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c["name"] for c in config["contracts"]}


def test_import_contracts_hold() -> None:
    out = lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"Contracts: {len(contracts())} kept, 0 broken." in out.stdout, out.stdout


@dataclass(frozen=True)
class Violation:
    contract: str
    modules: dict[str, str]  # path below the tree -> its source
    shows: str  # what the report must name: the offending import


VIOLATIONS = [
    Violation("knowledge-library", {"knowledge/_probe.py": "import server.auth\n"},
              "knowledge._probe -> server.auth"),
    Violation("core-base", {"core/_probe.py": "import knowledge\n"}, "core._probe -> knowledge"),
    Violation("engine-no-transport", {"server/engine/_probe.py": "from starlette.responses import Response\n"},
              "server.engine._probe -> starlette"),
    # through a module that no contract names: indirect imports count too
    Violation("engine-no-transport", {"server/engine/_probe.py": "import server._probe_bridge\n",
                                      "server/_probe_bridge.py": "import server.chat\n"},
              "server._probe_bridge -> server.chat"),
    Violation("protocol-base", {"server/protocol/_probe.py": "import server.chat.sessions\n"},
              "server.protocol._probe -> server.chat.sessions"),
    Violation("protocol-base", {"server/protocol/_probe.py": "import server.auth\n"},
              "server.protocol._probe -> server.auth"),
    Violation("storage-bottom", {"server/storage/_probe.py": "import server.voice\n"},
              "server.storage._probe -> server.voice"),
    Violation("http-edge", {"server/voice/_probe.py": "import server.http\n"}, "server.voice._probe -> server.http"),
    Violation("server-layers", {"server/engine/_probe.py": "import server.support\n"},
              "server.engine._probe -> server.support"),
]


def test_every_contract_has_a_violation_case() -> None:
    assert {v.contract for v in VIOLATIONS} == set(contracts())


def _copy_tree(destination: Path) -> None:
    """The Python sources and the configuration, so that a deliberate violation touches only the copy."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, destination / package,
                        ignore=lambda directory, names: [n for n in names if n == "__pycache__"
                                                         or ((Path(directory) / n).is_file() and not n.endswith(".py"))])
    shutil.copy(ROOT / "pyproject.toml", destination / "pyproject.toml")


@pytest.mark.parametrize("violation", VIOLATIONS, ids=lambda v: f"{v.contract}:{next(iter(v.modules))}")
def test_a_violation_breaks_its_contract(violation: Violation, tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    for relative, source in violation.modules.items():
        (tmp_path / relative).write_text(source)
    out = lint_imports(tmp_path, violation.contract)
    report = out.stdout + out.stderr
    assert out.returncode == 1, report
    assert f"{contracts()[violation.contract]} BROKEN" in report, report
    assert violation.shows in report, report
