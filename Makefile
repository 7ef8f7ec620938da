# vodkit: `make run` serves the API on embedded defaults; `make test` runs every test.
VENV     := .venv
BIN      := $(VENV)/bin
PYTHON   ?= python3
HOST     ?= 127.0.0.1
PORT     ?= 8080
PROJECTS := shared services/upload services/transcoder services/packager services/storage-tiering \
            services/cdn-purge services/gateway .
CODE     := shared services cli examples
WEB      := services/gateway/web
ASYNCAPI_SPECS := tests/asyncapi

.PHONY: setup run test test-unit test-contract test-e2e test-slow test-browser lint format clean bench-media bench-upload bench-analytics bench-edge bench-publish bench-seams bench-watermark chaos images images-check asyncapi

setup: $(VENV)/.installed $(WEB)/node_modules/.installed $(ASYNCAPI_SPECS)/node_modules/.installed
	@scripts/ensure-ffmpeg

$(WEB)/node_modules/.installed: $(WEB)/package.json $(WEB)/package-lock.json
	@scripts/ensure-node
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The official AsyncAPI schemas (@asyncapi/specs), which tests/contract/test_asyncapi.py validates against.
$(ASYNCAPI_SPECS)/node_modules/.installed: $(ASYNCAPI_SPECS)/package.json $(ASYNCAPI_SPECS)/package-lock.json
	@scripts/ensure-node
	cd $(ASYNCAPI_SPECS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VENV)/.installed: requirements-dev.txt constraints.txt $(addsuffix /pyproject.toml,$(PROJECTS))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(addprefix -e ,$(PROJECTS)) -r requirements-dev.txt -c constraints.txt
	touch $@

run: setup
	@echo "vodkit on embedded defaults: data in ./data; upload with: $(BIN)/vodkit upload FILE --wait"
	@echo "web page: http://$(HOST):$(PORT)/#token=<the output of: $(BIN)/vodkit token --user YOU>"
	$(BIN)/vodkit up --host $(HOST) --port $(PORT)

test: setup
	@scripts/ensure-rabbitmq
	@scripts/ensure-chromium
	@scripts/ensure-varnish
	@scripts/ensure-promtool
	VODKIT_REQUIRE_SERVERS=1 $(BIN)/pytest -rs

test-unit: setup
	$(BIN)/pytest -m 'unit and not slow'

test-contract: setup
	@scripts/ensure-rabbitmq
	VODKIT_REQUIRE_SERVERS=1 $(BIN)/pytest -m 'contract and not slow' -rs

test-e2e: setup
	@scripts/ensure-rabbitmq
	@scripts/ensure-varnish
	VODKIT_REQUIRE_SERVERS=1 $(BIN)/pytest -m 'e2e and not slow'

test-slow: setup
	@scripts/ensure-rabbitmq
	VODKIT_REQUIRE_SERVERS=1 $(BIN)/pytest -m slow --timeout 7200

test-browser: setup
	@scripts/ensure-rabbitmq
	@scripts/ensure-chromium
	VODKIT_REQUIRE_SERVERS=1 $(BIN)/pytest -m 'browser and not slow'

# The chaos suite: tests/chaos (the quick scenarios, also in make test, and the long ones), figures in docs/reliability.md.
chaos: setup
	@scripts/ensure-rabbitmq
	VODKIT_REQUIRE_SERVERS=1 VODKIT_CHAOS_REPORT=docs/reliability.md $(BIN)/pytest tests/chaos -m 'chaos or e2e' --timeout 1800 -rs

# The event contract from the event models: docs/asyncapi.json and the reference part of docs/events.md.
asyncapi: setup
	$(BIN)/python -m vodkit_shared.asyncapi docs

# Container images from Debian packages and PyPI, no registry (deploy/k8s/README.md, "Images").
images:
	@scripts/ensure-image-tools
	scripts/build-images

images-check: images
	scripts/check-images

lint: setup
	$(BIN)/ruff check $(CODE) tests bench
	$(BIN)/ruff format --check $(CODE) tests bench
	$(BIN)/mypy $(CODE)

format: setup
	$(BIN)/ruff check --fix $(CODE) tests bench
	$(BIN)/ruff format $(CODE) tests bench

bench-media: setup
	$(BIN)/python bench/media.py $(BENCH_ARGS)

bench-upload: setup
	cd bench/tus-node && npm ci --no-audit --no-fund --loglevel=error
	$(BIN)/python bench/upload.py $(BENCH_ARGS)

bench-analytics: setup
	$(BIN)/python bench/analytics.py $(BENCH_ARGS)

# 50 viewers through Varnish: origin fetches with the edge VCL (deploy/edge) against per-URL keying.
bench-edge: setup
	@scripts/ensure-varnish
	$(BIN)/python -m bench.edge_offload $(BENCH_ARGS)

# Early publish: last chunk's 200 to the first frame in hls.js, stalls, and the ladder against one command.
bench-publish: setup
	@scripts/ensure-chromium
	$(BIN)/python -m bench.publish $(BENCH_ARGS)

bench-seams: setup
	$(BIN)/python -m bench.seams

bench-watermark: setup
	$(BIN)/python -m bench.watermark $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(WEB)/node_modules $(ASYNCAPI_SPECS)/node_modules data build .mypy_cache .ruff_cache .pytest_cache
