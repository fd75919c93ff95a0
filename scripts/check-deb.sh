#!/usr/bin/env bash
# Check a graph-relay .deb made by scripts/make-deb.sh, without installing it: its control fields
# and Depends, the file list with modes and owners, the conffiles, the maintainer scripts, the
# packaged unit, the packaged binary (stripped, every library it needs from a Debian package that
# Depends names), `graph-relay check-config` on the packaged configuration (filled in as
# scripts/check-deploy-configs.sh does: a self-signed pair, an own password hash, dummy
# environment variables), and `lintian --fail-on error` (its warnings are printed).
# Exit 1 naming each problem.
#
#   ./scripts/check-deb.sh path/to/graph-relay_<version>_<arch>.deb
#
# GRAPH_RELAY_DEB_ALLOW_UNPACKAGED_LIBS=1 (make test, with the debug build): libraries no Debian
# package provides, and the binary's RUNPATH to them, are reported as notes instead of problems,
# and lintian's custom-library-search-path is suppressed. Everything else is checked as usual;
# only a package built from the statically linked release binary (make deb) passes without it.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DEB" >&2; exit 2; }
deb="$(realpath -e -- "$1")" || { echo "check-deb: no such file: $1" >&2; exit 1; }
cd "$(dirname "$0")/.."

problems=()
problem() { problems+=("$*"); echo "check-deb: PROBLEM: $*" >&2; }
allow_unpackaged="${GRAPH_RELAY_DEB_ALLOW_UNPACKAGED_LIBS:-}"
library_problem() {  # a library outside Debian: a problem, unless allowed for a test build
  if [ "$allow_unpackaged" = 1 ]; then
    echo "check-deb: note (allowed by GRAPH_RELAY_DEB_ALLOW_UNPACKAGED_LIBS=1): $*" >&2
  else
    problem "$*"
  fi
}
ok() { echo "check-deb: ok: $*"; }

if ! command -v lintian >/dev/null 2>&1; then
  echo "check-deb: lintian is missing; installing it (apt-get)" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends lintian >&2
fi
for tool in dpkg-deb lintian readelf objdump openssl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "check-deb: $tool is missing" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"

# ---- control fields --------------------------------------------------------------------------------
dpkg-deb -I "$deb" > "$work/info" || { echo "check-deb: $deb is not a Debian package" >&2; exit 1; }
field() { dpkg-deb -f "$deb" "$1"; }
package="$(field Package)"; version="$(field Version)"; arch="$(field Architecture)"
depends="$(field Depends)"
[ "$package" = graph-relay ] || problem "Package is '$package', not graph-relay"
[ "$(basename "$deb")" = "${package}_${version}_${arch}.deb" ] \
  || problem "file name $(basename "$deb") is not ${package}_${version}_${arch}.deb"
[ "$arch" = "$(dpkg --print-architecture)" ] || problem "Architecture $arch is not this machine's $(dpkg --print-architecture)"
for name in Maintainer Description; do [ -n "$(field "$name")" ] || problem "no $name field"; done
[ "$(field Section)" = mail ] || problem "Section is '$(field Section)', not mail"
[ "$(field Priority)" = optional ] || problem "Priority is '$(field Priority)', not optional"
[[ "$(field Installed-Size)" =~ ^[0-9]+$ ]] || problem "Installed-Size is missing or not a number"
depends_names=" $(printf '%s' "$depends" | tr ',|' '\n' | sed 's/(.*)//; s/:.*//; s/[[:space:]]//g' | tr '\n' ' ') "
for needed in libc6 libssl3 adduser; do
  [[ "$depends_names" == *" $needed "* ]] || problem "Depends does not name $needed (Depends: $depends)"
done
ok "control: $package $version $arch; Depends: $depends"

# ---- the file list, modes and owners --------------------------------------------------------------
# dpkg-deb -c prints tar's verbose listing: mode owner/group size date time path [-> target].
dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }' > "$work/contents"
declare -A mode_of owner_of
while read -r mode owner path; do
  path="${path#./}"; path="/${path%/}"
  mode_of["$path"]="$mode"; owner_of["$path"]="$owner"
done < "$work/contents"

expect() {  # expect PATH MODE
  if [ -z "${mode_of[$1]:-}" ]; then problem "$1 is not in the package"
  elif [ "${mode_of[$1]}" != "$2" ]; then problem "$1 has mode ${mode_of[$1]}, expected $2"
  fi
}
expect /usr/bin/graph-relay -rwxr-xr-x
expect /lib/systemd/system/graph-relay.service -rw-r--r--
expect /etc/graph-relay drwxr-xr-x
# Staged 0640 root:root; postinst makes it root:graph-relay (checked below).
expect /etc/graph-relay/graph-relay.yaml -rw-r-----
expect /usr/share/doc/graph-relay/copyright -rw-r--r--
expect /usr/share/doc/graph-relay/README.md -rw-r--r--
if [ -n "${mode_of[/usr/share/doc/graph-relay/changelog.gz]:-}" ]; then
  expect /usr/share/doc/graph-relay/changelog.gz -rw-r--r--
