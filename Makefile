# ABParts AI Assistant: the two commands of the quick start are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# the Python packages alone: enough for the fast unit layer, which needs no services and no Debian packages
PYSTAMP := $(VENV)/.installed-python
# Debian packages (installed when missing and running as root): what the service needs, and what
# the tests add (speech synthesis, a browser, nginx, Prometheus, shellcheck).
RUN_APT_PACKAGES := redis-server ffmpeg
APT_PACKAGES := $(RUN_APT_PACKAGES) espeak-ng chromium nginx prometheus shellcheck

UNIT_TESTS := tests/unit tests/test_architecture.py

.PHONY: run test unit bench install system-deps lint typecheck clean lock

# Installs are reproducible: the exact versions (and hashes) come from the lock files, which
# `make lock` writes from pyproject.toml with uv; requirements.lock is the service's set (the
# Dockerfile installs it), requirements-test.lock adds the test tools (`make run` and `make test`).
UV_VERSION := 0.13.8
UV := $(VENV)/bin/uv
LOCK_FLAGS := --python-version 3.11.7 --python-platform x86_64-unknown-linux-gnu --generate-hashes --custom-compile-command "make lock"

$(PYSTAMP): pyproject.toml requirements.lock requirements-test.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(UV) pip install --quiet --python $(PY) --require-hashes -r requirements-test.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $(PYSTAMP)

# re-resolve after a change to the dependencies in pyproject.toml (kept pins stay unless they must move)
lock:
	test -x $(UV) || $(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(UV) pip compile --quiet pyproject.toml $(LOCK_FLAGS) -o requirements.lock
	$(UV) pip compile --quiet pyproject.toml --extra test -c requirements.lock $(LOCK_FLAGS) -o requirements-test.lock

$(STAMP): $(PYSTAMP)
	$(MAKE) system-deps PACKAGES="$(RUN_APT_PACKAGES)"
	$(PY) -m server.voice.model
	touch $(STAMP)

install: $(STAMP)

PACKAGES ?= $(APT_PACKAGES)
system-deps:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing Debian packages (run as root or install them):$$missing"; exit 1; fi; \
	fi

# development unless ENV says otherwise: the demo page and tokens, loopback only (ENV defaults to production)
run: $(STAMP)
	ENV="$${ENV:-development}" $(PY) -m server serve

# both layers: the fast unit layer first (it fails in seconds), then the end-to-end tests
test: $(STAMP)
	$(MAKE) system-deps PACKAGES="$(APT_PACKAGES)"
	$(PY) -m pytest $(UNIT_TESTS) -q
	$(PY) -m pytest tests -q --ignore=tests/unit --ignore=tests/test_architecture.py

# the fast layer only: pure logic and the import contracts, no services, no Debian packages
unit: $(PYSTAMP)
	$(PY) -m pytest $(UNIT_TESTS) -q

bench: $(STAMP)
	$(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check core server knowledge testkit tests bench
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

clean:
	rm -rf var tests/artifacts
