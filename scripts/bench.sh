#!/usr/bin/env bash
# make bench: graph-relay vs Postfix under the same SMTP load, side by side (docs/performance.md).
#
#   ./scripts/bench.sh [options]            e.g. --messages 5000 --rounds 1 --starttls
#   make bench BENCH_ARGS="--skip-large"    the same through make
#   GRAPH_RELAY_BIN=/path/graph-relay ./scripts/bench.sh    use this binary instead of building
#
# Installs Debian's postfix (for smtpd and smtp-sink) if it is missing, without configuring or
# starting the system's own instance, and valgrind (callgrind); everything else is in
# scripts/bench/bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = "0" ] || SUDO="sudo"

args=("$@")
if [ -n "${BENCH_ARGS:-}" ]; then
  # shellcheck disable=SC2206
  args+=(${BENCH_ARGS})
fi

want_postfix=1
want_valgrind=1
for a in "${args[@]+"${args[@]}"}"; do
  case "$a" in --skip-postfix|-h|--help) want_postfix=0 ;; esac
  case "$a" in --skip-callgrind|--skip-relay|-h|--help) want_valgrind=0 ;; esac
done

if [ "$want_valgrind" = 1 ] && ! command -v callgrind_control >/dev/null 2>&1; then
  echo "bench: installing valgrind (for the instructions per message)"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind binutils
fi

if [ "$want_postfix" = 1 ] && ! command -v smtp-sink >/dev/null 2>&1 && [ ! -x /usr/sbin/smtp-sink ]; then
  echo "bench: installing postfix (Debian package; the system instance is left unconfigured and stopped)"
  # "No configuration": the package installs its programs but no /etc/postfix/main.cf, so the
  # default instance neither gets a configuration nor starts.
  if ! dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q "install ok installed"; then
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix
fi

PY=python3
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "bench: Python 3.11 or newer is needed (asyncio STARTTLS); found $("$PY" --version 2>&1)" >&2
  exit 1
fi

BENCH_COMMAND="./scripts/bench.sh"
for a in "${args[@]+"${args[@]}"}"; do BENCH_COMMAND+=" $(printf '%q' "$a")"; done
export BENCH_COMMAND
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the work tree
exec "$PY" scripts/bench/bench.py "${args[@]+"${args[@]}"}"
