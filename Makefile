# docker-backup: build, install and test. See README.md.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/docker-backup/docker-backup/internal/version.Version=$(VERSION)
BIN       := bin/docker-backup
PLUGINDIR ?= $(if $(DOCKER_CONFIG),$(DOCKER_CONFIG),$(HOME)/.docker)/cli-plugins
STATICCHECK_VERSION ?= v0.8.2
E2E_TIMEOUT ?= 60m

.PHONY: build install test test-unit e2e lint clean bench fuzz

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/docker-backup

# Installs the plugin where the docker CLI looks for it: `docker backup` then works.
install: build
	mkdir -p '$(PLUGINDIR)'
	install -m 0755 $(BIN) '$(PLUGINDIR)/docker-backup'
	@echo "installed $(PLUGINDIR)/docker-backup: try 'docker backup version'"

# Unit and end-to-end tests. End-to-end tests need a Docker engine; they skip
# without one unless E2E_REQUIRED=1, which makes them fail instead.
test: test-unit e2e

# The storage tests run against a real S3 server, versitygw, built once
# from the Go module proxy (e2e/tools/install-versitygw.sh).
test-unit:
	$(GO) vet ./...
	VERSITYGW="$${VERSITYGW:-$$(bash e2e/tools/install-versitygw.sh)}" $(GO) test -race -count=1 ./...

e2e:
	$(GO) vet -tags e2e ./e2e/
	$(GO) test -tags e2e -count=1 -p 1 -timeout $(E2E_TIMEOUT) -v ./e2e/

lint:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -tags e2e ./e2e/

clean:
	rm -rf bin

# Times `docker backup create` against the manual procedure (pg_dumpall | gzip,
# tar -cj) and the raw reads, on >= 1 GiB of generated data; prints a markdown
# table. Needs a Docker engine and the test images; BENCH_SCALE=0.05 for a quick
# trial. Results: docs/BENCHMARKS.md.
bench:
	bash bench/create.sh
	bash bench/s3.sh

# Each fuzz target for FUZZTIME; found crashers land in testdata/fuzz/ and
# then run with every go test. FUZZMINIMIZE bounds the minimizing of each
# new input: by default (60 s) the fuzzer spent its whole time shrinking
# archive-sized inputs through instrumented zstd and tar code, a few
# hundred executions in all; with 1x it runs about 4,500 a second here.
FUZZTIME ?= 30s
FUZZMINIMIZE ?= 1x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/archive/
	$(GO) test -run '^$$' -fuzz '^FuzzParseManifest$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/archive/
