# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
# the suite runs on two processes, a test file per process at a time (module-scoped servers
# stay in one process); PYTEST_ARGS="-n 0" runs it in one
PYTEST_ARGS ?= -n 2 --dist loadfile
# Debian packages the tests need: Chromium for browser tests, a CJK font for screenshots,
# catdoc for legacy .doc files.
DEB_TEST_PKGS := chromium fonts-wqy-zenhei catdoc

.PHONY: install install-test system-deps demo test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test system-deps

# Installs missing Debian packages when run as root; otherwise says what is missing.
system-deps:
	@missing=""; for p in $(DEB_TEST_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; tests needing them will be skipped"; \
	  else echo "warning: missing Debian packages:$$missing (run as root to install); tests needing them will be skipped"; fi; \
	fi

demo: install
	$(BIN)/evidence demo --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/quality.py

clean:
	rm -rf $(VENV) instance test-artifacts .pytest_cache
