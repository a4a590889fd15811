PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test system-deps lint

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's Chromium; the production tests start Debian's nginx.
system-deps:
	@if ! command -v chromium >/dev/null || ! test -x /usr/sbin/nginx; then \
		apt-get update -qq && apt-get install -y -qq chromium nginx-light >/dev/null; \
	fi

run: install
	DEBUG=true $(BIN)/python manage.py migrate --noinput
	DEBUG=true $(BIN)/python manage.py bootstrap --url http://$(HOST):$(PORT)
	DEBUG=true $(BIN)/daphne -b $(HOST) -p $(PORT) dashboard.asgi:application

test: install system-deps
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
