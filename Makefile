# bilin: `make run` trains the main job, `make test` runs the tests. Both set everything up.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BILIN := $(VENV)/bin/bilin
SHARED_DATA := $(abspath ../shared/data)
# Use the datasets shipped beside the repository when they exist (BILIN_DATA wins if set).
export BILIN_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),$(abspath data))

.PHONY: help setup run test bench bench-full chromium clean

help:
	@echo "make run        set up .venv and train: bilin train model=bilinear data=fmnist"
	@echo "make test       set up .venv and run the test suite"
	@echo "make bench      seconds per epoch (d=512, MNIST) on CPU and CUDA when present"
	@echo "make bench-full the 100-epoch accuracy runs of the three models on both datasets"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed
	@command -v chromium >/dev/null || command -v google-chrome >/dev/null || \
	  echo "note: no Chrome/Chromium: figures are written as HTML; 'make chromium' adds PNG/SVG export"

chromium:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

run: setup
	$(BILIN) train model=bilinear data=fmnist

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/bench_train.py

bench-full: setup
	$(PY) benchmarks/bench_train.py --full

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
