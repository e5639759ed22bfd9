# kinesis-host: two commands do all set-up on a fresh machine.
#   make run    the demo: local Kinesis emulator, a producer, the host on config.hcl
#   make test   every test, race detector on, against real emulators and servers
SHELL := /bin/bash
GO    ?= go
BIN   := bin
PLUGINS := $(BIN)/plugins
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Plugin binaries: kinesis-handler-* and kinesis-checkpoint-*.
HANDLERS    := example
CHECKPOINTS := $(notdir $(wildcard checkpoint/cmd/kinesis-checkpoint-*))

.PHONY: all build run test test-short bench lint vet clean emulators services deps

all: build

deps:
	$(GO) mod download

build: deps
	@mkdir -p $(PLUGINS)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/kinesis-host ./cmd/kinesis-host
	$(GO) build -o $(BIN)/demo-producer ./cmd/demo-producer
	$(GO) build -o $(PLUGINS)/kinesis-handler-example ./plugins/example
	@for c in $(CHECKPOINTS); do echo "$(GO) build -o $(PLUGINS)/$$c ./checkpoint/cmd/$$c"; $(GO) build -o $(PLUGINS)/$$c ./checkpoint/cmd/$$c || exit 1; done

# Pinned npm emulators (kinesalite, dynalite, kinesis-local) into .tools/node.
emulators:
	scripts/install-emulators.sh

# Redis and PostgreSQL on 127.0.0.1 at their default ports (installed and
# started as throwaway instances when missing).
services:
	scripts/ensure-services.sh

run: build emulators
	scripts/run-demo.sh

test: build emulators services
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 40m ./...

# Fast tests only (fakes, no emulators needed).
test-short:
	$(GO) test -race -short ./...

# The throughput matrix (internal/bench: kinesis-host with a null handler and
# the memory/file/redis stores beside the raw-SDK and in-process baselines, on
# an in-repo fake Kinesis over HTTP/2), then the Go benchmarks.
# BENCH_QUICK=1 runs a small matrix; BENCH_FLAGS passes flags (-out, -data, ...).
bench: build emulators services
	$(GO) build -o $(PLUGINS)/kinesis-handler-null ./internal/testplugins/nullhandler
	$(GO) run ./internal/bench -bin $(BIN) $(BENCH_FLAGS)
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)

clean:
	rm -rf $(BIN) data .tools/demo
