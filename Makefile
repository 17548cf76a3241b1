# The two commands of the README. Each (re)creates .venv when setup.py or the NNI meta changed:
# torch 2.13.0 (CPU wheel) first, then this package with its pinned dependencies, then our
# algorithms registered with NNI (`nnictl algo register --meta`).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test bench install clean

demo: $(STAMP)
	$(BIN)/nas-plugins demo

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) tests

# Benchmarks (not part of the test suite): replays LCBench/NAS-Bench-201 and rewrites docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python -m bench.run_hpo

install: $(STAMP)

$(STAMP): setup.py tuners/hosts/nni_meta.yml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=23"
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test,bench]"
	$(BIN)/python -m pip check
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/nnictl algo register --meta tuners/hosts/nni_meta.yml
	touch $(STAMP)

clean:
	rm -rf $(VENV) *.egg-info
