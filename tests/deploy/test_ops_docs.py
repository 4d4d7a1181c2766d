"""The runbook, the production checklist and the deployment guide say only what the code does: every
command in them is either run by a test (named here) or needs a Docker host or a Kubernetes cluster,
which each document says at its top; and the facts they state about the service hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT

DOCS = [ROOT / "docs" / name for name in ("OPERATIONS_RUNBOOK.md", "PRODUCTION_CHECKLIST.md", "DEPLOYMENT_GUIDE.md")]
PREFACE = "need a Docker host"  # each document's note on `$C`/`docker` and `$K`/`kubectl` commands

# commands the tests run, and where (the test file must exist and contain the key)
TESTED: list[tuple[str, str, str]] = [
    (r"^deploy/scripts/deploy_production\.sh\b", "tests/deploy/test_deploy_script.py", "deploy_production.sh"),
    (r"^(\.venv/bin/)?python -m server check-config\b", "tests/deploy/test_check_config.py", '"check-config"'),
    (r"^(\.venv/bin/)?python -m server serve\b", "testkit/servers.py", '"serve"'),
    (r"^(\.venv/bin/)?python -m server migrate\b", "tests/deploy/compose_standin.py", '"migrate"'),
    (r"^(\.venv/bin/)?python -m server settings-doc\b", "tests/unit/core/test_settings.py", "settings-doc"),
    (r"^make (install|lock)\b", "tests/deploy/test_lock.py", "requirements-test.lock"),
    (r"^make test\b", "tests/deploy/test_lock.py", 'make test'),
    (r"^(\.venv/bin/)?pip-audit\b", "tests/deploy/test_lock.py", '"pip-audit"'),
    (r"^promtool\b", "tests/deploy/test_prometheus.py", '"promtool"'),
    (r"^(\.venv/bin/)?python -m server audit-verify\b", "tests/escalation/test_audit.py", "audit-verify"),
    (r"^(\.venv/bin/)?python -m server new-key\b", "tests/deploy/test_ops_docs.py", '"new-key"'),
    (r"^curl\b.*/health/(ready|live)", "tests/deploy/test_access_log.py", "/health/ready"),
]
# plain shell around the commands (editing files, variables for the commands below)
SHELL = re.compile(r"^(cp|chmod|cat|\$EDITOR|mkdir|cd|C=|K=|#)")
DOCKER = re.compile(r"^(\$C\b|docker\b|(\w+=\S+ )+\$C\b)")
CLUSTER = re.compile(r"^(\$K\b|kubectl\b)")
COMMANDISH = re.compile(r"^(\$C|\$K|docker|kubectl|python|\.venv/\S+|make|deploy/scripts/\S+|pip-audit|promtool|curl|nmap)\s")
# a command run against the deployed service itself (its address in it, or said so right after it)
DEPLOYED = re.compile(r"<host>")


def commands(path: Path) -> list[str]:
    """Every command line in the document's code blocks, and every inline code span that is a command."""
    text = path.read_text()
    out: list[str] = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        out += [line.strip() for line in joined.splitlines() if line.strip()]
    prose = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    for match in re.finditer(r"`([^`\n]+)`", prose):
        span = match.group(1).strip()
        if COMMANDISH.match(span):
            after = prose[match.end():match.end() + 40]
            out.append(span + (" <host>" if after.startswith(" on the production host") else ""))
    return out


def classify(command: str) -> str:
    if SHELL.match(command):
        return "shell"
    if DOCKER.match(command):
        return "docker"
    if CLUSTER.match(command):
        return "cluster"
    if DEPLOYED.search(command):
        return "deployed"
    for pattern, test_file, key in TESTED:
        if re.match(pattern, command):
            assert key in (ROOT / test_file).read_text(), f"{test_file} does not run {command!r}"
            return "tested"
    return "unclassified"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_command_is_tested_or_needs_a_real_host(doc):
    assert PREFACE in " ".join(doc.read_text().split()), f"{doc.name} must say which commands need a Docker host or a cluster"
    found = commands(doc)
    unclassified = [c for c in found if classify(c) == "unclassified"]
    assert not unclassified, f"{doc.name}: commands neither run by a test nor marked: {unclassified}"


def test_the_classification_catches_an_unknown_command():
    assert classify("python -m server frobnicate") == "unclassified"
    assert classify("$C restart app1") == "docker" and classify("kubectl get pods") == "cluster"
    assert classify("deploy/scripts/deploy_production.sh --skip-tests") == "tested"
    assert classify("curl -s https://<host>/ai/demo/token") == "deployed"


def test_stated_facts_hold():
    runbook = (ROOT / "docs" / "OPERATIONS_RUNBOOK.md").read_text()
    alerts = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    for name in re.findall(r"`([A-Z][A-Za-z]+)`", runbook):
        if name.endswith(("Down", "Errors", "Failing", "Rate", "Slow", "Exhausted", "Ready", "InUse", "Answers")):
            assert f"alert: {name}" in alerts, f"the runbook names alert {name}, which deploy/prometheus/alerts.yml lacks"
    assert '"event": "http.access"' in runbook and '"event": "ws.access"' in runbook
    assert "Redis" in runbook and "503 only when" in runbook


def test_new_key_prints_a_fernet_key():
    import subprocess
    import sys

    from cryptography.fernet import Fernet

    out = subprocess.run([sys.executable, "-m", "server", "new-key"], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, check=True).stdout.strip()
    assert Fernet(out.encode()).decrypt(Fernet(out.encode()).encrypt(b"x")) == b"x"