else
  expect /usr/share/doc/graph-relay/changelog.Debian.gz -rw-r--r--
fi
for path in "${!mode_of[@]}"; do
  mode="${mode_of[$path]}"
  [ "${owner_of[$path]}" = root/root ] || problem "$path is owned by ${owner_of[$path]}, not root/root"
  case "$mode" in
    d*) [ "$mode" = drwxr-xr-x ] || problem "directory $path has mode $mode, expected drwxr-xr-x" ;;
    -*) case "$path" in
          /usr/bin/graph-relay|/etc/graph-relay/graph-relay.yaml) ;;
          *) [ "$mode" = -rw-r--r-- ] || problem "$path has mode $mode, expected -rw-r--r--" ;;
        esac ;;
    *) problem "$path is neither a file nor a directory ($mode)" ;;
  esac
  case "$path" in
    /var/spool*) problem "$path is in the package: postinst creates the spool (it must survive removal)" ;;
    /usr/local*) problem "$path: nothing may go to /usr/local" ;;
  esac
done
ok "$(wc -l < "$work/contents") entries listed, modes and owners as expected"

# ---- control archive: conffiles, md5sums, maintainer scripts --------------------------------------
dpkg-deb --ctrl-tarfile "$deb" | tar -tvf - | awk '{ print $1, $2, $6 }' > "$work/control-list"
dpkg-deb -e "$deb" "$work/DEBIAN"
if [ -f "$work/DEBIAN/conffiles" ]; then
  grep -qx /etc/graph-relay/graph-relay.yaml "$work/DEBIAN/conffiles" \
    || problem "conffiles does not list /etc/graph-relay/graph-relay.yaml"
  while read -r conffile; do
    [ -n "${mode_of[$conffile]:-}" ] || problem "conffiles lists $conffile, which is not in the package"
  done < "$work/DEBIAN/conffiles"
else
  problem "no conffiles: /etc/graph-relay/graph-relay.yaml must be a conffile"
fi
[ -f "$work/DEBIAN/md5sums" ] || problem "no md5sums"
for script in postinst prerm postrm; do
  file="$work/DEBIAN/$script"
  if [ ! -f "$file" ]; then problem "no $script"; continue; fi
  mode="$(awk -v p="./$script" '$3 == p { print $1 }' "$work/control-list")"
  [ "$mode" = -rwxr-xr-x ] || problem "$script has mode '$mode', expected -rwxr-xr-x"
  [ "$(head -n 1 "$file")" = '#!/bin/sh' ] || problem "$script does not start with #!/bin/sh"
  grep -qx 'set -e' "$file" || problem "$script has no 'set -e' line"
  sh -n "$file" || problem "$script: sh -n finds a syntax error"
done
postinst="$work/DEBIAN/postinst"
if [ -f "$postinst" ]; then
  # The user, the spool and the configuration's group: what postinst must do.
  grep -Eq 'adduser --system' "$postinst" || problem "postinst does not create the system user (adduser --system)"
  grep -Eq 'install -d -m 0700 -o graph-relay -g graph-relay' "$postinst" \
    || problem "postinst does not create the spool graph-relay:graph-relay 0700"
  grep -q '/var/spool/graph-relay' "$postinst" || problem "postinst does not name /var/spool/graph-relay"
  grep -q '/etc/graph-relay/graph-relay.yaml' "$postinst" || problem "postinst does not name the configuration"
  grep -Eq 'chgrp graph-relay ' "$postinst" || problem "postinst does not give the configuration the group graph-relay"
  grep -Eq 'chmod 0640 ' "$postinst" || problem "postinst does not set the configuration's mode 0640"
  grep -q "'root:root 640'" "$postinst" \
    || problem "postinst does not limit the configuration change to a file still root:root 0640"
  grep -q 'dpkg-statoverride --list' "$postinst" || problem "postinst ignores dpkg-statoverride"
  # Never started or enabled on install (try-restart on upgrade is fine; so is re-enabling a
  # unit the admin had enabled, which dh_installsystemd --no-enable does too).
  if grep -Eq 'deb-systemd-invoke +(start|restart|"?\$)|_dh_action=start' "$postinst"; then
    problem "postinst starts the service (the configuration must be edited first)"
  fi
  if grep -q 'deb-systemd-helper enable' "$postinst" && ! grep -q 'was-enabled' "$postinst"; then
    problem "postinst enables the service (the configuration must be edited first)"
  fi
fi
grep -q 'deb-systemd-invoke stop graph-relay.service' "$work/DEBIAN/prerm" 2>/dev/null \
  || problem "prerm does not stop the service"
ok "control archive: conffiles, md5sums, postinst/prerm/postrm"

