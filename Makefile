# Portico — run `make` for the list of targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/portico
# Extra flags for `portico dev`, e.g. make run DEV_FLAGS="--fresh".
DEV_FLAGS ?=
# Packages and flags for the test run; CI uses the defaults.
PKGS       ?= ./...
TEST_FLAGS ?= -race -timeout 20m

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install the tools tests, lint and bench need (curl, wrk, nginx, staticcheck)
	./scripts/install-deps.sh

.PHONY: build
build: ## build bin/portico
	$(GO) build -o $(BIN) .

.PHONY: run
run: build ## start `portico dev`: a local node, a demo backend and a demo API
	./$(BIN) dev $(DEV_FLAGS)

.PHONY: test
test: deps ## run every test with the race detector
	$(GO) test $(TEST_FLAGS) $(PKGS)

.PHONY: lint
lint: deps ## gofmt check, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	./bin/staticcheck ./...

.PHONY: bench
bench: deps build ## Go benchmarks (incl. gossip failure detection), the regional-proxy and edge-cache benchmarks (wrk, nginx), DNS against CoreDNS (dnsperf), cluster propagation and failover
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./simulations/cmd/proxybench -portico $(BIN)
	$(GO) run ./simulations/cmd/accessbench -portico $(BIN)
	@if [ "$$(nproc)" -ge 2 ]; then set -x; $(GO) run ./simulations/cmd/edgebench -portico $(BIN) -pin; \
	else echo "edgebench -pin skipped: it needs 2 CPUs (servers on one, wrk on another)"; fi
	$(GO) run ./simulations/cmd/edgebench -portico $(BIN)
	$(GO) run ./simulations/cmd/dnsbench -portico $(BIN)
	$(GO) run ./simulations/cmd/clusterbench -portico $(BIN) -deploys 20 -kills 5
