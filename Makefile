# synthd: `make run` (everything on a laptop, embedded SQLite) and `make test` (the whole suite on Postgres).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PGHOST ?= 127.0.0.1
PGPORT ?= 5432
TEST_DB ?= synthd_test
PYTEST_ARGS ?=
# The dashboard's browser tests drive Debian's chromium (Playwright cannot download its own browser here) and
# write screenshots of every page at 1280 and 390 px wide under this folder.
CHROMIUM ?= /usr/bin/chromium
SCREENSHOTS ?= var/screenshots

.PHONY: install run serve worker migrate test pg browser lint compose-config docker clean

install: $(VENV)/.installed

# torch first, with that exact pin: it is the CPU build (a looser pin could pull gigabytes of CUDA).
# The client (client/, its own package without torch) is installed beside it for the CLI and the tests.
$(VENV)/.installed: pyproject.toml client/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -e ./client
	touch $@

run: install
	$(BIN)/synthd demo

serve: install
	$(BIN)/synthd serve --migrate

worker: install
	$(BIN)/synthd worker --migrate

migrate: install
	$(BIN)/synthd migrate

# Start Postgres when it is down and create the test database when it is missing.
pg:
	@if ! pg_isready -q -h $(PGHOST) -p $(PGPORT); then \
		echo "starting PostgreSQL"; \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -1) main start; \
		for i in $$(seq 60); do pg_isready -q -h $(PGHOST) -p $(PGPORT) && break; sleep 1; done; \
	fi
	@psql -h $(PGHOST) -p $(PGPORT) -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$(TEST_DB)'" \
		| grep -q 1 || createdb -h $(PGHOST) -p $(PGPORT) -U postgres $(TEST_DB)

# chromium from the distribution when it is missing: the browser tests fail (never skip) without it.
browser:
	@test -x $(CHROMIUM) || { echo "installing chromium"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

test: install pg browser
	mkdir -p $(SCREENSHOTS)
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql+psycopg://postgres@$(PGHOST):$(PGPORT)/$(TEST_DB)} \
	SYNTHD_CHROMIUM=$(CHROMIUM) SYNTHD_SCREENSHOTS=$(abspath $(SCREENSHOTS)) \
		$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check synth app worker synthd tests bench client

compose-config:
	docker-compose config --quiet

docker:
	docker build -t synthd:cpu .

clean:
	rm -rf .synthd .pytest_cache
