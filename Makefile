# pets: build, test, demo. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/pets
DEMO := examples/announcement/Petsfile

.DEFAULT_GOAL := help
include cluster.mk

.PHONY: help build test unit crossbuild lint bench bench-peers bench-ab demo demo-down clean

help:
	@echo "make demo     build pets and bring up the announcement's two-server example"
	@echo "make test     vet, every test with -race (Kubernetes tests against make cluster-up when root), darwin/windows builds"
	@echo "make build    build $(BIN) (version $(VERSION)), bin/pets-waiter and bin/pets-kube beside it"
	@echo "make bench    print the speed figures as a table"
	@echo "make bench-peers   pets beside entr, reflex and air (installed for the run), same run, same server"
	@echo "make bench-ab REF=<commit> [ONLY=restart]   this tree's figures against REF's, interleaved runs"
	@echo "make lint     gofmt, go vet, go mod tidy check"
	@echo "make cluster-up / cluster-down   the local Kubernetes test cluster (root, Debian)"

# All three are static (no cgo: Go's own resolver and user lookup): loading
# libc cost every start of pets-waiter (one per server) about 0.8 ms of CPU,
# and every pets command 0.5 to 1 ms before main (make bench: startup).
#
# They are linked in a temporary directory and copied into bin/ (a new file
# renamed over the old one, so a running pets keeps its own). The linker
# writes its output through mmap, and a file whose pages came into the page
# cache that way execs slower than the same bytes written with write(2):
# `pets version` 3.4-3.9 ms against 2.7-3.0 here (Linux 6.18; equal again
# once the file has left the page cache and is read back).
build:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && set -e && \
	  echo 'CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/pets ./cmd/pets-waiter ./cmd/pets-kube' && \
	  CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o "$$tmp/" ./cmd/pets ./cmd/pets-waiter ./cmd/pets-kube && \
	  mkdir -p bin && for b in pets pets-waiter pets-kube; do cp "$$tmp/$$b" "bin/.$$b.new" && mv -f "bin/.$$b.new" "bin/$$b"; done

test:
	@scripts/test.sh

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

crossbuild:
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...
	GOOS=windows GOARCH=amd64 $(GO) build ./...
	GOOS=windows GOARCH=amd64 $(GO) vet ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

bench: build
	@scripts/bench.sh

# entr from apt (as root), reflex and air by go install into a temporary
# GOBIN: nothing is added to go.mod.
bench-peers: build
	$(GO) run ./internal/bench -only peers

# One group of figures for this tree against REF's build, in interleaved
# runs (PAIRS pairs of N samples each): a change measured against the code
# before it, at the same hours.
bench-ab: build
	@REF='$(REF)' ONLY='$(ONLY)' N='$(N)' PAIRS='$(PAIRS)' scripts/bench-ab.sh

demo: build
	@echo "== $(BIN) up frontend -f $(DEMO)"
	@$(BIN) up -f $(DEMO) frontend
	@echo
	@echo "== $(BIN) list"
	@$(BIN) list
	@echo
	@echo "== curl http://localhost:8081/"
	@curl -fsS http://localhost:8081/ 2>/dev/null || $(GO) run ./internal/httpget http://localhost:8081/
	@echo
	@echo "The two servers keep running. Try: $(BIN) logs backend frontend"
	@echo "Stop them with: $(BIN) down      (or: make demo-down)"

demo-down: build
	$(BIN) down

clean:
	rm -rf bin
