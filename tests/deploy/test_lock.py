"""Reproducible installs: the lock files match pyproject.toml, carry a hash for every file, are what
this environment runs and what the image installs; and a vulnerability audit of the locked set."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

from tests.deploy.conftest import ROOT, tool
from tests.deploy.test_artifacts import dockerfile_instructions

RUNTIME_LOCK = ROOT / "requirements.lock"
TEST_LOCK = ROOT / "requirements-test.lock"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(path: Path) -> dict[str, tuple[str, str, int]]:
    """name -> (version, marker, number of hashes) of every pin in a uv/pip-compile lock file."""
    pins: dict[str, tuple[str, str, int]] = {}
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        spec, _, rest = line.partition(" --hash")
        requirement, _, marker = spec.partition(";")
        name, _, version = requirement.strip().partition("==")
        assert version, f"{path.name}: {line[:80]!r} is not pinned with =="
        pins[_norm(name.split("[")[0])] = (version.strip(), marker.strip(), line.count("--hash=sha256:"))
    return pins


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize("lock,groups", [(RUNTIME_LOCK, ("dependencies",)), (TEST_LOCK, ("dependencies", "test"))])
def test_every_direct_dependency_is_pinned_within_its_range(lock, groups):
    pins = locked(lock)
    spec = project()
    wanted = list(spec["dependencies"]) + (list(spec["optional-dependencies"]["test"]) if "test" in groups else [])
    for raw in wanted:
        req = Requirement(raw)
        assert _norm(req.name) in pins, f"{req.name} is in pyproject.toml but not in {lock.name}: run `make lock`"
        version = pins[_norm(req.name)][0]
        assert req.specifier.contains(version, prereleases=True), \
            f"{lock.name} pins {req.name}=={version}, outside {req.specifier}: run `make lock`"


def test_every_pin_has_hashes_and_the_two_locks_agree():
    runtime, full = locked(RUNTIME_LOCK), locked(TEST_LOCK)
    for name, (version, _, hashes) in {**runtime, **full}.items():
        assert hashes >= 1, f"{name}=={version} has no --hash: the lock must be written with --generate-hashes"
    for name, (version, _, _) in runtime.items():
        assert full.get(name, ("",))[0] == version, \
            f"{name}: {version} in requirements.lock but {full.get(name)} in requirements-test.lock"
    assert "torch" not in full, "no PyTorch: the service runs without it"


def test_this_environment_runs_exactly_the_locked_versions():
    """What `make install` put into the virtualenv is the lock, nothing newer or older."""
    for name, (version, marker, _) in locked(TEST_LOCK).items():
        if marker and not Marker(marker).evaluate():
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name}=={version} is locked but not installed: run `make install`")
        assert installed == version, f"{name}: {installed} installed, {version} locked"


def test_makefile_and_image_install_from_the_locks():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(PYSTAMP): ", 1)[1].split("\n\n", 1)[0]
    assert "--require-hashes -r requirements-test.lock" in recipe
    assert "--no-deps -e ." in recipe, "the project itself is installed without re-resolving"
    runs = [args for word, args in dockerfile_instructions() if word == "RUN"]
    assert any("--require-hashes" in r and "-r requirements.lock" in r for r in runs)
    assert not any("pyproject.toml" in r for r in runs), "the image resolves nothing itself"
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.strip().splitlines()[-1] == "make test"


def test_vulnerability_audit_of_the_locked_set(tmp_path):
    """pip-audit over requirements.lock (PyPI's vulnerability data). When it cannot reach that data
    the test says so plainly and is skipped: the set has then NOT been audited."""
    report = tmp_path / "audit.json"
    result = subprocess.run([tool("pip-audit"), "-r", str(RUNTIME_LOCK), "--disable-pip", "--no-deps",
                             "--progress-spinner", "off", "--format", "json", "--output", str(report)],
                            capture_output=True, text=True, timeout=600)
    if not report.exists():
        pytest.skip(f"pip-audit could not reach its vulnerability database; the locked set was NOT audited: "
                    f"{(result.stderr or result.stdout).strip()[-400:]}")
    deps = json.loads(report.read_text())["dependencies"]
    unaudited = [d["name"] for d in deps if "skip_reason" in d]
    vulnerable = {f"{d['name']}=={d['version']}": [v["id"] for v in d["vulns"]] for d in deps if d.get("vulns")}
    assert not vulnerable, f"known vulnerabilities in the locked set: {vulnerable}"
    if unaudited:
        pytest.skip(f"pip-audit could not reach its vulnerability database for {len(unaudited)} of {len(deps)} "
                    f"locked packages (for example {', '.join(unaudited[:3])}); those were NOT audited")
    assert result.returncode == 0, result.stderr


def test_redis_replies_are_parsed_by_hiredis():
    """`redis[hiredis]`: redis-py parses every reply in C when hiredis is importable. Its own Python parser
    spends about twice the hub's CPU on the fan-out's announcements and the frames' pipelines
    (docs/performance.md), so losing the extra from the locks must not go unnoticed."""
    from redis._parsers import _AsyncHiredisParser
    from redis.asyncio.connection import DefaultParser

    assert "hiredis" in locked(RUNTIME_LOCK)
    assert DefaultParser is _AsyncHiredisParser
