# ml-platform: every target builds .venv from the pinned requirements when they change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STACK ?= dev

.PHONY: test plan lint clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

## test: the whole offline suite (mock engine, moto, model code)
test: $(STAMP)
	$(PY) -m pytest

## plan: offline plan of STACK (default dev): config, resource tree, settings, counts
plan: $(STAMP)
	$(PY) -m ops.plan --stack $(STACK)

## lint: ruff over the program, tools and tests
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
