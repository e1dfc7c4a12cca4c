# Two commands for a fresh machine: `make run` and `make test`.
# Each installs what is missing (stamp files make the second run instant).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: run test lint typecheck unit sim backend integration browser bench clean

$(VENV)/.stamp-run: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.stamp-test: pyproject.toml $(VENV)/.stamp-run
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

frontend/node_modules/.stamp: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

/usr/bin/chromium:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium

run: $(VENV)/.stamp-run frontend/node_modules/.stamp
	$(PY) run.py $(ARGS)

test: $(VENV)/.stamp-test frontend/node_modules/.stamp /usr/bin/chromium
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: $(VENV)/.stamp-test frontend/node_modules/.stamp
	$(PY) -m bench

clean:
	rm -rf $(VENV) frontend/node_modules
