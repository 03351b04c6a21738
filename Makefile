# Two entry points for a newcomer: `make run` and `make test`. Both create .venv if missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Offline raw-data folder (original archives). Empty -> tfds downloads as usual.
SGB_RAW_DATA ?= $(shell [ -d ../shared/data ] && cd ../shared/data && pwd)
export SGB_RAW_DATA
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run test lint bench venv clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

run: venv
	$(PY) experiments/train_supervised.py --config=configs/mnist_sgb.py --workdir=results/mnist_sgb

test: venv
	$(PY) -m ruff check sgb_jax experiments configs tests bench
	$(PY) -m pytest -q -n 2 --durations=15 tests

lint: venv
	$(PY) -m ruff check sgb_jax experiments configs tests bench

bench: venv
	$(PY) bench/layer_step.py

clean:
	rm -rf results .pytest_cache .ruff_cache
