# inboxd — see README.md. Every target installs what it needs first (scripts/bootstrap is idempotent).
SWIFT ?= swift
BIN := .build/debug/inboxd

.PHONY: bootstrap build run test test-serial soak bench bench-quick deb test-package clean

bootstrap:
	@scripts/bootstrap

build: bootstrap
	$(SWIFT) build --product inboxd

run: build
	$(BIN) run --config examples/inbox/inboxd.toml

# Every suite, in two processes side by side (scripts/run-tests; TEST_JOBS=1 for one). test-serial: swift test, one process.
test: bootstrap
	$(SWIFT) build --build-tests
	INBOXD_BIN=$(CURDIR)/$(BIN) scripts/run-tests

test-serial: bootstrap
	$(SWIFT) build --build-tests
	INBOXD_BIN=$(CURDIR)/$(BIN) $(SWIFT) test --skip-build --no-parallel

# The fault-injection suites with their long variants (more kills, a bigger hostile corpus); INBOXD_FAULT_SEED replays a run.
soak: bootstrap
	$(SWIFT) build --build-tests
	INBOXD_SOAK=1 INBOXD_BIN=$(CURDIR)/$(BIN) $(SWIFT) test --skip-build --no-parallel \
		--filter 'FaultInjectionTests|S3FaultTests|HostileMediaTests|DiskFullTests'

# Every benchmark beside its alternative; writes bench/RESULTS.md (see bench/run-all).
bench: bootstrap
	$(SWIFT) build -c release --product inboxd
	bench/run-all

# The same harness with small sizes and one run each (< 5 min once built): proves the benches run, measures little.
bench-quick: bootstrap
	$(SWIFT) build -c release --product inboxd
	QUICK=1 bench/run-all

# dist/inboxd_<version>_<arch>.deb: release build with the Swift runtime linked statically (see packaging/deb/build).
deb:
	@scripts/bootstrap package
	SWIFT=$(SWIFT) packaging/deb/build

# lintian, the extracted binary without a toolchain, and an install into a throw-away Debian root.
test-package: deb
	packaging/deb/test

clean:
	rm -rf .build .build-release dist
