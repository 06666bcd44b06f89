# inboxd — see README.md. Every target installs what it needs first (scripts/bootstrap is idempotent).
SWIFT ?= swift
BIN := .build/debug/inboxd

.PHONY: bootstrap build run test bench clean

bootstrap:
	@scripts/bootstrap

build: bootstrap
	$(SWIFT) build --product inboxd

run: build
	$(BIN) run --config examples/inbox/inboxd.toml

test: bootstrap
	$(SWIFT) build --build-tests
	INBOXD_BIN=$(CURDIR)/$(BIN) $(SWIFT) test --skip-build --no-parallel

bench: bootstrap
	$(SWIFT) build -c release --product inboxd
	bench/run-all

clean:
	rm -rf .build
