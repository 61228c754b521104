# inlet: `make run` starts everything on a fresh machine; `make test` runs the suite.
SHELL := bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
BUF := tools/node_modules/.bin/buf
PYTHON ?= python3

.PHONY: install run test check lint types fmt protos protos-check buf-lint envoy-check deploy-check bench clean

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

test: install
	$(BIN)/pytest

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
	$(BIN)/mypy services/*/src tools

check: lint types test

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) .inlet tools/node_modules
