# islb — `make run` starts islb on its embedded defaults; `make test` installs what is
# missing and runs every test. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := test
NPM_STAMP := node_modules/.install-stamp
TESTS = $(shell find dist/test -name '*.test.js' | sort)

.PHONY: deps servers build generate check-generated format lint test test-unit bench bench-placement bench-gateway bench-redis-cluster soak run clean examples example-sfu example-signal

# Node packages, from package-lock.json.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: $(NPM_STAMP) servers

# nats-server and redis-server for the integration tests, Chromium for the cluster page's
# browser test (Debian packages when missing).
servers:
	@missing=""; \
	command -v nats-server >/dev/null 2>&1 || missing="$$missing nats-server"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing:$$missing (install them, then run make test again)"; exit 1; fi; \
	fi

# Regenerates generated/ (ts-proto) and descriptors/ (the FileDescriptorSet reflection serves)
# from proto/, with buf and ts-proto from node_modules; no protoc.
generate: $(NPM_STAMP)
	rm -rf generated && npx buf generate
	npx buf build --as-file-descriptor-set -o descriptors/islb.binpb
	cd examples && rm -rf generated && npx buf generate && npx buf build --as-file-descriptor-set -o sfu.binpb

# Fails when generated/ is not what proto/ makes now.
check-generated: $(NPM_STAMP)
	@tmp=$$(mktemp -d); npx buf generate --output $$tmp >/dev/null && \
	if diff -r $$tmp/generated generated >/dev/null; then rm -rf $$tmp; else \
	  diff -r $$tmp/generated generated | head -20; rm -rf $$tmp; \
	  echo "generated/ is stale: run 'make generate' and commit it"; exit 1; fi
	@tmp=$$(mktemp); npx buf build --as-file-descriptor-set -o $$tmp && \
	if cmp -s $$tmp descriptors/islb.binpb; then rm -f $$tmp; else rm -f $$tmp; \
	  echo "descriptors/islb.binpb is stale: run 'make generate' and commit it"; exit 1; fi

# buf lint, and buf breaking against the previous commit: no change may break existing clients.
# The TypeScript's formatting (prettier, .prettierrc.json): `make format` rewrites it.
FORMATTED = "src/**/*.ts" "test/**/*.ts" "bench/**/*.ts" "examples/*.ts"

format: $(NPM_STAMP)
	npx prettier --write --log-level warn $(FORMATTED)

lint: $(NPM_STAMP)
	npx prettier --check --log-level warn $(FORMATTED) && echo "prettier: every file formatted"
	npx buf lint
	@if git rev-parse -q --verify HEAD~1 >/dev/null 2>&1; then \
	  npx buf breaking --against '.git#ref=HEAD~1' && echo "buf breaking: no breaking change against HEAD~1"; \
	else echo "buf breaking: no previous commit to compare with"; fi

# Circular imports fail the build: on the output, and on the sources (which also sees type-only imports).
build: $(NPM_STAMP)
	rm -rf dist && npx tsc -p tsconfig.json
	chmod +x dist/src/cli/main.js
	npx madge --circular --extensions js dist/src
	npx madge --circular --extensions ts --ts-config tsconfig.json src

test: deps check-generated lint build
	node --test --test-concurrency=2 --test-timeout=180000 $(TESTS)

bench: deps build
	node dist/bench/run.js
	node --expose-gc dist/bench/islb.js
	node dist/bench/service.js
	node dist/bench/store-cost.js
	node dist/bench/placement.js
	node dist/bench/gateway.js

# Unary through islb gateway against grpc-js straight to a grpc-js server (about 45 s).
bench-gateway: deps build
	node dist/bench/gateway.js

# Placement quality against LiveKit's selector, simulated in process (no NATS): about 15 s.
bench-placement: deps build
	node dist/bench/placement.js

# Redis writes on a 3-master Redis Cluster (one slot, and the default 6 shards) against a single
# Redis: heartbeats/s and placements/s from two islb stores, started by the bench (about 30 s).
bench-redis-cluster: deps build
	node dist/bench/redis-cluster.js

# Long runs, not part of make test: nodes heartbeating for minutes (memory, then Redis store).
soak: deps build
	node dist/bench/soak.js --seconds $${SOAK_SECONDS:-120}
	node dist/bench/soak.js --seconds $${SOAK_SECONDS:-120} --redis

run: deps build
	node dist/src/cli/main.js serve --start-nats

# examples/ (they import "islb" as a user's code does), each started by one command against
# the NATS at NATS_URL (default nats://127.0.0.1:4222) and an islb on it (make run). They
# build dist/ only when it is missing, so they never pull it from under a running islb.
EXAMPLE_SOURCES = $(wildcard examples/*.ts) $(shell find examples/generated -name '*.ts')

examples: examples/dist/.built

examples/dist/.built: $(EXAMPLE_SOURCES) examples/tsconfig.json | dist/src/index.js
	npx tsc -p examples/tsconfig.json
	@touch $@

dist/src/index.js:
	$(MAKE) build

example-sfu: examples
	node examples/dist/sfu.js $(or $(NID),sfu-1)

example-signal: examples
	node examples/dist/signal.js

clean:
	rm -rf dist examples/dist
