# syntax=docker/dockerfile:1
# graph-relay container image (docs/deploy.md, "Docker and compose").
#
#   docker build -t graph-relay .                         # the relay (last stage, `runtime`)
#   docker build --target emulator -t graph-emulator .    # the Graph stand-in, for compose's demo only
#
# The build step is `make release` plus `--static-swift-stdlib`: the Swift runtime and Foundation
# are linked into the binary, so the runtime image needs only glibc, libstdc++/libgcc (both in
# debian:bookworm-slim), OpenSSL 3 (libssl3) and the CA certificates. scripts/check-container.sh
# (make test) lints this file with hadolint and compares its build flags with the Makefile's.

# ---- build: the relay, optimised, Swift runtime linked statically --------------------------------
FROM swift:6.1-bookworm AS build
# Unpinned on purpose: libssl-dev must match the libssl3 that Debian's security updates ship to the
# runtime stage; a pinned version would stop building once bookworm-security supersedes it.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, in a layer of their own (reused while the manifest does not change).
# Package.resolved is not committed; the pattern copies it when the checkout has one.
COPY Package.swift Package.resolve[d] ./
RUN swift package resolve
# SwiftPM checks every target's directory, test targets included, so Tests/ comes along.
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product graph-relay \
 && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/graph-relay" /out/graph-relay

# ---- emulator-build: the Graph stand-in (only built for `--target emulator`) ---------------------
# Starts from the build stage's .build: only what graph-emulator adds is compiled.
FROM build AS emulator-build
RUN swift build -c release --static-swift-stdlib --product graph-emulator \
 && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/graph-emulator" /out/graph-emulator

# ---- runtime-base: what both runtime images share -----------------------------------------------
FROM debian:bookworm-slim AS runtime-base
# Unpinned on purpose: libssl3 and ca-certificates should be the current bookworm(-security)
# versions at every rebuild; pinning would freeze TLS fixes out (and break once superseded).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10025 graph-relay \
 && useradd --system --uid 10025 --gid 10025 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin graph-relay

# ---- emulator: a test stand-in for Microsoft Graph and Entra ID, never part of the product -------
FROM runtime-base AS emulator
COPY --from=emulator-build /out/graph-emulator /usr/bin/graph-emulator
# Its generated certificate and its outbox (the .eml files Graph "sent") live here.
RUN install -d -o 10025 -g 10025 -m 0750 /var/lib/graph-emulator /var/lib/graph-emulator/outbox
VOLUME ["/var/lib/graph-emulator"]
USER 10025:10025
EXPOSE 8443
ENTRYPOINT ["graph-emulator"]

# ---- runtime: the relay (the default target) ----------------------------------------------------
FROM runtime-base AS runtime
LABEL org.opencontainers.image.title="graph-relay" \
      org.opencontainers.image.description="SMTP-to-Microsoft-Graph relay gateway"
COPY --from=build /out/graph-relay /usr/bin/graph-relay
# The spool (durable queue): one volume per instance, never shared (docs/deploy.md). The
# configuration is mounted at /etc/graph-relay/graph-relay.yaml (readable by group 10025).
RUN install -d -o 10025 -g 10025 -m 0700 /var/spool/graph-relay \
 && install -d -m 0755 /etc/graph-relay
VOLUME ["/var/spool/graph-relay"]
# SMTP (STARTTLS), submission (STARTTLS), SMTPS (implicit TLS), admin HTTP (probes, /metrics).
# Unprivileged ports: map 25/587/465 to them outside (docker -p 25:2525, a Service's port).
EXPOSE 2525 2587 2465 9025
USER 10025:10025
# `graph-relay health` GETs the URL and exits 0 only on 200 (no curl in the image). The admin
# listener must be on port 9025 of the container (admin.address 127.0.0.1:9025 or 0.0.0.0:9025).
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ["graph-relay","health","--url","http://127.0.0.1:9025/readyz"]
# SIGTERM: the listeners close, /readyz turns 503, sessions get smtp.drainTimeout (30 s) to finish.
# Give `docker stop` more than that: docker stop --time 60 (compose: stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["graph-relay"]
CMD ["serve","--config","/etc/graph-relay/graph-relay.yaml"]
