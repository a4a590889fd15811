PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2

.PHONY: install run serve demo test system-deps lint screenshots bench bench-quick

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's Chromium; the production tests start Debian's nginx and
# private redis-server processes.
system-deps:
	@if ! command -v chromium >/dev/null || ! test -x /usr/sbin/nginx \
		|| ! command -v redis-server >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq chromium nginx-light redis-server >/dev/null; \
	fi

run: install
	DEBUG=true $(BIN)/python manage.py migrate --noinput
	DEBUG=true $(BIN)/python manage.py bootstrap --url http://$(HOST):$(PORT)
	DEBUG=true $(BIN)/daphne -b $(HOST) -p $(PORT) dashboard.asgi:application

# The production stack (deploy/README.md), with the production environment set: migrate,
# collect static files, then WORKERS server processes on consecutive ports from PORT.
serve: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput
	BIN=$(BIN) HOST=$(HOST) PORT=$(PORT) WORKERS=$(WORKERS) deploy/serve.sh

# Realistic Pulp 2 traffic for the server `make run` started (see `manage.py simulate --help`).
demo: install
	DEBUG=true $(BIN)/python manage.py simulate --url http://$(HOST):$(PORT)

test: install system-deps
	$(BIN)/pytest

# docs/screenshots/*.png: a fresh server, a day of simulated traffic, Debian's Chromium.
screenshots: install system-deps
	$(BIN)/python -m tools.screenshots

# Benchmarks (bench/README.md): not tests. They need PostgreSQL on 127.0.0.1:5432 (user
# postgres) and Redis on 127.0.0.1:6379, and exit non-zero on lost data or a missed target.
BENCHES := ingest_throughput fanout pages_at_scale burst

bench: install
	@status=0; for name in $(BENCHES); do $(BIN)/python bench/$$name.py || status=1; done; exit $$status

bench-quick: install
	@status=0; for name in $(BENCHES); do $(BIN)/python bench/$$name.py --quick || status=1; done; exit $$status

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
