# Tierflow's two commands: `make demo` and `make test`. Both bootstrap everything they need:
# the virtualenv, the project, and the pinned Temporal CLI (built once per machine).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_ARGS ?=

.PHONY: demo test test-fast lint format bench faults install temporal browser clean \
	postgresql cluster cluster-down cluster-status cluster-test

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

temporal: install
	$(PY) -m tierflow.devserver

demo: temporal
	$(PY) -m tierflow.demo $(DEMO_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Debian's chromium for the Temporal UI test (tests/privacy/test_ui_browser.py); Playwright's
# own browser download is not used. Installed once, only where /usr/bin/chromium is missing.
browser:
	@test -x /usr/bin/chromium || { \
	  echo "installing chromium (Debian package) for the UI test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

# The lanes (markers set by tests/conftest.py from each test's fixtures). The full suite runs
# in TEST_PROCESSES pytest-xdist processes, each with a dev server of its own: the tests mostly
# wait on Temporal timers, so three share two cores well.
TEST_PROCESSES ?= 3
SLOW_LANES := integration or devserver or benchmark or browser or subprocess or cluster

# CI's entry (.ci/run): lint, types, then every test.
# --dist loadfile: a test file runs in one process, so a module's shared fixture (a benchmark
# run, a wedged deploy) is built once (loadgroup's marks are lost under pytest 9.2).
# The benchmark lane (smoke runs of the suites, the small fault run, which compares timings
# with a bare-Temporal baseline) runs alone after the rest: beside two other xdist processes on
# two cores its baseline missed escalations it was timing.
test: temporal lint browser
	$(VENV)/bin/pytest -n $(TEST_PROCESSES) --dist loadfile -m "not benchmark and not cluster"
	$(VENV)/bin/pytest -m benchmark

# Pure and unit tests only, in well under a minute: what to run while working.
test-fast: install
	$(VENV)/bin/pytest -q -m "not ($(SLOW_LANES))"

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The fuzz and soak tests that run small in `make test`, at full size.
FULL_SCALE_TESTS := tests/interfaces/test_api_fuzz.py tests/interfaces/test_client_contract.py \
	tests/interfaces/test_cli_hostile.py tests/workflows/test_bounded_state.py \
	tests/workflows/test_event_flood.py

# The sizes of the figures in docs/benchmarks.md (benchmarks/results/latest.json); BENCH_ARGS
# overrides them. The capacity configurations are profiled with py-spy (raw stacks in .data/).
BENCH_ARGS ?= --cache 12000 --spread-seconds 300 --lead-seconds 360 --capacity-window 20 \
	--capacity-rates 20,30,40,50,60,80 --profile .data/profiles

bench: temporal
	$(VENV)/bin/python -m benchmarks $(BENCH_ARGS)
	TIERFLOW_TEST_SCALE=full $(VENV)/bin/pytest -q $(FULL_SCALE_TESTS)
	$(MAKE) cluster-test

# The fault suite at full size: 1,000 tickets, five worker SIGKILLs, the server stopped by
# SIGTERM and SIGKILL, the chat webhook down for ten minutes (about 15 minutes in all).
# FAULT_ARGS=--small runs the size `make test` runs. FAULT_TARGET=cluster runs it on
# `make cluster`'s cluster (its own, in the suite's work directory): one history process,
# matching and the frontend SIGKILLed and PostgreSQL restarted instead of the server stops.
FAULT_ARGS ?=
FAULT_TARGET ?= devserver

faults: temporal $(if $(filter cluster,$(FAULT_TARGET)),postgresql)
	$(VENV)/bin/python -m benchmarks --suite faults --target $(FAULT_TARGET) $(FAULT_ARGS)

# Debian's PostgreSQL for `make cluster`, installed once, only where its programs are missing.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  echo "installing PostgreSQL (Debian package) for the cluster"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends postgresql; }

# A production-shaped Temporal cluster on loopback (docs/cluster.md): server 1.29.1 built from
# its Go module, on PostgreSQL, frontend / two history / matching / worker processes, the
# frontend on mTLS. CLUSTER_ARGS: --shards N, --base-port P. `make cluster-down` stops it all.
CLUSTER_ARGS ?=

cluster: install postgresql
	$(PY) -m tierflow.cluster up $(CLUSTER_ARGS)

cluster-down: install
	$(PY) -m tierflow.cluster down $(CLUSTER_ARGS)

cluster-status: install
	$(PY) -m tierflow.cluster status $(CLUSTER_ARGS)

# The cluster lane: up cold and warm, tickets over mTLS through a history-process SIGKILL,
# down; then every benchmark suite at its tiny size on a cluster of its own (about four
# minutes in all). Not in `make test`; `make bench` runs it.
cluster-test: install postgresql
	$(VENV)/bin/pytest -q -m cluster tests/cluster

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache
