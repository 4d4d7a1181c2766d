"""Dockerfile, Compose files, environment template, Kubernetes manifests and the deployment script.

No Docker engine runs here, so each artifact is linted with its own tool and its commands are run
without containers where that is possible (the image's HEALTHCHECK against a real app, the
dependency extraction the build does, the deploy script's own checks)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from core.settings import FIELDS
from testkit.scripted_llm import free_port
from tests.conftest import PRODUCTION
from tests.deploy.conftest import ROOT, tool

K8S = ROOT / "deploy" / "k8s"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


async def _run(command: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    return await asyncio.to_thread(subprocess.run, command, capture_output=True, timeout=30, **kw)


# -- Dockerfile ----------------------------------------------------------------------------------------

def test_hadolint_passes():
    result = subprocess.run([tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_problems(tmp_path):
    """The lint can fail: an unpinned apt-get install without cleanup is reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get update && apt-get install -y curl\n")
    result = subprocess.run([tool("hadolint"), str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DL3008" in result.stdout


def test_dockerfile_shape():
    steps = dockerfile_instructions()
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) >= 2 and all("slim" in f for f in froms), "multi-stage on slim Python images"
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root"), "runs as a non-root user"
    assert any(word == "HEALTHCHECK" for word, _ in steps)
    env = " ".join(args for word, args in steps if word == "ENV")
    assert "ROOT_PATH=/ai" in env and "HOST=0.0.0.0" in env and "FORWARDED_ALLOW_IPS" in env
    cmd = json.loads(next(args for word, args in steps if word == "CMD"))
    assert cmd == ["python", "-m", "server", "serve"]
    runs = " ".join(args for word, args in steps if word == "RUN")
    assert "server.voice.model --dir /opt/models/whisper-base" in runs, "the speech model is assembled at build time"
    for word, args in steps:
        if word == "COPY" and "--from" not in args:
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY source {source} missing"


def test_dockerignore_keeps_what_the_build_copies_and_drops_the_rest():
    import fnmatch

    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        result = False
        for rule in rules:
            negate = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern + "/*") or path.startswith(pattern + "/"):
                result = not negate
        return result

    sources = [src for word, args in dockerfile_instructions() if word == "COPY" and "--from" not in args
               for src in args.split()[:-1]]
    for source in sources:
        assert not ignored(source), f"{source} is copied by the Dockerfile but excluded by .dockerignore"
    for private in (".env.production", ".venv/bin/python", "var/pg/data", ".git/config", "tests/conftest.py"):
        assert ignored(private), f"{private} would be sent to the Docker build context"


