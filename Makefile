# billgate: `make run` serves the example catalog in test mode; `make test` runs the suite
# (the server's, then the client libraries' in clients/).
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTHON ?= python3
NPM ?= npm
# The JavaScript clients, their test helper and the React example are npm workspaces with
# one lock file (package-lock.json): `npm ci` installs exactly what it pins.
NODE_STAMP := node_modules/.npm-ci-stamp
PY_CLIENT_STAMP := $(VENV)/.billgate-client-stamp

# Development defaults for `make run` only; set your own in production.
RUN_ENV := BILLGATE_TEST_MODE=$${BILLGATE_TEST_MODE:-true} \
	BILLGATE_CUSTOMER_TOKEN_SECRET=$${BILLGATE_CUSTOMER_TOKEN_SECRET:-dev-only-customer-token-secret-change-me} \
	BILLGATE_ALLOWED_RETURN_URLS=$${BILLGATE_ALLOWED_RETURN_URLS:-localhost,127.0.0.1} \
	BILLGATE_ALLOWED_ORIGINS=$${BILLGATE_ALLOWED_ORIGINS:-http://localhost:*,http://127.0.0.1:*} \
	BILLGATE_JSON_LOGS=$${BILLGATE_JSON_LOGS:-false}

.PHONY: install run test test-server test-clients build-clients generate-clients lint typecheck schema bench \
	clean lock

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

test: test-server test-clients

# Two workers (pytest-xdist; CI's machine has two cores): each worker's session makes its own
# database (tests/conftest.py), so they never share state. A serial run took over 30 minutes.
test-server: $(STAMP)
	$(BIN)/pytest -n 2

$(NODE_STAMP): package.json package-lock.json clients/typescript/package.json clients/react/package.json \
		clients/test-server/package.json examples/react/package.json
	$(NPM) ci --no-audit --no-fund
	touch $(NODE_STAMP)

# billgate-client into the development venv (its dependencies, httpx and PyJWT, are locked there).
$(PY_CLIENT_STAMP): clients/python/pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q --no-deps -e clients/python
	touch $(PY_CLIENT_STAMP)

build-clients: $(NODE_STAMP)
	$(NPM) run build --workspace @billgate/client
	$(NPM) run build --workspace @billgate/react

# Each package's own tests, each against a real `billgate serve` it starts (from .venv).
test-clients: $(STAMP) $(PY_CLIENT_STAMP) build-clients
	$(NPM) test --workspace @billgate/client
	$(NPM) test --workspace @billgate/react
	cd clients/python && ../../$(BIN)/pytest -p no:cacheprovider

# After schema.graphql or clients/typescript changed: the generated operation types, the
# build, and examples/frontend's copy of the browser bundle (tests fail while any is stale).
generate-clients: $(NODE_STAMP)
	$(NPM) run generate --workspace @billgate/client
	$(NPM) run build --workspace @billgate/client
	$(NPM) run vendor-example --workspace @billgate/client

lint: $(STAMP)
	$(BIN)/ruff check src tests bench clients/python examples
	$(BIN)/mypy
	cd clients/python && ../../$(BIN)/mypy

schema: $(STAMP)
	$(BIN)/billgate export-schema > schema.graphql
	$(MAKE) generate-clients

# The hot-path table is measured on SQLite and, beside it, on this PostgreSQL server (a fresh
# database created there and dropped after); set it empty to skip PostgreSQL.
BILLGATE_BENCH_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

bench: $(STAMP)
	BILLGATE_BENCH_POSTGRES_URL='$(BILLGATE_BENCH_POSTGRES_URL)' $(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info billgate.db billgate.db-wal billgate.db-shm \
		node_modules clients/*/dist examples/react/dist
