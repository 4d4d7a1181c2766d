"""A stand-in for ``docker`` / ``docker compose`` that runs, on this machine, the same steps the
deployment script asks Compose for (no Docker engine runs here).

What each command the script uses becomes:
  compose build migrate             the image: a snapshot of the checkout's code (core, server,
                                    knowledge, widget) in a directory named after APP_IMAGE
  compose up -d --wait postgres redis   PostgreSQL and Redis of the env file answer (the test runs them)
  compose run migrate [cmd]         the command (default ``python -m server migrate``) in the image,
                                    with the env file's variables, like the one-off container
  compose exec postgres pg_dump ... / pg_restore --list   the same PostgreSQL tools against DATABASE_URL
  compose up -d --force-recreate appN   stop appN's process (SIGTERM, as Docker does), start
                                    ``python -m server serve`` from the image on appN's port
  compose ps -q SERVICE / inspect   container ids, the image of a container, and its health the way the
                                    Compose health check computes it (/health/ready; unhealthy after
                                    three failed checks in a row, exited when the process died)
  compose up nginx prometheus grafana / exec nginx -s reload   nginx, Prometheus and Grafana are not
                                    run here (tests/deploy/test_nginx.py and test_prometheus.py run the
                                    real ones): ``nginx`` is reported healthy when every app replica is ready
  compose down                      stop every process this stand-in started

State lives in $STANDIN_DIR; replica ports come from $STANDIN_PORTS ("app1=8101,app2=8102").
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

STATE_DIR = Path(os.environ.get("STANDIN_DIR", "/nonexistent"))
STATE = STATE_DIR / "state.json"
CODE = ("core", "server", "knowledge", "widget")
PG_BIN = Path(os.environ.get("STANDIN_PG_BIN", ""))


def load() -> dict[str, Any]:
    if STATE.exists():
        state: dict[str, Any] = json.loads(STATE.read_text())
        return state
    return {"images": {}, "containers": {}}


def save(state: dict[str, Any]) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state, indent=1))


def env_file(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value
    return out


def ports() -> dict[str, int]:
    pairs = (p.split("=") for p in os.environ.get("STANDIN_PORTS", "").split(",") if p)
    return {name: int(port) for name, port in pairs}


def alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        waited = 0  # not our child (an earlier invocation started it): ask the kernel
    if waited == pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def stop(pid: int) -> None:
    if not alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - loopback only
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def image_dir(state: dict[str, Any], tag: str) -> Path:
    if tag not in state["images"]:
        sys.exit(f"Error: no such image: {tag}")
    return Path(state["images"][tag])


def service_env(env: str, extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env_file(env), **extra, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def compose(args: list[str]) -> int:
    env = ""
    while args and args[0] in ("-f", "--env-file"):
        if args[0] == "--env-file":
            env = args[1]
        args = args[2:]
    if args == ["version"]:
        print("Docker Compose version v2 (stand-in)")
        return 0
    command, rest = args[0], [a for a in args[1:] if a not in ("-d", "-T", "--rm", "--no-deps", "--pull", "--wait",
                                                                 "--force-recreate")]
    state = load()
    tag = os.environ.get("APP_IMAGE", "abparts-assistant:latest")
    if command == "build":
        target = STATE_DIR / "images" / tag.replace(":", "_")
        shutil.rmtree(target, ignore_errors=True)
        for part in CODE:
            shutil.copytree(Path.cwd() / part, target / part, ignore=shutil.ignore_patterns("__pycache__"))
        state["images"][tag] = str(target)
        save(state)
        print(f"built {tag}")
        return 0
    if command == "up":
        for service in rest:
            if service in ("postgres", "redis"):
                values = env_file(env)
                if service == "postgres":
                    ok = subprocess.run([str(PG_BIN / "pg_isready"), "-d", values["DATABASE_URL"]], timeout=30).returncode == 0
                else:
                    import redis

                    ok = bool(redis.Redis.from_url(values["REDIS_URL"], socket_timeout=5).ping())
                if not ok:
                    print(f"{service} is not healthy", file=sys.stderr)
                    return 1
            elif service in ("nginx", "prometheus", "grafana"):
                state["containers"][service] = {"id": uuid.uuid4().hex, "pid": None, "image": service}
            else:
                start_replica(state, service, tag, env)
        save(state)
        return 0
    if command == "run":
        service, cmd = rest[0], rest[1:] or ["python", "-m", "server", "migrate"]
        if cmd[0] == "python":
            cmd[0] = sys.executable
        from testkit.scripted_llm import free_port

        return subprocess.run(cmd, cwd=image_dir(state, tag), env=service_env(env, {"PORT": str(free_port())}),
                              timeout=600).returncode
    if command == "exec":
        service, cmd = rest[0], rest[1:]
        if service == "nginx":
            return 0  # nginx -s reload: no nginx runs here (see the module's docstring)
        if service != "postgres":
            sys.exit(f"stand-in: exec in {service} is not supported")
        dsn = env_file(env)["DATABASE_URL"]
        if cmd[0] == "pg_restore":
            return subprocess.run([str(PG_BIN / "pg_restore"), *cmd[1:]], stdin=sys.stdin, timeout=300).returncode
        if any("pg_dump" in part for part in cmd):
            return subprocess.run([str(PG_BIN / "pg_dump"), "--format=custom", "-d", dsn], stdout=sys.stdout,
                                  timeout=300).returncode
        sys.exit(f"stand-in: unsupported postgres command {cmd}")
    if command == "ps":
        container = state["containers"].get(rest[-1])
        if container and (container["pid"] is None or alive(container["pid"])):
            print(container["id"])
        return 0
    if command == "down":
        for container in state["containers"].values():
            if container["pid"]:
                stop(container["pid"])
        state["containers"] = {}
        save(state)
        return 0
    sys.exit(f"stand-in: unsupported compose command {command}")


def start_replica(state: dict[str, Any], service: str, tag: str, env: str) -> None:
    old = state["containers"].get(service)
    if old and old["pid"]:
        stop(old["pid"])
    port = ports()[service]
    directory = image_dir(state, tag)
    log = open(STATE_DIR / f"{service}.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen([sys.executable, "-m", "server", "serve"], cwd=directory, stdout=log, stderr=subprocess.STDOUT,
                            env=service_env(env, {"PORT": str(port), "HOST": "127.0.0.1"}), start_new_session=True)
    state["containers"][service] = {"id": uuid.uuid4().hex, "pid": proc.pid, "image": tag, "port": port, "failures": 0}


def inspect(args: list[str]) -> int:
    fmt, cid = args[1], args[2]
    state = load()
    name, container = next(((n, c) for n, c in state["containers"].items() if c["id"] == cid), (None, None))
    if container is None:
        print(f"Error: No such object: {cid}", file=sys.stderr)
        return 1
    if ".Config.Image" in fmt:
        print(container["image"])
        return 0
    if name == "nginx":
        replicas = [c for n, c in state["containers"].items() if n.startswith("app")]
        ready = replicas and all(http_status(f"http://127.0.0.1:{c['port']}/health/ready") == 200 for c in replicas)
        print("healthy" if ready else "starting")
        return 0
    if container["pid"] is None:
        print("running")
        return 0
    if not alive(container["pid"]):
        print("exited")
        return 0
    base = f"http://127.0.0.1:{container['port']}"
    if http_status(base + "/health/live") != 200:
        print("starting")  # still booting (Docker's start period)
        return 0
    if http_status(base + "/health/ready") == 200:
        container["failures"] = 0
        status = "healthy"
    else:
        container["failures"] += 1
        status = "unhealthy" if container["failures"] >= 3 else "starting"
    save(state)
    print(status)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print("Docker version (stand-in)")
        return 0
    if argv[:1] == ["info"]:
        return 0
    if argv[:1] == ["compose"]:
        return compose(argv[1:])
    if argv[:1] == ["inspect"]:
        return inspect(argv[1:])
    sys.exit(f"stand-in: unsupported docker command {argv}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
