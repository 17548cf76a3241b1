# The two commands of the README. Each (re)creates .venv when setup.py or the NNI meta changed:
# torch 2.13.0 (CPU wheel) first, then this package with its pinned dependencies, then our
# algorithms registered with NNI (`nnictl algo register --meta`).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test bench bench-rerun install clean

demo: $(STAMP)
	$(BIN)/nas-plugins demo

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) tests

# Benchmarks (not part of the test suite). `make bench` renders the sections of docs/benchmarks.md
# (and their plots) from the raw results kept in bench/results/: seconds, from a clean clone (a section
# whose raw file is missing is left as it is).
# `make bench-rerun` runs every benchmark again and rewrites those raw results (hours on 2 cores;
# HEBO runs in its own environment, .venv-hebo, made by bench/hebo_env.sh).
RAW := bench/results
bench: $(STAMP)
	test ! -f $(RAW)/hpo.json.gz || $(BIN)/python -m bench.run_hpo --from-raw $(RAW)/hpo.json.gz
	test ! -f $(RAW)/nas.json.gz || $(BIN)/python -m bench.run_nas --from-raw $(RAW)/nas.json.gz
	test ! -f $(RAW)/lc.json.gz || $(BIN)/python -m bench.run_lc --from-raw $(RAW)/lc.json.gz
	test ! -f $(RAW)/transfer.json.gz || $(BIN)/python -m bench.run_transfer --from-raw $(RAW)/transfer.json.gz
	test ! -f $(RAW)/proxies.json.gz || $(BIN)/python -m bench.run_proxies --from-raw $(RAW)/proxies.json.gz
	$(BIN)/python -m bench.run_oneshot --from-raw $(RAW)/oneshot.json
	test ! -f $(RAW)/scale.json || $(BIN)/python -m bench.run_scale --from-raw $(RAW)/scale.json
	test ! -f $(RAW)/nni_nas.json.gz || $(BIN)/python -m bench.run_nni_nas --from-raw $(RAW)/nni_nas.json.gz
	test ! -f $(RAW)/nni_nas_oneshot.json.gz || $(BIN)/python -m bench.run_nni_nas --from-raw $(RAW)/nni_nas_oneshot.json.gz

bench-rerun: $(STAMP)
	bash bench/hebo_env.sh
	$(BIN)/python -m bench.run_hpo --raw $(RAW)/hpo.json.gz
	$(BIN)/python -m bench.run_nas --raw $(RAW)/nas.json.gz
	$(BIN)/python -m bench.run_lc --raw $(RAW)/lc.json.gz
	$(BIN)/python -m bench.run_transfer --raw $(RAW)/transfer.json.gz
	$(BIN)/python -m bench.run_proxies --raw $(RAW)/proxies.json.gz
	$(BIN)/python -m bench.run_oneshot --raw $(RAW)/oneshot.json
	$(BIN)/python -m bench.run_nni_nas --raw $(RAW)/nni_nas.json.gz
	$(BIN)/python -m bench.run_nni_nas --oneshot --seeds 5 --epochs 10 --raw $(RAW)/nni_nas_oneshot.json.gz

install: $(STAMP)

$(STAMP): setup.py tuners/hosts/nni_meta.yml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=23"
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test,bench,ray,nas]"
	$(BIN)/python -m pip install -q --no-deps syne-tune==0.16.0
	@# pip check, except syne-tune's xgboost (left out on purpose: see setup.py)
	@out="$$($(BIN)/python -m pip check 2>&1 | grep -v -e '^syne-tune 0.16.0 requires xgboost' -e '^No broken requirements')"; \
	  if [ -n "$$out" ]; then echo "$$out"; exit 1; fi
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/nnictl algo register --meta tuners/hosts/nni_meta.yml
	touch $(STAMP)

clean:
	rm -rf $(VENV) *.egg-info
