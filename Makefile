# graph-relay — build, test and run.
#
#   make run     build and start the relay and, beside it, a graph-emulator process (demo config)
#   make test    install what is missing (Debian: apt-get), build, run every test
#   make build   debug build;  make release: optimised build;  make clean
#   make bench   benchmarks (not part of make test)
#   make fuzz    libFuzzer runs of every parser that reads client bytes, 60 s each (FUZZ_SECONDS)

SWIFT        ?= swift
CONFIGURATION ?= debug
SUDO         := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
# Debian packages the build and the interop tests need (prometheus for promtool, chromium for
# the status page).
APT_PACKAGES := libssl-dev pkg-config openssl swaks libnet-ssleay-perl curl python3 binutils systemd prometheus chromium
# Swift Testing runs suites in parallel; 2 workers keep a 2-core machine responsive.
TEST_FLAGS   ?= --parallel --num-workers 2
# Suites that move tens of megabytes (large messages, the real binary's memory) run after the
# others, on their own: on 2 cores they would otherwise starve the timing-sensitive tests.
HEAVY_TESTS  := LargeMessage|GraphDraftLoopback
# Clients that flood the listener to test its limits: on their own too, last.
HOSTILE_TESTS := SMTPHostileClient

.PHONY: all build release test deps run clean bench fuzz

all: build

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build -c $(CONFIGURATION)

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build $(TEST_FLAGS) --skip '$(HEAVY_TESTS)|$(HOSTILE_TESTS)'
	$(SWIFT) test --skip-build $(TEST_FLAGS) --filter '$(HEAVY_TESTS)'
	$(SWIFT) test --skip-build $(TEST_FLAGS) --filter '$(HOSTILE_TESTS)'
	# The shipped configurations pass the real binary's check-config; the alert rules pass
	# promtool's own tests; the monitoring checker's and the benchmark's own tests.
	./scripts/check-deploy-configs.sh "$$($(SWIFT) build --show-bin-path)/graph-relay"
	promtool check rules deploy/prometheus/graph-relay-rules.yml
	promtool test rules deploy/prometheus/graph-relay-rules.test.yml
	python3 scripts/test_check_monitoring.py
	python3 scripts/bench/test_bench.py

run: deps
	$(SWIFT) build -c $(CONFIGURATION) --product graph-relay
	$(SWIFT) build -c $(CONFIGURATION) --product graph-emulator
	./scripts/run-demo.sh "$$($(SWIFT) build -c $(CONFIGURATION) --show-bin-path)/graph-relay"

bench: deps
	./scripts/bench.sh

FUZZ_SECONDS ?= 60
fuzz: deps
	./scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf .build run
