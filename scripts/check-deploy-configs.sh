#!/usr/bin/env bash
# make test: `graph-relay check-config` on every configuration file in deploy/, as an operator
# would run it once the file is in place. What only a deployment has is filled in first: the
# certificate and key paths point at a fresh self-signed pair (mode 0600), the published
# placeholder password hash is replaced by a hash made with `graph-relay hash-password`, and the
# environment variables the file names are set. Any error fails; warnings are printed.
#
#   ./scripts/check-deploy-configs.sh [path/to/graph-relay [FILE…]]   (default: deploy/*.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-.build/debug/graph-relay}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=relay.example -days 2 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
chmod 600 "$work/key.pem"
hash="$(printf '%s' 'deploy-check-password' | "$binary" hash-password)"
status=0
files=("${@:2}")
[ ${#files[@]} -gt 0 ] || files=(deploy/*.yaml)
for file in "${files[@]}"; do
  copy="$work/$(basename "$file")"
  python3 - "$file" "$copy" "$work" "$hash" <<'PY'
import re, sys
source, target, work, own = sys.argv[1:]
text = open(source).read()
text = text.replace("/etc/graph-relay/cert.pem", work + "/cert.pem").replace("/etc/graph-relay/key.pem", work + "/key.pem")
text = re.sub(r'"\$scrypt\$[^"]+"', '"' + own.replace("\\", "\\\\") + '"', text)
open(target, "w").write(text)
PY
  chmod 600 "$copy"
  # The variables the file reads ({ env: NAME }), set to a dummy value.
  names=$(grep -o '{ *env: *[A-Za-z_][A-Za-z0-9_]* *}' "$file" | sed 's/{ *env: *\([A-Za-z0-9_]*\) *}/\1/' | sort -u)
  environment=()
  for name in $names; do environment+=("$name=deploy-check"); done
  if env "${environment[@]}" "$binary" check-config --config "$copy"; then
    echo "check-config: $file is valid"
  else
    echo "check-config: $file is NOT valid" >&2
    status=1
  fi
done
exit $status
