# inlet: `make run` starts everything on a fresh machine; `make test` runs the suite.
SHELL := bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
BUF := tools/node_modules/.bin/buf
PYTHON ?= python3
# The browser tests (tests/browser) drive Debian's chromium through Playwright.
CHROMIUM := /usr/bin/chromium

.PHONY: install run run-envoy test check lint types fmt protos protos-check buf-lint envoy-check deploy-check bench chaos soak conformance fuzz clean

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

# The same requests through the gateway and Envoy on one stack, compared; prints the table.
conformance: install
	$(BIN)/pytest tests/e2e/test_conformance.py -q -s -p no:randomly

# The property tests and the raw-byte HTTP fuzzers with INLET_FUZZ_EXAMPLES examples per
# property (CI runs 60): 3,100 makes over 100,000 cases (24 per unit in the property
# tests, about 9 HTTP requests per unit on the ingest routes, 4.7 per unit on the admin,
# status and health routes). Hypothesis prints each property's count.
# INLET_FUZZ_RANDOM=1 draws new cases instead of the fixed ones.
FUZZ_EXAMPLES ?= 3100
fuzz: install
	INLET_FUZZ_EXAMPLES=$${INLET_FUZZ_EXAMPLES:-$(FUZZ_EXAMPLES)} $(BIN)/pytest -q -p no:randomly \
	  --hypothesis-show-statistics tests/unit/test_properties.py tests/e2e/test_http_fuzz.py \
	  tests/e2e/test_admin_fuzz.py

clean:
	rm -rf $(VENV) .inlet tools/node_modules
