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

.PHONY: run test unit bench install system-deps lint typecheck clean

$(PYSTAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(PYSTAMP)

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

run: $(STAMP)
	$(PY) -m server serve

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
