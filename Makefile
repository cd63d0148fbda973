# Two entry points: `make demo` and `make test`. Both build .venv from nothing.
#
# PyTorch is installed first, from TORCH_SPEC, so that the project's `torch>=2.6` requirement is
# already satisfied and pip never resolves a (multi-GB, CUDA) torch by itself. Elsewhere, pick a
# build with TORCH_INDEX, e.g.
#   make test TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu"
#   make test TORCH_INDEX="--index-url https://download.pytorch.org/whl/cu128"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_ARGS ?=

PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet

.PHONY: demo test bench clean install

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch-installed: | $(PY)
	$(PIP) install $(TORCH_INDEX) "$(TORCH_SPEC)"
	touch $@

$(VENV)/.deps-installed: pyproject.toml $(VENV)/.torch-installed
	$(PIP) install -e ".[test]"
	touch $@

install: $(VENV)/.deps-installed

demo: install
	$(PY) examples/pipeline.py

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build src/*.egg-info