# ---- the packaged files -----------------------------------------------------------------------------
root="$work/root"
dpkg-deb -x "$deb" "$root"
unit="$root/lib/systemd/system/graph-relay.service"
if [ -f "$unit" ]; then
  ! grep -q '/usr/local' "$unit" || problem "the unit still names /usr/local: $(grep -n /usr/local "$unit" | head -n 3 | tr '\n' ' ')"
  grep -q '^ExecStart=/usr/bin/graph-relay serve --config /etc/graph-relay/graph-relay.yaml$' "$unit" \
    || problem "the unit's ExecStart is not /usr/bin/graph-relay serve --config /etc/graph-relay/graph-relay.yaml"
  grep -q '^User=graph-relay$' "$unit" || problem "the unit does not run as User=graph-relay"
  # The unit is the repository's, with only the binary's directory changed.
  if ! diff -q <(sed 's|/usr/local/bin/|/usr/bin/|g' deploy/graph-relay.service) "$unit" >/dev/null; then
    echo "check-deb: note: the packaged unit differs from deploy/graph-relay.service (with /usr/bin): an older package?" >&2
  fi
fi

binary="$root/usr/bin/graph-relay"
if [ -x "$binary" ]; then
  sections="$(readelf -S -W "$binary")"
  if grep -q ' \.symtab ' <<< "$sections"; then problem "/usr/bin/graph-relay is not stripped (.symtab present)"; fi
  if runpath="$(objdump -p "$binary" | awk '$1 == "RUNPATH" || $1 == "RPATH" { print $2 }')" && [ -n "$runpath" ]; then
    IFS=: read -r -a entries <<< "$runpath"
    for entry in "${entries[@]}"; do
      # shellcheck disable=SC2016  # a literal $ORIGIN
      case "$entry" in
        '$ORIGIN'*|'${ORIGIN}'*) ;;
        *) library_problem "/usr/bin/graph-relay searches libraries in $entry (RUNPATH): not on a target system" ;;
      esac
    done
  fi
  # Every library the binary needs must come from a Debian package that Depends names.
  ldd_out="$(ldd "$binary" 2>/dev/null || true)"
  while read -r soname; do
    case "$soname" in ld-linux*|ld64*) continue ;; esac
    path="$(awk -v n="$soname" '$1 == n && $2 == "=>" { print $3; exit }' <<< "$ldd_out")"
    if [ -z "$path" ] || [ "$path" = not ]; then library_problem "needed library $soname not found"; continue; fi
    owner=""
    for candidate in "$path" "$(realpath -e "$path" 2>/dev/null || true)" "${path/#\/lib\//\/usr\/lib\/}"; do
      [ -n "$candidate" ] || continue
      owner="$(dpkg -S "$candidate" 2>/dev/null | head -n 1 | sed 's/:.*//')" && [ -n "$owner" ] && break
    done
    if [ -z "$owner" ]; then
      library_problem "needed library $soname ($path) belongs to no Debian package (Swift runtime not linked statically?)"
    elif [[ "$depends_names" != *" $owner "* ]]; then
      problem "needed library $soname comes from $owner, which Depends does not name"
    fi
  done < <(objdump -p "$binary" | awk '$1 == "NEEDED" { print $2 }')
  packaged_version="$("$binary" --version 2>/dev/null | head -n 1 || true)"
  [ "$packaged_version" = "$version" ] \
    || problem "the packaged binary says version '$packaged_version', the package $version"
  echo "check-deb: the binary needs: $(objdump -p "$binary" | awk '$1 == "NEEDED" { printf "%s ", $2 }')"

  # check-config on the packaged configuration, the way scripts/check-deploy-configs.sh checks deploy/.
  if "$(dirname "$0")/check-deploy-configs.sh" "$binary" "$root/etc/graph-relay/graph-relay.yaml"; then
    ok "the packaged binary's check-config accepts the packaged configuration"
  else
    problem "the packaged binary's check-config rejects the packaged configuration"
  fi
else
  problem "/usr/bin/graph-relay is missing or not executable"
fi

# ---- lintian ------------------------------------------------------------------------------------------
# (Not --show-overrides: with it, lintian 2.116 also fails on the overridden errors.)
lintian_options=(--fail-on error --display-info)
if [ "$allow_unpackaged" = 1 ]; then lintian_options+=(--suppress-tags custom-library-search-path); fi
echo "check-deb: lintian ${lintian_options[*]} $(basename "$deb"):"
set +e
lintian "${lintian_options[@]}" "$deb" 2>&1 | grep -v '^running with root privileges is not recommended!$'
lintian_status=${PIPESTATUS[0]}
set -e
overrides="$root/usr/share/lintian/overrides/$package"
if [ -f "$overrides" ]; then
  echo "check-deb: the package's lintian overrides (not shown above):"
  grep -v '^#' "$overrides" | sed 's/^/  /'
fi
if [ "$lintian_status" -ne 0 ]; then
  problem "lintian --fail-on error exits $lintian_status (the E: lines above)"
else
  ok "lintian: no errors"
fi

if [ ${#problems[@]} -gt 0 ]; then
  echo "check-deb: $(basename "$deb"): ${#problems[@]} problem(s):" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 1
fi
if [ "$allow_unpackaged" = 1 ]; then
  echo "check-deb: $(basename "$deb") is fine apart from its libraries (GRAPH_RELAY_DEB_ALLOW_UNPACKAGED_LIBS=1)"
else
  echo "check-deb: $(basename "$deb") is fine"
fi