async def test_image_healthcheck_command_against_a_real_app(replica_settings, running_server):
    """The HEALTHCHECK's command, run as the image runs it (PORT from the environment)."""
    steps = dockerfile_instructions()
    healthcheck = next(args for word, args in steps if word == "HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    command[0] = sys.executable
    async with running_server(replica_settings(root_path="/ai")) as srv:
        ok = await _run(command, env={**os.environ, "PORT": str(srv.settings.port)})
    dead = await _run(command, env={**os.environ, "PORT": str(free_port())})
    assert ok.returncode == 0, ok.stderr
    assert dead.returncode != 0


async def test_compose_healthcheck_command_against_a_real_app(replica_settings, running_server):
    """The app services' Compose health check (readiness), with the port of a real replica."""
    compose = yaml.safe_load((ROOT / "docker-compose.prod.yml").read_text())
    test = compose["services"]["app1"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    async with running_server(replica_settings()) as srv:
        command = [sys.executable, *[part.replace("8000", str(srv.settings.port)) for part in test[2:]]]
        result = await _run(command)
        async with httpx.AsyncClient() as http:
            ready = await http.get(srv.url + "/health/ready")
    assert result.returncode == 0 and ready.status_code == 200


# -- Compose ---------------------------------------------------------------------------------------------

def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation (``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``$$``)."""
    def replace(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name, "")
        if op == ":?" and not value:
            raise AssertionError(f"{name} is required: {arg}")
        return arg if op == ":-" and not value else value

    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:-|:\?)([^}]*))?\}", replace, text).replace("$$", "$")


def compose_model(path: Path, text: str | None = None) -> object:
    """The file as Compose sees it with the template's values (merge keys resolved), validated by the
    Compose Specification bindings (compose-spec on PyPI): unknown keys, wrong types, bad durations,
    sizes or dependency conditions are errors."""
    from compose_spec import PyCompose

    raw = interpolate(text if text is not None else path.read_text(), env_template())
    return PyCompose.from_json(json.dumps(yaml.safe_load(raw)))


@pytest.mark.parametrize("name", ["docker-compose.prod.yml", "docker-compose.yml"])
def test_compose_files_are_valid_compose_specification(name):
    model = compose_model(ROOT / name)
    assert model.service_names()


def test_compose_validation_rejects_mistakes():
    text = (ROOT / "docker-compose.prod.yml").read_text()
    for old, new in [("stop_grace_period: 30s", "stop_grace_periode: 30s"),
                     ("condition: service_healthy", "condition: service_happy"),
                     ("memory: 2g", "memory: plenty")]:
        with pytest.raises(ValueError):
            compose_model(ROOT / "docker-compose.prod.yml", text.replace(old, new, 1))


def test_production_compose_file():
    compose = yaml.safe_load((ROOT / "docker-compose.prod.yml").read_text())
    services = compose["services"]
    assert {"app1", "app2", "migrate", "postgres", "redis", "nginx", "prometheus", "grafana"} <= set(services)
    assert services["postgres"]["image"].startswith("pgvector/pgvector")
    assert "--appendonly" in services["redis"]["command"] and "yes" in services["redis"]["command"]
    assert services["migrate"]["command"] == ["python", "-m", "server", "migrate"]
    for name in ("app1", "app2"):
        app = services[name]
        assert app["env_file"] == ".env.production"
        assert app["environment"]["ROOT_PATH"] == "/ai"
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in services.items():
        if name == "migrate":
            continue
        assert service.get("restart") == "unless-stopped", name
        assert "healthcheck" in service, name
        assert service["deploy"]["resources"]["limits"]["memory"], name
    assert set(compose["volumes"]) >= {"pg-data", "redis-data", "app-data", "prometheus-data", "grafana-data"}
    # nginx and Prometheus address exactly the replicas Compose defines
    nginx = (ROOT / "nginx.conf").read_text()
    replicas = sorted(n for n in services if re.fullmatch(r"app\d+", n))
    assert sorted(re.findall(r"server (app\d+):8000", nginx)) == replicas
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "abparts-assistant")
    assert sorted(job["static_configs"][0]["targets"]) == [f"{r}:8000" for r in replicas]
    # stop grace longer than the drain the app does on SIGTERM
    grace = int(services["app1"]["stop_grace_period"].rstrip("s"))
    assert grace > next(f.default for f in FIELDS if f.env == "SHUTDOWN_DRAIN_SECONDS")


def test_compose_interpolated_variables_are_in_the_template():
    template = env_template()
    text = (ROOT / "docker-compose.prod.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    assert used <= set(template), used - set(template)


def test_development_compose_file():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {"app", "postgres", "redis"} <= set(compose["services"])


# -- environment template ----------------------------------------------------------------------------------

def env_template() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.production.template").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def test_env_template_documents_every_setting(tmp_path):
    template = env_template()
    missing = [f.env for f in FIELDS if f.env not in template]
    assert not missing, (f"settings missing from .env.production.template: {missing}; "
                         "regenerate it: python deploy/scripts/render_env_template.py")
    assert template["ENV"] == "production" and template["ROOT_PATH"] == "/ai"
    # every CHANGE_ME is a placeholder the deploy script refuses; nothing else is a secret with a value
    for field in FIELDS:
        if field.secret and template[field.env]:
            assert "CHANGE_ME" in template[field.env], field.env
    # and it is what the generator writes
    result = subprocess.run([sys.executable, "-c",
                             "import runpy,sys; sys.argv=['x']; m=runpy.run_path('deploy/scripts/render_env_template.py');"
                             "print(m['render'](), end='')"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.stdout == (ROOT / ".env.production.template").read_text(), (
        ".env.production.template is out of date: python deploy/scripts/render_env_template.py")


def test_env_template_values_parse_as_settings_and_are_refused_until_the_placeholders_are_replaced():
    from core.settings import Settings, SettingsError

    values = {k: v for k, v in env_template().items() if k in {f.env for f in FIELDS}}
    settings = Settings.from_env(values, strict=False)
    assert settings.env == "production" and settings.root_path == "/ai"
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(values)
    assert "JWT_SECRET" in str(refused.value) and "CONVERSATION_ENCRYPTION_KEY" in str(refused.value)
    real = {**values, "JWT_SECRET": "r" * 64, "CONVERSATION_ENCRYPTION_KEY": PRODUCTION["conversation_encryption_key"]}
    assert Settings.from_env(real).problems() == []


# -- Kubernetes --------------------------------------------------------------------------------------------

def k8s_documents() -> list[tuple[Path, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path, doc))
    return docs


def test_k8s_manifests_pass_strict_schema_validation():
    """kubernetes-validate (PyPI; bundles the Kubernetes OpenAPI schemas, offline), strict mode."""
    files = [str(p) for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"]
    result = subprocess.run([tool("kubernetes-validate"), "--strict", "-k", "1.33.0", *files],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout


def test_k8s_validation_rejects_a_bad_manifest(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((K8S / "hpa.yaml").read_text().replace("minReplicas: 2", "minReplicas: two"))
    result = subprocess.run([tool("kubernetes-validate"), "--strict", "-k", "1.33.0", str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0


def test_k8s_set_is_complete_and_consistent():
    docs = k8s_documents()
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in docs}
    for expected in [("Namespace", "abparts-assistant"), ("ConfigMap", "abparts-assistant-config"),
                     ("Secret", "abparts-assistant-secrets"), ("Deployment", "abparts-assistant"),
                     ("Deployment", "abparts-assistant-worker"), ("Service", "abparts-assistant"),
                     ("Ingress", "abparts-assistant"), ("HorizontalPodAutoscaler", "abparts-assistant"),
                     ("PodDisruptionBudget", "abparts-assistant"), ("StatefulSet", "postgres"),
                     ("StatefulSet", "redis"), ("Job", "abparts-assistant-migrate")]:
        assert expected in kinds, expected
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (K8S / resource).exists(), resource
    by = {(d["kind"], d["metadata"]["name"]): d for _, d in docs}
    app = by[("Deployment", "abparts-assistant")]["spec"]
    container = app["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["resources"]["limits"] and container["resources"]["requests"]
    assert app["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert app["template"]["spec"]["affinity"]["podAntiAffinity"]
    service = by[("Service", "abparts-assistant")]["spec"]
    assert service["selector"] == app["selector"]["matchLabels"]
    pdb = by[("PodDisruptionBudget", "abparts-assistant")]["spec"]
    assert pdb["selector"]["matchLabels"] == app["selector"]["matchLabels"]
    ingress = by[("Ingress", "abparts-assistant")]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"].startswith("/ai")
    assert int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    config = by[("ConfigMap", "abparts-assistant-config")]["data"]
    secret = by[("Secret", "abparts-assistant-secrets")]["stringData"]
    known = {f.env for f in FIELDS} | {"FORWARDED_ALLOW_IPS", "POSTGRES_PASSWORD", "REDIS_PASSWORD"}
    assert set(config) | set(secret) <= known, (set(config) | set(secret)) - known
    secret_fields = {f.env for f in FIELDS if f.secret}
    assert not secret_fields & set(config), "secrets belong in the Secret, not the ConfigMap"
    assert config["ROOT_PATH"] == "/ai"


def _pod_specs() -> list[tuple[str, dict]]:
    out = []
    for _, doc in k8s_documents():
        spec = doc.get("spec", {})
        template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template")
        if template:
            out.append((f"{doc['kind']}/{doc['metadata']['name']}", template))
    return out


def test_k8s_every_container_runs_restricted():
    """Every pod runs as non-root with the runtime's seccomp profile; every container drops all
    capabilities, cannot escalate and has a read-only root file system."""
    pods = _pod_specs()
    assert len(pods) >= 5
    for name, template in pods:
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in pod.get("initContainers", []) + pod["containers"]:
            ctx = container.get("securityContext")
            assert ctx, f"{name}/{container['name']} has no securityContext"
            assert ctx["allowPrivilegeEscalation"] is False and ctx["capabilities"]["drop"] == ["ALL"], name
            assert ctx["readOnlyRootFilesystem"] is True, name


def _selects(selector: dict, labels: dict) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In"
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def test_k8s_network_policies_let_only_the_app_reach_postgres_and_redis():
    docs = k8s_documents()
    policies = [d for _, d in docs if d["kind"] == "NetworkPolicy"]
    assert any(p["spec"]["podSelector"] == {} and p["spec"]["policyTypes"] == ["Ingress"] for p in policies), \
        "a default deny of ingress for the namespace"
    pods = {name: t["metadata"]["labels"] for name, t in _pod_specs()}

    def allowed_from(target: str, port: int) -> set[str]:
        """The pods of the namespace that may open ``port`` on the pods of ``target``."""
        out: set[str] = set()
        for policy in policies:
            if not _selects(policy["spec"]["podSelector"], pods[target]):
                continue
            for rule in policy["spec"].get("ingress", []):
                if port not in {p["port"] for p in rule.get("ports", [])}:
                    continue
                for peer in rule.get("from", []):
                    if "podSelector" in peer:
                        out |= {n for n, labels in pods.items() if _selects(peer["podSelector"], labels)}
        return out

    app, worker, migrate = ("Deployment/abparts-assistant", "Deployment/abparts-assistant-worker",
                            "Job/abparts-assistant-migrate")
    assert allowed_from("StatefulSet/postgres", 5432) == {app, worker, migrate}
    assert allowed_from("StatefulSet/redis", 6379) == {app, worker}
    assert allowed_from(app, 8000) == set(), "the app is reached from the ingress controller's namespace only"
    for store in ("postgres", "redis"):
        policy = next(p for p in policies if p["metadata"]["name"] == store)
        assert "Egress" in policy["spec"]["policyTypes"] and policy["spec"]["egress"] == []


def test_k8s_probes_mean_different_things_and_a_disruption_budget_exists():
    by = {(d["kind"], d["metadata"]["name"]): d for _, d in k8s_documents()}
    for name in ("abparts-assistant", "abparts-assistant-worker"):
        container = by[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready", name
    pdb = by[("PodDisruptionBudget", "abparts-assistant")]["spec"]
    replicas = by[("Deployment", "abparts-assistant")]["spec"]["replicas"]
    assert 1 <= pdb["minAvailable"] < replicas, "a node drain keeps one pod serving and can still proceed"


# -- deployment script ---------------------------------------------------------------------------------------

SCRIPT = ROOT / "deploy" / "scripts" / "deploy_production.sh"


def test_shellcheck_clean():
    scripts = [str(SCRIPT)]
    result = subprocess.run([tool("shellcheck"), "--severity=style", *scripts], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_script_options():
    help_text = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert help_text.returncode == 0
    for option in ("--skip-backup", "--skip-tests", "--force"):
        assert option in help_text.stdout
    bad = subprocess.run([str(SCRIPT), "--bogus"], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "unknown option: --bogus" in bad.stdout + bad.stderr


def test_deploy_script_stops_at_missing_prerequisites(tmp_path):
    """On a host without Docker Compose the script stops at the prerequisite step, before touching
    anything (here: PATH holds only the basic tools, so `docker` is missing)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("bash", "date", "dirname", "printf", "sed", "env", "cat"):
        path = subprocess.run(["sh", "-c", f"command -v {name}"], capture_output=True, text=True).stdout.strip()
        if path:
            (bin_dir / name).symlink_to(path)
    result = subprocess.run([str(SCRIPT), "--skip-tests"], capture_output=True, text=True, timeout=30,
                            env={"PATH": str(bin_dir), "HOME": str(tmp_path)})
    assert result.returncode != 0
    assert "docker is not installed" in result.stdout


def test_deploy_script_runs_the_steps_in_order():
    """Validation before backup, backup before migrations, migrations once before the rolling restart,
    verification after it, rollback on failure."""
    text = SCRIPT.read_text()
    main = text[text.index("main() {"):]
    order = ["check_prerequisites", "run_tests", "build_image", "start_datastores", "validate_config",
             "backup_database", "run_migrations", "rolling_restart", "verify_public", "rollback"]
    positions = [main.index(step) for step in order]
    assert positions == sorted(positions)
    assert "python -m server check-config" in text and "pg_dump" in text
    assert text.count("run --rm --no-deps -T migrate\n") + text.count("run --rm --no-deps -T migrate ||") == 1
    assert "--force-recreate" in text


@pytest.mark.parametrize("path", ["docs/GETTING_STARTED.md", "docs/DEPLOYMENT_GUIDE.md", "docs/OPERATIONS_RUNBOOK.md",
                                  "docs/PRODUCTION_CHECKLIST.md", "docs/ARCHITECTURE.md", "docs/embedding.md"])
def test_operator_documents_exist(path):
    text = (ROOT / path).read_text()
    assert len(text) > 1500 and text.startswith("# ")


def _app_http_routes() -> dict[str, set[str]]:
    """Path -> methods of every HTTP route the app serves in production (OpenAPI path syntax)."""
    from starlette.routing import Route

    from core.settings import Settings
    from server.app import create_app

    # the URLs are never connected: create_app does no I/O, only the lifespan connects
    app = create_app(Settings(**PRODUCTION, jwt_secret="x" * 40, database_url="postgresql://unused/unused",
                              redis_url="redis://unused:6379/0"))
    out: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, Route):
            path = re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", route.path)
            out.setdefault(path, set()).update(m.lower() for m in (route.methods or ()) if m != "HEAD")
    return out


def test_openapi_document_is_valid_and_matches_the_app():
    from openapi_spec_validator import validate

    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    validate(spec)
    assert spec["servers"][0]["url"].endswith("/ai")
    routes = _app_http_routes()
    for path, item in spec["paths"].items():
        assert path in routes, f"docs/openapi.yaml documents {path}, which the app does not serve"
        documented = {m for m in item if m in ("get", "post", "put", "delete", "patch")}
        assert documented <= routes[path], (path, documented - routes[path])
    for path in ("/health/live", "/health/ready", "/metrics", "/widget.js", "/admin", "/api/me",
                 "/api/kb/documents", "/api/transcribe"):
        assert path in spec["paths"], path
