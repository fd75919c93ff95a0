#!/usr/bin/env bash
# make run: graph-relay on 127.0.0.1:2525 with an embedded Microsoft Graph emulator.
# Everything lives under ./run: the demo configuration, a self-signed certificate for STARTTLS and
# the emulator's outbox, where every message Graph "sent" appears as an .eml file.
set -euo pipefail
binary="${1:?usage: run-demo.sh PATH-TO-graph-relay}"
cd "$(dirname "$0")/.."
mkdir -p run/outbox run/spool

if [ ! -f run/relay-cert.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout run/relay-key.pem -out run/relay-cert.pem 2>/dev/null
  chmod 600 run/relay-key.pem
fi
if [ ! -f run/demo.yaml ]; then
  hash=$(printf '%s' 'demo-password' | "$binary" hash-password)
  cat > run/demo.yaml <<YAML
# graph-relay demo configuration (written by scripts/run-demo.sh; delete it to regenerate).
smtp:
  hostname: relay.demo.example
  listeners:
    - { address: "127.0.0.1:2525", tls: starttls }
tls: { certificate: relay-cert.pem, privateKey: relay-key.pem }
access:
  networks: ["127.0.0.0/8", "::1/128"]
  users:
    - { name: printer, passwordHash: "$hash" }
applications:
  - name: demo
    tenantId: demo.onmicrosoft.com
    clientId: 00000000-0000-0000-0000-000000000000
    clientSecret: demo-secret
routes:
  - { sender: "*", application: demo, mailbox: scanner@demo.example, rewriteFrom: true }
delivery: queue                 # 250 once the message is on disk; delivered in the background
spool: { directory: spool, retry: { initial: 10s, maximum: 1m } }
# Development only: Microsoft Graph is replaced by an emulator inside graph-relay.
emulator:
  outbox: outbox
YAML
fi

cat <<TEXT
graph-relay demo: SMTP on 127.0.0.1:2525 (STARTTLS offered; AUTH user 'printer', password 'demo-password').
Send a message, for example:
  swaks --server 127.0.0.1:2525 --from scanner@printer.local --to alice@example.com
Delivered messages appear under run/outbox/scanner@demo.example/. Stop with Ctrl-C.
TEXT
exec "$binary" serve --config run/demo.yaml
