# Tandem: `make run` serves the app; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := run

# uv from PATH, else the one pip installs (see `uv` below).
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
# The Python that runs Tandem: the operating system's own python3 when it is 3.11 or newer, else the
# 3.11+ that uv finds. Distributions compile theirs with profile-guided and link-time optimization, as
# do python.org's installers and the official Docker images; pyenv's default build has neither, and
# spends about 1.2x the CPU on Tandem's request path (bench/README.md). UV_PYTHON chooses another.
SYSTEM_PYTHON := $(shell /usr/bin/python3 -c 'import sys; print(sys.executable if sys.version_info >= (3, 11) else "")' 2>/dev/null)
ifneq ($(SYSTEM_PYTHON),)
export UV_PYTHON ?= $(SYSTEM_PYTHON)
endif
WEB_SOURCES := $(shell find web/src web/index.html web/package.json web/vite.config.ts -type f 2>/dev/null)
STATIC_INDEX := src/tandem/static/index.html
export TANDEM_HOST ?= 127.0.0.1
export TANDEM_PORT ?= 8000

.PHONY: run test uv deps web migrate demo serve test-python test-web test-contracts test-bench test-stock chromium bench contracts clean lint fmt fmt-web screenshots

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		(echo "Installing uv with pip…" && python3 -m pip install --quiet uv)

deps: uv
	@$(UV) sync --frozen --quiet
	@if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then \
		echo "Installing the web client's packages…"; npm ci --prefix web --no-audit --no-fund --loglevel=error; fi

$(STATIC_INDEX): $(WEB_SOURCES) web/package-lock.json
	@echo "Building the web client…"
	@npm run --prefix web --silent build
	@touch $(STATIC_INDEX)

web: deps $(STATIC_INDEX)

migrate: deps
	@$(UV) run --frozen tandem migrate

demo: migrate
	@$(UV) run --frozen tandem demo --if-empty

run: web demo
	@echo
	@echo "  Tandem: open http://$(TANDEM_HOST):$(TANDEM_PORT)/login and sign in as ada@example.com"
	@echo "  with the password tandem-demo (everyone in the demo org shares it: grace@, alan@, katherine@ …)."
	@echo
	@$(UV) run --frozen tandem serve --host $(TANDEM_HOST) --port $(TANDEM_PORT)

chromium:
	@command -v chromium >/dev/null 2>&1 || (echo "Installing Chromium from Debian's packages…" && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# nginx for tests/test_nginx.py (deploy/nginx.conf in front of two instances); /usr/sbin is not on every PATH.
.PHONY: nginx
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || (echo "Installing nginx from Debian's packages…" && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null)

contracts: deps
	@$(UV) run --frozen tandem contracts --ts web/src/sdk/events.gen.ts --asyncapi docs/asyncapi.json --openapi docs/openapi.json
	@npm run --prefix web --silent gen:api

test-contracts: deps
	@$(UV) run --frozen tandem contracts --check --ts web/src/sdk/events.gen.ts --asyncapi docs/asyncapi.json --openapi docs/openapi.json
	@npm test --prefix web --silent -- src/sdk/api.gen.test.ts

test-web: deps
	@npm run --prefix web --silent typecheck
	@npm run --prefix web --silent lint
	@npm test --prefix web --silent

# ESLint's fixes in web/src (`make fmt` calls it).
fmt-web: deps
	@npm run --prefix web --silent lint:fix

# The README's pictures (docs/screenshots/), taken by the browser tests from a fresh demo; only here,
# so a test run never rewrites tracked files.
screenshots: web chromium
	@TANDEM_SCREENSHOTS=1 $(UV) run --frozen pytest -q tests/e2e \
		-k "login_shows or signup_errors or server_restart or invite_link_signup or fits_a_phone or tiles_and_charts or projects_list_is_live or wide_screenshot_of_the_board or project_page_is_live or message_each_other_live or rollout_page_fits"

# Three passes over the tests given: the bulk three at a time (pytest-xdist; they mostly wait on
# servers, sockets and timers, so three keep two cores busy), then alone the tests that time or load
# the machine (`serial`, listed in tests/conftest.py), then the browser tests two at a time in
# processes of their own. A pass that selects nothing is fine.
PYTEST_PASSES = status=0; \
	$(UV) run --frozen pytest -q -n 3 --dist loadfile -m "not serial and not browser" $(1) || [ $$? = 5 ] || status=1; \
	$(UV) run --frozen pytest -q -m "serial and not browser" $(1) || [ $$? = 5 ] || status=1; \
	$(UV) run --frozen pytest -q -n 2 --dist loadfile -m browser $(1) || [ $$? = 5 ] || status=1; \
	exit $$status

test-python: web chromium nginx
	@$(call PYTEST_PASSES,$(PYTEST_ARGS))

# A few seconds of every benchmark workload on both servers, no timing claims: the bench keeps working.
test-bench: deps
	@$(UV) run --frozen python bench/run.py --quick >/tmp/tandem-bench-smoke.log 2>&1 || \
		(cat /tmp/tandem-bench-smoke.log; exit 1)
	@echo "bench smoke run: ok ($$(grep -c ' ' /tmp/tandem-bench-smoke.log) lines, see /tmp/tandem-bench-smoke.log)"

# Python's linters and type checker: what `make fmt` cannot fix fails the run.
lint: deps
	@$(UV) run --frozen ruff check src tests bench migrations
	@$(UV) run --frozen ruff format --check --quiet src tests bench migrations
	@$(UV) run --frozen mypy

fmt: deps
	@$(UV) run --frozen ruff check --fix --quiet src tests bench migrations || true
	@$(UV) run --frozen ruff format --quiet src tests bench migrations
	@$(MAKE) --no-print-directory fmt-web

# The socket and delivery tests once more with every accelerator off (accel/): the stock library path keeps
# working. The outbox, the log, the hints and the benchmarks' smoke runs touch no socket layer, and the
# serial tests of these files and the slow consumers' run each layer already (parametrized): once is enough.
STOCK_TESTS := tests/accel $(addprefix tests/realtime/test_,delivery.py gateway.py hostile_sockets.py \
	js_client.py smoke.py reauthorize.py redis_publish.py cluster.py)
test-stock: web
	@TANDEM_ACCEL=off $(UV) run --frozen pytest -q -n 3 --dist loadfile -m "not serial" $(STOCK_TESTS) $(PYTEST_ARGS)

# Engine.IO and Socket.IO protocol checks, accelerators on and off (docs/protocol-compliance.md).
.PHONY: test-protocol
test-protocol: deps
	@$(UV) run --frozen pytest -q tests/protocol $(PYTEST_ARGS)

test: lint test-contracts test-web test-bench test-python test-stock

bench: deps
	@$(UV) run --frozen python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf var src/tandem/static web/node_modules .venv

# The reliability battery at ten times the size `make test` runs it (docs/reliability.md); TANDEM_BATTERY_SCALE overrides.
.PHONY: soak
soak: deps
	@TANDEM_BATTERY_SCALE=$${TANDEM_BATTERY_SCALE:-10} $(UV) run --frozen pytest -q tests/battery $(PYTEST_ARGS)
