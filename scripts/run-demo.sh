#!/usr/bin/env bash
# make run: graph-relay on 127.0.0.1:2525 and, as a second process, the graph-emulator (a stand-in
# for Microsoft Graph and Entra ID, built next to graph-relay; never part of the product) on
# https://127.0.0.1:8443. The relay reaches it through the ordinary loginEndpoint, graphEndpoint
# and caFile keys. Everything lives under ./run: the demo configuration, a self-signed
# certificate for STARTTLS, the emulator's certificate and its outbox, where every message Graph
# "sent" appears as an .eml file.
set -euo pipefail
binary="${1:?usage: run-demo.sh PATH-TO-graph-relay}"
emulator="$(dirname "$binary")/graph-emulator"
cd "$(dirname "$0")/.."
mkdir -p run/outbox run/spool run/emulator
[ -x "$emulator" ] || { echo "graph-emulator is not built next to $binary (make run builds both)" >&2; exit 1; }

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
    # Development only: the graph-emulator process stands in for Entra ID and Graph.
    loginEndpoint: https://127.0.0.1:8443
    graphEndpoint: https://127.0.0.1:8443
    caFile: emulator/emulator.pem
routes:
  - { sender: "*", application: demo, mailbox: scanner@demo.example, rewriteFrom: true }
delivery: queue                 # 250 once the message is on disk; delivered in the background
spool: { directory: spool, retry: { initial: 10s, maximum: 1m } }
YAML
  chmod 600 run/demo.yaml
fi

"$emulator" --listen 127.0.0.1:8443 --generate-certificate run/emulator --outbox run/outbox \
  --mailbox scanner@demo.example --tenant demo.onmicrosoft.com \
  --client-id 00000000-0000-0000-0000-000000000000 --client-secret demo-secret --log-level warning &
emulator_pid=$!
trap 'kill $emulator_pid 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  [ -f run/emulator/emulator.pem ] && (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null && break
  kill -0 $emulator_pid 2>/dev/null || { echo "graph-emulator did not start" >&2; exit 1; }
  sleep 0.1
done

cat <<TEXT
graph-relay demo: SMTP on 127.0.0.1:2525 (STARTTLS offered; AUTH user 'printer', password 'demo-password').
Send a message, for example:
  swaks --server 127.0.0.1:2525 --from scanner@printer.local --to alice@example.com
Delivered messages appear under run/outbox/scanner@demo.example/.
Status page (open it in a browser): http://127.0.0.1:9025/  Metrics: http://127.0.0.1:9025/metrics
Probes: http://127.0.0.1:9025/healthz and /readyz. Reload run/demo.yaml: kill -HUP <pid>. Stop with Ctrl-C.
TEXT
"$binary" serve --config run/demo.yaml
