# `make run` and `make test` work on a fresh machine: each installs what is
# missing (venv, Python packages, htmx from npm, Debian's chromium and fonts).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: setup run test test-sqlite test-postgres lint bench system-packages

setup: $(VENV)/.installed static/vendor/htmx.min.js
	@$(FLASK) faces install-weights

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

static/vendor/htmx.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $@

# Chromium for the browser tests; Pango for WeasyPrint; Chinese fonts for
# pages and PDFs: Noto CJK (Song and Hei), AR PL UKai (Kaiti, the default for
# FangSong), and Hanazono and BabelStone Han for CJK Extension B names.
SYSTEM_PACKAGES := chromium libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
	fonts-noto-cjk fonts-arphic-ukai fonts-hanazono fonts-babelstone-han

system-packages:
	@if ! dpkg-query -W -f='$${Status}\n' $(SYSTEM_PACKAGES) 2>/dev/null \
			| grep -qv 'install ok installed' \
		&& [ "$$(dpkg-query -W $(SYSTEM_PACKAGES) 2>/dev/null | wc -l)" = \
			"$(words $(SYSTEM_PACKAGES))" ]; then :; else \
		apt-get update -q && apt-get install -y -q $(SYSTEM_PACKAGES); \
	fi

run: setup system-packages
	$(FLASK) db upgrade
	$(FLASK) demo load
	HUEY_IN_PROCESS=1 $(FLASK) run --host 127.0.0.1 --port 5000

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-sqlite: setup system-packages
	$(BIN)/pytest

# Tests of pure modules (no database) run once, in the SQLite pass.
NO_DATABASE_TESTS := test_faces test_face_eval test_photos test_idnumbers \
	test_divisions test_workdays

test-postgres: setup system-packages
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest \
		$(foreach name,$(NO_DATABASE_TESTS),--ignore=tests/$(name).py)

test: lint test-sqlite test-postgres

bench: setup system-packages
	@for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done
