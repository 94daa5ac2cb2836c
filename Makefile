# ml-platform: every target builds .venv from the pinned requirements when they change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STACK ?= dev

.PHONY: test plan lint train clean

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

## lint: ruff over the Python; actionlint (with shellcheck) and zizmor over the workflows; hadolint over the Dockerfile
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/actionlint -shellcheck=$(VENV)/bin/shellcheck -pyflakes=
	$(VENV)/bin/zizmor --offline --persona=pedantic --no-progress .github/workflows
	$(VENV)/bin/hadolint model_code/Dockerfile

## train: train the demo model locally into build/model/ from the bundled dataset (no cloud)
train: $(STAMP)
	rm -rf build/opt_ml build/model
	$(PY) -m model_code.datagen --out build/opt_ml/input/data/train --rows 20000 --files 4
	ML_PLATFORM_OPT_ML=build/opt_ml $(PY) -m model_code train
	cp -r build/opt_ml/model build/model
	@echo "model written to build/model/"

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
