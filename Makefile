# ml-platform: every target builds .venv from the pinned requirements when they change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STACK ?= dev
# `make train` trains this trainer (the `trainer` hyperparameter): softmax or gbt.
TRAINER ?= softmax

MODEL_DIR := build/model

.PHONY: test plan lint reference train serve bench-serve drift bench-drift bench-resume clean

$(STAMP): requirements.txt requirements-dev.txt model_code/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

## test: the whole offline suite (mock engine, moto, model code)
test: $(STAMP)
	$(PY) -m pytest

## plan: offline plan of STACK (default dev): config, resource tree, settings, counts
plan: $(STAMP)
	$(PY) -m offline.plan --stack $(STACK)

## lint: ruff over the Python; actionlint (with shellcheck) and zizmor over the workflows; hadolint over the Dockerfile
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/actionlint -shellcheck=$(VENV)/bin/shellcheck -pyflakes=
	$(VENV)/bin/zizmor --offline --persona=pedantic --no-progress .github/workflows
	$(VENV)/bin/hadolint model_code/Dockerfile

## reference: regenerate the README's config tables and schema/pulumi-stack.schema.json from the config models
reference: $(STAMP)
	$(PY) -m ml_platform.config.reference

## train: train the demo model locally into build/model/ from the bundled dataset (no cloud);
##        TRAINER=gbt for XGBoost boosted trees (model.onnx), default softmax (model.npz)
train: $(STAMP)
	rm -rf build/opt_ml build/model
	$(PY) -m model_code.datagen --out build/opt_ml/input/data/train --rows 20000 --files 4
	mkdir -p build/opt_ml/input/config
	printf '{"trainer": "%s"}\n' '$(TRAINER)' > build/opt_ml/input/config/hyperparameters.json
	ML_PLATFORM_OPT_ML=build/opt_ml $(PY) -m model_code train
	cp -r build/opt_ml/model build/model
	@echo "model written to build/model/"

## serve: the inference server on 127.0.0.1:8080 with the model from `make train` (Ctrl+C stops it)
serve: $(STAMP) $(MODEL_DIR)/model.npz
	ML_PLATFORM_SERVE_HOST=127.0.0.1 ML_PLATFORM_SERVE_PORT=8080 ML_PLATFORM_SERVE_MODEL_DIR=$(MODEL_DIR) \
		$(PY) -m model_code serve

## bench-serve: the server beside a Flask/gunicorn reference under wrk (apt-get install wrk), and an ONNX forest beside a joblib one; about 4 min
bench-serve: $(STAMP) $(MODEL_DIR)/model.npz
	$(PY) benchmarks/serve_throughput.py --model-dir $(MODEL_DIR)

$(MODEL_DIR)/model.npz:
	$(MAKE) train

## drift: the drift job on synthetic local captures (feature f03 shifted); JSON and HTML reports in build/drift/ (no cloud)
drift: $(STAMP)
	rm -rf build/drift
	$(PY) -m model_code.drift.synthetic --out build/drift/capture --endpoint-name demo \
		--start 2024-05-01T10:00:00Z --hours 2 --records 50000 --shift-feature 3 --baseline-out build/drift/baseline.json
	$(PY) -m model_code drift --endpoint-name demo --capture build/drift/capture --baseline build/drift/baseline.json \
		--start 2024-05-01T10:00:00Z --end 2024-05-01T12:00:00Z --no-metrics --report build/drift/report.json
	@echo "HTML report: $(CURDIR)/build/drift/report.html (self-contained; open it in a browser)"

## bench-drift: drift job vs pandas on 100k/1M/5M capture records, realistic captures (the server's JSON answers) beside synthetic ones (~8 min, ~4 GB of temp files)
bench-drift: $(STAMP)
	$(PY) benchmarks/drift.py

## bench-resume: wall time of an interrupted-and-resumed training run vs an uninterrupted one
bench-resume: $(STAMP)
	$(PY) benchmarks/resume_overhead.py

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
