# inlet: `make run` starts everything on a fresh machine; `make test` runs the suite.
SHELL := bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
BUF := tools/node_modules/.bin/buf
PYTHON ?= python3
# The browser tests (tests/browser) drive Debian's chromium through Playwright.
CHROMIUM := /usr/bin/chromium

.PHONY: install run run-envoy test check lint types fmt protos protos-check buf-lint envoy-check deploy-check bench chaos soak clean

install: $(VENV)/.installed
$(VENV)/.installed: requirements.txt constraints.txt gen/python/pyproject.toml services/*/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(BUF): tools/package.json tools/package-lock.json
	npm ci --prefix tools --no-audit --no-fund --silent
	touch $@

run: install
	$(PY) -m inlet_devstack

# The same, with the Envoy edge on INLET_ENVOY_PORT (8081) beside the gateway.
run-envoy: install
	INLET_ENVOY=true $(PY) -m inlet_devstack

test: install $(CHROMIUM)
	$(BIN)/pytest

# Installed with apt-get when missing (CI runs as root on a clean Debian machine); without
# root, the browser tests are skipped and this says how to get it.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else \
	  echo "$(CHROMIUM) is missing: 'sudo apt-get install chromium' runs the browser tests (skipped without it)"; \
	fi

protos: install
	PY=$(PY) bash tools/gen_protos.sh

# The committed generated code must be exactly what the protos produce.
protos-check: install
	PY=$(PY) OUT=$$(mktemp -d) bash -c 'bash tools/gen_protos.sh "$$OUT" && diff -r -q -x __pycache__ gen/python/inlet "$$OUT/gen/python/inlet" && cmp gen/inlet.binpb "$$OUT/gen/inlet.binpb" && echo "generated code is up to date"'

buf-lint: $(BUF)
	$(BUF) lint protos

envoy-check: install
	$(BIN)/envoy --mode validate -c deploy/envoy/envoy.yaml

# Every deploy file checked without a container engine or a cluster (tools/deploy_check.py):
# hadolint and inlet's image rules, the compose-spec schema, kubectl kustomize rendered and
# validated against Kubernetes' schemas, plus Envoy's own validation.
deploy-check: install envoy-check
	$(PY) -m tools.deploy_check deploy

lint: install buf-lint protos-check envoy-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy services/*/src tests bench tools

check: lint types test

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(PY) -m bench

# A mixed load over every dialect; kill -9 of each service in turn and an immediate
# PostgreSQL restart; the ledger of acknowledged requests afterwards (bench/mixed).
chaos: install
	$(PY) -m bench.chaos

# The same mixed load for INLET_SOAK_SECONDS (600): throughput, p99 and RSS per minute.
soak: install
	$(PY) -m bench.soak

clean:
	rm -rf $(VENV) .inlet tools/node_modules
