# Agora — one command to run the hub, one to test it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
export AGORA_VAR_DIR ?= $(CURDIR)/var
CHAIN_PORT ?= 8545
# The demo provider node (agora-node serve); the hub reads the same port from this variable.
export AGORA_DEMO_AGORA_NODE_PORT ?= 8002
AGORA_NODE_PORT := $(AGORA_DEMO_AGORA_NODE_PORT)
GANACHE := node_modules/.bin/ganache

.PHONY: demo test install system-deps node lint format bench bench-quick clean contract

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[hub,node,dev]"
	touch $@

install: $(VENV)/.installed

# Node is needed by the demo too (its chain is ganache): installed when missing, as root.
node:
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else echo "Please install: nodejs npm"; exit 1; fi; }

node_modules/.installed: package.json | node
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages the tests use; installed only when missing and only as root.
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v node >/dev/null || missing="$$missing nodejs npm"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v Orthanc >/dev/null || missing="$$missing orthanc orthanc-dicomweb"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Please install:$$missing"; exit 1; fi; \
	fi

# The embedded hub: SQLite, a Celery worker + scheduler on a SQLite broker, a ganache
# chain kept in var/chain (it survives restarts), demo data.
demo: install node_modules/.installed
	@mkdir -p $(AGORA_VAR_DIR)/chain
	@trap 'kill $$(jobs -p) 2>/dev/null' EXIT INT TERM; \
	$(GANACHE) --server.host=$(HOST) --server.port=$(CHAIN_PORT) --chain.chainId=1337 \
	  --wallet.deterministic --database.dbPath=$(AGORA_VAR_DIR)/chain --logging.quiet \
	  > $(AGORA_VAR_DIR)/ganache.log 2>&1 & \
	export CHAIN_RPC_URL=http://$(HOST):$(CHAIN_PORT); \
	$(PY) -c "import socket, time; any(socket.socket().connect_ex(('$(HOST)', $(CHAIN_PORT))) == 0 \
	  or time.sleep(0.2) for _ in range(150))"; \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py load_demo && \
	{ $(PY) manage.py serve_demo_node > $(AGORA_VAR_DIR)/demo-node.log 2>&1 & } && \
	{ $(VENV)/bin/agora-node serve --lake $(AGORA_VAR_DIR)/demo-lake --site-id la-fe-node \
	  --port $(AGORA_NODE_PORT) --base-url http://127.0.0.1:$(AGORA_NODE_PORT) \
	  > $(AGORA_VAR_DIR)/demo-agora-node.log 2>&1 & } && \
	echo "Starting the worker (with its scheduler) and the web server at http://$(HOST):$(PORT)" && \
	{ $(VENV)/bin/celery -A hub worker -B --pool=solo --concurrency=1 \
	  -s $(AGORA_VAR_DIR)/celerybeat-schedule --loglevel=WARNING & } && \
	DJANGO_DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT) --noreload

# The whole suite against throwaway PostgreSQL, Redis, a Celery worker and an OIDC provider.
test: install system-deps node_modules/.installed
	@mkdir -p var
	@$(PY) tests/services.py start > var/test-services.env
	@source var/test-services.env; \
	$(VENV)/bin/ruff check . && \
	$(VENV)/bin/pytest -p no:cacheprovider $(PYTEST_ARGS) && \
	echo "--- the catalogue and the tracer again on SQLite (the embedded default) ---" && \
	env -u DATABASE_URL $(VENV)/bin/pytest -p no:cacheprovider -q catalogue/tests/test_services.py \
	  catalogue/tests/test_api.py catalogue/tests/test_views.py catalogue/tests/test_dcat.py \
	  tracer/tests/test_services.py tracer/tests/test_commands.py tracer/tests/test_api.py \
	  tracer/tests/test_views.py harvester/tests/test_pull.py harvester/tests/test_api.py; rc=$$?; \
	$(PY) tests/services.py stop; exit $$rc

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install node_modules/.installed
	$(PY) bench/search.py
	$(PY) bench/tracer.py
	$(PY) bench/harvest.py
	$(PY) bench/requests_load.py
	$(PY) bench/deid.py

bench-quick: install node_modules/.installed
	$(PY) bench/search.py --quick
	$(PY) bench/tracer.py --quick
	$(PY) bench/harvest.py --quick
	$(PY) bench/requests_load.py --quick
	$(PY) bench/deid.py --quick

# Recompile the anchoring contract (the ABI and bytecode are committed; a test compares).
contract: node_modules/.installed
	node tracer/contracts/compile.mjs > tracer/contracts/TraceAnchor.json.new
	mv tracer/contracts/TraceAnchor.json.new tracer/contracts/TraceAnchor.json

clean:
	rm -rf var node_modules $(VENV)
