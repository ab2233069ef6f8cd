# billgate: `make run` serves the example catalog in test mode; `make test` runs the suite.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTHON ?= python3

# Development defaults for `make run` only; set your own in production.
RUN_ENV := BILLGATE_TEST_MODE=$${BILLGATE_TEST_MODE:-true} \
	BILLGATE_CUSTOMER_TOKEN_SECRET=$${BILLGATE_CUSTOMER_TOKEN_SECRET:-dev-only-customer-token-secret-change-me} \
	BILLGATE_ALLOWED_RETURN_URLS=$${BILLGATE_ALLOWED_RETURN_URLS:-localhost,127.0.0.1} \
	BILLGATE_ALLOWED_ORIGINS=$${BILLGATE_ALLOWED_ORIGINS:-http://localhost:*,http://127.0.0.1:*} \
	BILLGATE_JSON_LOGS=$${BILLGATE_JSON_LOGS:-false}

.PHONY: install run test lint typecheck schema bench clean lock

# Reproducible installs: every dependency at the version and with the hashes pinned in
# requirements-dev.lock (requirements.lock for the Docker image), then billgate itself
# without touching them. `make lock` refreshes both after a change to pyproject.toml.
LOCK_FLAGS := --quiet --generate-hashes --strip-extras --allow-unsafe \
	--no-emit-index-url --no-emit-find-links --no-emit-trusted-host

$(STAMP): pyproject.toml requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

lock: $(STAMP)
	$(BIN)/pip-compile $(LOCK_FLAGS) --upgrade --output-file requirements.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --upgrade --extra dev --constraint requirements.lock \
		--output-file requirements-dev.lock pyproject.toml

run: $(STAMP)
	$(RUN_ENV) $(BIN)/billgate migrate
	@# Only into a new database: edits made since (API, console, SQL) are never reverted.
	$(RUN_ENV) $(BIN)/billgate catalog apply --if-new examples/catalog.yaml
	$(RUN_ENV) $(BIN)/billgate serve

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

schema: $(STAMP)
	$(BIN)/billgate export-schema > schema.graphql

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info billgate.db billgate.db-wal billgate.db-shm
