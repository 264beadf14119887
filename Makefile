# docker-backup: build, install and test. See README.md.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/docker-backup/docker-backup/internal/version.Version=$(VERSION)
BIN       := bin/docker-backup
PLUGINDIR ?= $(if $(DOCKER_CONFIG),$(DOCKER_CONFIG),$(HOME)/.docker)/cli-plugins
STATICCHECK_VERSION ?= v0.8.2
E2E_TIMEOUT ?= 60m
# Where the end-to-end tests leave files for people (the web page's screenshots).
E2E_ARTIFACTS ?= $(CURDIR)/bin/e2e-artifacts
IMAGE     ?= docker-backup/docker-backup
IMAGE_ARCHES := amd64 arm64
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# The commit time, not the clock: the same commit labels its image the same.
CREATED   ?= $(shell git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)

.PHONY: build install image test test-unit e2e lint clean bench fuzz

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/docker-backup

# Installs the plugin where the docker CLI looks for it: `docker backup` then works.
install: build
	mkdir -p '$(PLUGINDIR)'
	install -m 0755 $(BIN) '$(PLUGINDIR)/docker-backup'
	@echo "installed $(PLUGINDIR)/docker-backup: try 'docker backup version'"

# The container image, for the host's platform (IMAGE_ARCH), from the static
# binaries built here: no base image can be pulled where this is built, so the
# Dockerfile only copies. Both architectures are built so a release can ship
# either. The classic builder works without the buildx plugin, which BuildKit
# needs and this machine lacks. The context is made afresh so nothing stale
# (another architecture's binary) ends up in the image.
image:
	@set -e; for arch in $(IMAGE_ARCHES); do \
		echo "build bin/linux-$$arch/docker-backup"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/linux-$$arch/docker-backup ./cmd/docker-backup; \
	done
	rm -rf bin/image
	mkdir -p bin/image/rootfs/tmp
	chmod 1777 bin/image/rootfs/tmp
	cp bin/linux-$(IMAGE_ARCH)/docker-backup bin/image/rootfs/docker-backup
	DOCKER_BUILDKIT=0 docker build -q -f Dockerfile \
		--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) --build-arg CREATED=$(CREATED) \
		-t $(IMAGE):$(VERSION) -t $(IMAGE):latest bin/image

# Unit and end-to-end tests. End-to-end tests need a Docker engine; they skip
# without one unless E2E_REQUIRED=1, which makes them fail instead.
test: test-unit e2e

# The storage tests run against a real S3 server, versitygw, built once
# from the Go module proxy (e2e/tools/install-versitygw.sh).
test-unit:
	$(GO) vet ./...
	VERSITYGW="$${VERSITYGW:-$$(bash e2e/tools/install-versitygw.sh)}" $(GO) test -race -count=1 ./...
	# Again without the race detector, which multiplies memory and CPU:
	# the tests of resource bounds (peak RSS, CPU time) run only then.
	$(GO) test -count=1 ./internal/archive/ ./internal/restore/

e2e:
	$(GO) vet -tags e2e ./e2e/
	mkdir -p '$(E2E_ARTIFACTS)'
	$(GO) test -tags e2e -count=1 -p 1 -timeout $(E2E_TIMEOUT) -artifacts -outputdir '$(E2E_ARTIFACTS)' -v ./e2e/

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
# trial; bench/daemon.sh measures the image and the daemon's idle memory.
# Results: docs/BENCHMARKS.md.
bench:
	bash bench/create.sh
	bash bench/s3.sh
	bash bench/daemon.sh
	bash bench/export.sh
	bash bench/stops.sh

# Each fuzz target for FUZZTIME; found crashers land in testdata/fuzz/ and
# then run with every go test. FUZZMINIMIZE bounds the minimizing of each
# new input: by default (60 s) the fuzzer spent its whole time shrinking
# archive-sized inputs through instrumented zstd and tar code, a few
# hundred executions in all; with 1x it runs about 4,500 a second here.
# FUZZ_TARGETS lists them as package:Target; FUZZPARALLEL=1 leaves the
# other core free.
FUZZTIME ?= 30s
FUZZMINIMIZE ?= 1x
FUZZ_TARGETS := \
	./internal/archive/:FuzzVerify \
	./internal/archive/:FuzzParseManifest \
	./internal/project/:FuzzDecodeExtension \
	./internal/storage/:FuzzParseLocation \
	./internal/api/:FuzzAPIRequest \
	./internal/dbdump/:FuzzLiteral \
	./internal/dbdump/:FuzzChecker \
	./internal/dbdump/:FuzzImportSchema \
	./internal/portable/:FuzzOpen
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $(if $(FUZZPARALLEL),-parallel $(FUZZPARALLEL)) $$pkg; \
	done
