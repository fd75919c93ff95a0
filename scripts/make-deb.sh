#!/usr/bin/env bash
# make deb: build graph-relay_<version>_<arch>.deb with dpkg-deb from a built binary (normally the
# release build with the Swift runtime linked statically, `make release`).
#
#   ./scripts/make-deb.sh BINARY [OUTDIR]        (OUTDIR defaults to .build/deb)
#
# The path of the .deb is the only line written to standard output; everything else goes to
# standard error. Check the result with ./scripts/check-deb.sh.
#
# What the package holds:
#   /usr/bin/graph-relay                      the binary, stripped (0755)
#   /lib/systemd/system/graph-relay.service   deploy/graph-relay.service, /usr/local/bin -> /usr/bin
#   /etc/graph-relay/graph-relay.yaml         deploy/graph-relay.example.yaml, a conffile, staged
#                                             root:root 0640; postinst gives it group graph-relay
#   /usr/share/doc/graph-relay/               README.md, docs/*.md, copyright, changelog.gz, and
#                                             the Prometheus rules and Grafana dashboard as examples
# The maintainer scripts create the system user and group graph-relay and /var/spool/graph-relay
# (graph-relay:graph-relay 0700), and never start or enable the service: the configuration must
# be edited first (see the postinst message).
#
# Depends: is computed from the binary with dpkg-shlibdeps, plus adduser and ca-certificates.
# A binary that needs a shared library no Debian package provides (the Swift runtime under
# /opt/swift when the binary was not linked with --static-swift-stdlib) is refused, since the
# package would not run anywhere else; GRAPH_RELAY_DEB_ALLOW_UNPACKAGED_LIBS=1 builds it anyway
# (for testing the packaging with a debug build; such a package fails check-deb.sh).
#
# Environment: SOURCE_DATE_EPOCH (timestamps; default: the last commit's time),
# DEB_MAINTAINER (default "graph-relay maintainers <graph-relay@example.org>").
set -euo pipefail

die() { echo "make-deb: $*" >&2; exit 1; }
note() { echo "make-deb: $*" >&2; }

if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: $0 BINARY [OUTDIR]"; fi
for tool in dpkg-deb dpkg-shlibdeps dpkg strip objdump gzip md5sum; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (apt-get install dpkg-dev binutils)"
done

# Paths given relative to where the script was called from.
binary="$(realpath -e -- "$1")" || die "no such binary: $1"
if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then die "$binary is not an executable file"; fi
if [ $# -ge 2 ]; then mkdir -p -- "$2"; outdir="$(realpath -e -- "$2")"; fi
cd "$(dirname "$0")/.."
repo="$(pwd)"
if [ $# -lt 2 ]; then mkdir -p .build/deb; outdir="$repo/.build/deb"; fi

package=graph-relay
maintainer="${DEB_MAINTAINER:-graph-relay maintainers <graph-relay@example.org>}"
arch="$(dpkg --print-architecture)"

# ---- version: `graph-relay --version`, else GraphRelay.swift ------------------------------------
version_pattern='^[0-9][A-Za-z0-9.+~]*$'   # no '-': a native package (no Debian revision)
source_version="$(sed -n 's/^[[:space:]]*public static let current = "\([^"]*\)".*/\1/p' \
  Sources/GraphRelay/GraphRelay.swift 2>/dev/null | head -n 1)"
binary_version=""
if out="$("$binary" --version 2>/dev/null)"; then
  out="$(printf '%s\n' "$out" | head -n 1 | tr -d '[:space:]')"
  if [[ "$out" =~ $version_pattern ]]; then binary_version="$out"; fi
fi
if [ -n "$binary_version" ]; then
  version="$binary_version"
  if [ -n "$source_version" ] && [ "$source_version" != "$binary_version" ]; then
    note "warning: the binary says $binary_version, Sources/GraphRelay/GraphRelay.swift says $source_version (stale build?); packaging $binary_version"
  fi
else
  version="$source_version"
  note "the binary has no usable --version; version $version from Sources/GraphRelay/GraphRelay.swift"
fi
[[ "$version" =~ $version_pattern ]] || die "no valid version (binary: '${binary_version}', source: '${source_version}')"

# ---- the binary must be for this architecture ------------------------------------------------------
machine="$(LC_ALL=C readelf -h "$binary" | sed -n 's/^ *Machine: *//p')"
case "$arch" in
  amd64) expected_machine='X86-64' ;;
  arm64) expected_machine='AArch64' ;;
  *) expected_machine='' ;;
esac
if [ -n "$expected_machine" ] && [[ "$machine" != *"$expected_machine"* ]]; then
  die "$binary is for '$machine', not $arch"
fi

# ---- timestamps ------------------------------------------------------------------------------------
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH="$(git -C "$repo" log -1 --format=%ct 2>/dev/null || true)"
  [ -n "$SOURCE_DATE_EPOCH" ] || SOURCE_DATE_EPOCH="$(stat -c %Y Sources/GraphRelay/GraphRelay.swift)"
fi
export SOURCE_DATE_EPOCH
commit="$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
dirty=""
if [ "$commit" != unknown ] && ! git -C "$repo" diff --quiet HEAD -- Sources Package.swift 2>/dev/null; then
  dirty="with uncommitted changes in Sources/ or Package.swift"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
umask 022
mkdir -p "$root"
chmod 0755 "$root"   # the package's "./": mktemp made it 0700

# ---- files -------------------------------------------------------------------------------------
install -d -m 0755 "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/graph-relay" \
  "$root/usr/share/doc/$package/docs" "$root/usr/share/doc/$package/examples" \
  "$root/usr/share/lintian/overrides" "$root/DEBIAN"

install -m 0755 "$binary" "$root/usr/bin/graph-relay"
# As dh_strip does: symbols and .comment/.note go, the GNU build id stays.
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root/usr/bin/graph-relay"
chmod 0755 "$root/usr/bin/graph-relay"

sed 's|/usr/local/bin/|/usr/bin/|g' deploy/graph-relay.service > "$root/lib/systemd/system/graph-relay.service"
chmod 0644 "$root/lib/systemd/system/graph-relay.service"
if grep -q '/usr/local' "$root/lib/systemd/system/graph-relay.service"; then
  die "the unit still names /usr/local after the rewrite"
fi

# 0640 from the start: the configuration will hold the deployment's settings (and possibly
# secrets). postinst adds the group graph-relay, which does not exist when dpkg unpacks this.
install -m 0640 deploy/graph-relay.example.yaml "$root/etc/graph-relay/graph-relay.yaml"

doc="$root/usr/share/doc/$package"
install -m 0644 README.md "$doc/README.md"
install -m 0644 docs/*.md "$doc/docs/"
install -m 0644 deploy/graph-relay.example.yaml "$doc/examples/graph-relay.example.yaml"
for extra in deploy/prometheus/graph-relay-rules.yml deploy/grafana/*.json; do
  [ -f "$extra" ] && install -m 0644 "$extra" "$doc/examples/"
done

# Native package (no Debian revision): the changelog is changelog.gz (lintian:
# wrong-name-for-changelog-of-native-package for changelog.Debian.gz).
{
  printf '%s (%s) unstable; urgency=medium\n\n' "$package" "$version"
  printf '  * graph-relay %s, built from commit %s.\n' "$version" "$commit"
  [ -z "$dirty" ] || printf '    Built %s.\n' "$dirty"
  printf '    The project history: git log.\n\n'
  printf ' -- %s  %s\n' "$maintainer" "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} > "$work/changelog"
gzip -9n -c "$work/changelog" > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# copyright (DEP-5). graph-relay's own licence is a PLACEHOLDER: the repository has no LICENSE
# file. The binary also carries the Swift packages it is built from (Package.resolved, checked
# out in .build/checkouts), libyaml (inside Yams) and, when the Swift runtime is linked
# statically, the Swift runtime, Foundation and ICU: each gets a paragraph with its licence.
year="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)"
indent() { sed -e 's/[[:space:]]*$//' -e 's/^$/./' -e 's/^/ /'; }  # a DEP-5 text block
uses_apache=""
{
  cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: graph-relay
Upstream-Contact: $maintainer
Comment: PLACEHOLDER. The graph-relay repository has no LICENSE file, so this package
 states no licence for graph-relay itself yet. Replace the licence of the first
 paragraph before the package is distributed outside the organisation.

Files: *
Copyright: $year graph-relay maintainers
License: LicenseRef-graph-relay-unspecified
 PLACEHOLDER: no licence has been stated for graph-relay (the repository has no
 LICENSE file).
EOF
  for checkout in .build/checkouts/*/; do
    [ -d "$checkout" ] || continue
    name="$(basename "$checkout")"
    license_file=""
    for candidate in "$checkout"{LICENSE,LICENSE.txt,LICENSE.md,LICENCE,COPYING}; do
      if [ -f "$candidate" ]; then license_file="$candidate"; break; fi
    done
    [ -n "$license_file" ] || { note "warning: no licence file in $checkout"; continue; }
    holders="$( { cat "$license_file" "$checkout"NOTICE* 2>/dev/null || true; } \
      | sed -n 's/^[[:space:]]*Copyright[[:space:]]*\((c)\|(C)\|©\)\{0,1\}[[:space:]]*\([0-9].*\)$/\2/p' | sort -u | head -n 5)"
    [ -n "$holders" ] || holders="the $name authors"
    printf '\nFiles: swift-packages/%s/*\nCopyright: %s\n' "$name" "$(printf '%s\n' "$holders" | sed '2,$s/^/ /')"
    if grep -q 'Apache License' "$license_file" && grep -q 'Version 2.0' "$license_file"; then
      uses_apache=yes
      echo 'License: Apache-2.0'
      if grep -q 'Runtime Library Exception' "$license_file"; then
        echo 'Comment: with the Swift Runtime Library Exception (see its LICENSE.txt).'
      fi
    elif grep -q 'Permission is hereby granted, free of charge' "$license_file"; then
      echo 'License: Expat'
      sed -n '/Permission is hereby granted/,$p' "$license_file" | indent
    else
      die "cannot tell the licence of $license_file: add it to scripts/make-deb.sh"
    fi
    if [ "$name" = Yams ]; then
      cat <<'EOF'

Files: swift-packages/Yams/Sources/CYaml/*
Copyright: 2006-2020 Kirill Simonov <xi@resolvent.net>
Comment: libyaml, embedded in Yams.
License: Expat
EOF
      sed -n '/Permission is hereby granted/,$p' "$license_file" | indent
    fi
  done
  if ! grep -q 'NEEDED.*libswiftCore' <<< "$(objdump -p "$binary")"; then
    uses_apache=yes
    cat <<EOF

Files: swift-runtime/*
Copyright: 2014-$year Apple Inc. and the Swift project authors
Comment: The Swift standard library, Concurrency, Dispatch and Foundation, linked into the
 binary statically (--static-swift-stdlib).
License: Apache-2.0
Comment: with the Swift Runtime Library Exception: "if you use this Software to compile your
 source code and portions of this Software are embedded into the binary product as a result,
 you may redistribute such product without providing attribution as would otherwise be
 required by Sections 4(a), 4(b) and 4(d) of the License."

Files: swift-runtime/icu/*
Copyright: 2016 and later Unicode, Inc. and others
Comment: ICU, inside Foundation (FoundationInternationalization). TO CHECK before
 distribution: the exact licence text of the toolchain's ICU (swift-foundation-icu);
 see https://www.unicode.org/copyright.html.
License: LicenseRef-ICU
 License & terms of use: https://www.unicode.org/copyright.html
EOF
  fi
  if [ -n "$uses_apache" ]; then
    cat <<'EOF'

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0 can
 be found in "/usr/share/common-licenses/Apache-2.0".
EOF
  fi
} > "$doc/copyright"
chmod 0644 "$doc/copyright"

# A manual page, made from the binary's own description of its commands (swift-argument-parser's
# --experimental-dump-help). Without one, lintian warns no-manual-page.
if "$binary" --experimental-dump-help > "$work/help.json" 2>/dev/null \
  && python3 - "$work/help.json" "$version" "$SOURCE_DATE_EPOCH" > "$work/graph-relay.1" <<'PY'
import json, sys, time
tree = json.load(open(sys.argv[1]))["command"]
version, epoch = sys.argv[2], int(sys.argv[3])

def esc(text):
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + l) if l[:1] in (".", "'") else l for l in text.split("\n"))

def name_of(n):
    return ("-" if n["kind"] == "short" else "--") + n["name"]

def usage(cmd, path):
    parts = [path]
    for a in cmd.get("arguments", []):
        if not a.get("shouldDisplay", True) or a.get("valueName") in ("help", "version"):
            continue
        if a["kind"] == "positional":
            word = "<%s>" % a["valueName"]
        else:
            word = name_of(a["preferredName"])
            if a["kind"] == "option":
                word += " <%s>" % a["valueName"]
        parts.append(word if not a.get("isOptional") else "[" + word + "]")
    return " ".join(parts)

out = ['.TH GRAPH\\-RELAY 1 "%s" "graph\\-relay %s" "User Commands"'
       % (time.strftime("%Y-%m-%d", time.gmtime(epoch)), esc(version)),
       ".SH NAME", "graph\\-relay \\- " + esc(tree.get("abstract", "").rstrip(".")),
       ".SH SYNOPSIS", ".B graph\\-relay", ".I subcommand", "[options]",
       ".SH DESCRIPTION", esc(tree.get("discussion", "")).replace("\n", "\n.PP\n"),
       ".PP",
       "Configuration: /etc/graph\\-relay/graph\\-relay.yaml; every key is described in",
       "/usr/share/doc/graph\\-relay/docs/configuration.md.",
       ".SH COMMANDS"]

def walk(cmd, path):
    for sub in cmd.get("subcommands", []):
        if sub["commandName"] == "help" or not sub.get("shouldDisplay", True):
            continue
        full = path + " " + sub["commandName"]
        out.append(".SS " + esc(full))
        out.append(".B " + esc(usage(sub, full)))
        out.append(".PP")
        out.append(esc(sub.get("abstract", "")))
        if sub.get("discussion"):
            out.append(".PP")
            out.append(esc(sub["discussion"]).replace("\n", "\n.br\n"))
        for a in sub.get("arguments", []):
            if not a.get("shouldDisplay", True) or a.get("valueName") in ("help", "version"):
                continue
            out.append(".TP")
            if a["kind"] == "positional":
                out.append(".I " + esc(a["valueName"]))
            else:
                names = ", ".join(esc(name_of(n)) for n in a["names"])
                out.append(".B " + names + (" \\fI%s\\fR" % esc(a["valueName"]) if a["kind"] == "option" else ""))
            out.append(esc(a.get("abstract", "")) or ".")
        walk(sub, full)

walk(tree, "graph-relay")
out += [".SH OPTIONS", ".TP", ".B \\-\\-version", "Show the version.", ".TP",
        ".B \\-h, \\-\\-help", "Show help information.",
        ".SH FILES", ".TP", ".I /etc/graph\\-relay/graph\\-relay.yaml", "The configuration.",
        ".TP", ".I /var/spool/graph\\-relay", "The durable queue (spool).",
        ".TP", ".I /lib/systemd/system/graph\\-relay.service", "The systemd unit.",
        ".SH SEE ALSO", "/usr/share/doc/graph\\-relay/README.md and /usr/share/doc/graph\\-relay/docs/."]
print("\n".join(out))
PY
then
  install -d -m 0755 "$root/usr/share/man/man1"
  gzip -9n -c "$work/graph-relay.1" > "$root/usr/share/man/man1/graph-relay.1.gz"
  chmod 0644 "$root/usr/share/man/man1/graph-relay.1.gz"
else
  note "warning: no manual page (the binary has no --experimental-dump-help, or python3 failed)"
fi

cat > "$root/usr/share/lintian/overrides/$package" <<'EOF'
# The configuration is staged 0640 (root:root) on purpose: postinst gives it the group
# graph-relay, so that the service (and not every user) can read it.
graph-relay: non-standard-file-perm 0640 != 0644 [etc/graph-relay/graph-relay.yaml]
# libyaml is compiled into the binary by the Yams Swift package (Sources/CYaml), which has no
# option to use the system's libyaml; its licence is in the copyright file.
graph-relay: embedded-library libyaml [usr/bin/graph-relay]
EOF
chmod 0644 "$root/usr/share/lintian/overrides/$package"

# ---- Depends -----------------------------------------------------------------------------------
# Every library the binary needs must come from a Debian package; dpkg-shlibdeps alone only warns
# about the others (the Swift runtime in /opt/swift) and leaves them out of Depends.
unpackaged=()
ldd_out="$(ldd "$binary" 2>/dev/null || true)"
while read -r soname; do
  path="$(awk -v n="$soname" '$1 == n && $2 == "=>" { print $3; exit }' <<< "$ldd_out")"
  if [ -z "$path" ] || [ "$path" = not ]; then
    case "$soname" in ld-linux*|ld64*) continue ;; esac  # the loader: libc6
    unpackaged+=("$soname (not found)")
    continue
  fi
  owned=""
  for candidate in "$path" "$(realpath -e "$path" 2>/dev/null || true)" "${path/#\/lib\//\/usr\/lib\/}"; do
    [ -n "$candidate" ] && dpkg -S "$candidate" >/dev/null 2>&1 && { owned=yes; break; }
  done
  [ -n "$owned" ] || unpackaged+=("$soname ($path)")
done < <(objdump -p "$binary" | awk '$1 == "NEEDED" { print $2 }')
if [ ${#unpackaged[@]} -gt 0 ]; then
  message="the binary needs libraries no Debian package provides: ${unpackaged[*]}"
  if [ "${GRAPH_RELAY_DEB_ALLOW_UNPACKAGED_LIBS:-}" = 1 ]; then
    note "WARNING: $message; building anyway (GRAPH_RELAY_DEB_ALLOW_UNPACKAGED_LIBS=1): this package will not run without them"
  else
    die "$message. Link the Swift runtime statically (make release: swift build -c release --static-swift-stdlib), or set GRAPH_RELAY_DEB_ALLOW_UNPACKAGED_LIBS=1 to build a test package anyway"
  fi
fi

# dpkg-shlibdeps wants a source tree with debian/control, and the binary inside the package tree.
mkdir -p "$work/src/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$package" "$package" > "$work/src/debian/control"
shlibdeps="$(cd "$work/src" && dpkg-shlibdeps -O --ignore-missing-info \
  "$root/usr/bin/graph-relay" 2>"$work/shlibdeps.log")" || { cat "$work/shlibdeps.log" >&2; die "dpkg-shlibdeps failed"; }
# shellcheck disable=SC2016  # a literal $ORIGIN
grep -v -e "can't extract name and version from library name" \
        -e 'binaries to analyze should already be installed' \
        -e '\$ORIGIN is used in RPATH' "$work/shlibdeps.log" | sed 's/^/make-deb: /' >&2 || true
shlibdeps="${shlibdeps#shlibs:Depends=}"
[ -n "$shlibdeps" ] || die "dpkg-shlibdeps found no dependencies"
# adduser: postinst creates the system user. ca-certificates: Entra ID and Graph are verified
# against the system trust store (unless every application sets caFile).
depends="$shlibdeps, adduser, ca-certificates"

# ---- control files ------------------------------------------------------------------------------
echo /etc/graph-relay/graph-relay.yaml > "$root/DEBIAN/conffiles"

cat > "$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# postinst for graph-relay: the system user, the spool, the configuration's group, systemd.
set -e

conf=/etc/graph-relay/graph-relay.yaml
spool=/var/spool/graph-relay

if [ "$1" = configure ]; then
    # The system user and group: no shell, no password, home = the spool.
    # (The unit sets Group=graph-relay, so an existing user keeps whatever groups it has.)
    if ! getent group graph-relay >/dev/null; then
        addgroup --system --quiet graph-relay
    fi
    if ! getent passwd graph-relay >/dev/null; then
        adduser --system --quiet --ingroup graph-relay --home "$spool" --no-create-home \
            --shell /usr/sbin/nologin --gecos 'graph-relay SMTP relay' graph-relay
    fi

    # The spool: created once; an existing one (queued mail, an admin's choices) is left alone.
    if [ ! -e "$spool" ] && [ ! -L "$spool" ]; then
        install -d -m 0700 -o graph-relay -g graph-relay "$spool"
    fi

    # The configuration: root:graph-relay 0640, applied only while the file is exactly as dpkg
    # unpacked it (root:root 0640; on first install, or when an upgrade replaced an unmodified
    # conffile), and never when dpkg-statoverride manages it: an admin's owner or mode stay.
    if [ -f "$conf" ] && [ ! -L "$conf" ] \
        && ! dpkg-statoverride --list "$conf" >/dev/null 2>&1 \
        && [ "$(stat -c '%U:%G %a' "$conf")" = 'root:root 640' ]; then
        chgrp graph-relay "$conf" && chmod 0640 "$conf"
    fi
fi

# systemd: as dh_installsystemd --no-enable --no-start does. The service is neither enabled nor
# started: the configuration must be edited first. On upgrade a running relay is restarted.
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
    if command -v deb-systemd-helper >/dev/null 2>&1; then
        if deb-systemd-helper debian-installed graph-relay.service; then
            if deb-systemd-helper --quiet was-enabled graph-relay.service; then
                deb-systemd-helper enable graph-relay.service >/dev/null || true
            fi
        fi
        deb-systemd-helper update-state graph-relay.service >/dev/null || true
    fi
    if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        if [ -n "$2" ]; then
            deb-systemd-invoke try-restart graph-relay.service >/dev/null || true
        fi
    fi
fi

if [ "$1" = configure ] && [ -z "$2" ]; then
    cat <<'MSG'
graph-relay is installed but not started. Edit /etc/graph-relay/graph-relay.yaml (every key:
/usr/share/doc/graph-relay/docs/configuration.md), put the certificate and key it names in place,
set the secrets (/etc/graph-relay/environment or LoadCredential, see the unit), then:
  check:  graph-relay check-config --config /etc/graph-relay/graph-relay.yaml
  start:  systemctl enable --now graph-relay
MSG
fi

exit 0
EOF

cat > "$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
# prerm for graph-relay: stop the relay on removal (SIGTERM: open sessions finish; queued mail
# stays in the spool). On upgrade it keeps running and postinst restarts it.
set -e

if [ -z "${DPKG_ROOT:-}" ] && [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    deb-systemd-invoke stop graph-relay.service >/dev/null || true
fi

exit 0
EOF

cat > "$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
# postrm for graph-relay.
#
# purge removes the unit's enablement state and the spool, but only when the spool holds no
# message: anything in queue/, failed/ or corrupt/ (accepted mail not yet delivered, or given up
# on) keeps the whole directory, with a message. Only the spool's own bookkeeping (server.lock,
# kick, attempts.log, locks/, and tmp/: zero-length spares and unfinished receptions) is removed.
#
# The user and group graph-relay are kept, as Debian recommends for system accounts: files an
# admin gave that group (certificates, secrets in /etc/graph-relay) outlive the package, and a
# deleted gid could be reused by another account. Remove them by hand if wanted:
#     deluser --system graph-relay; delgroup --system graph-relay
set -e

spool=/var/spool/graph-relay

if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi

if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null 2>&1; then
    deb-systemd-helper mask graph-relay.service >/dev/null || true
fi

if [ "$1" = purge ]; then
    if command -v deb-systemd-helper >/dev/null 2>&1; then
        deb-systemd-helper purge graph-relay.service >/dev/null || true
        deb-systemd-helper unmask graph-relay.service >/dev/null || true
    fi

    if [ -d "$spool" ] && [ ! -L "$spool" ]; then
        if [ -n "$(find "$spool/queue" "$spool/failed" "$spool/corrupt" -mindepth 1 -print -quit 2>/dev/null)" ]; then
            echo "graph-relay: $spool still holds messages (queue/, failed/ or corrupt/): kept." >&2
            echo "graph-relay: inspect them, then remove the directory by hand." >&2
        else
            rm -f "$spool/server.lock" "$spool/kick" "$spool/attempts.log"
            for dir in "$spool/locks" "$spool/tmp"; do
                if [ -d "$dir" ] && [ ! -L "$dir" ]; then
                    find "$dir" -mindepth 1 -maxdepth 1 -type f -delete || true
                fi
            done
            for dir in queue failed corrupt locks tmp; do
                rmdir "$spool/$dir" 2>/dev/null || true
            done
            if ! rmdir "$spool" 2>/dev/null; then
                echo "graph-relay: $spool holds files graph-relay did not create: kept." >&2
            fi
        fi
    fi
fi

exit 0
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
chmod 0644 "$root/DEBIAN/conffiles"

# md5sums of every file but the conffiles (as dh_md5sums).
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort \
  | grep -v -x -F -f <(sed 's|^/||' DEBIAN/conffiles) | xargs -r -d '\n' md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

# Installed-Size as dpkg-gencontrol counts it: KiB per file rounded up, 1 per directory or link.
installed_size="$(cd "$root" && find . -path ./DEBIAN -prune -o -mindepth 1 -printf '%y %s\n' \
  | awk '{ if ($1 == "f") n += int(($2 + 1023) / 1024); else n += 1 } END { print n + 0 }')"

cat > "$root/DEBIAN/control" <<EOF
Package: $package
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $depends
Section: mail
Priority: optional
Description: SMTP-to-Microsoft-Graph relay gateway
 graph-relay lets printers, scanners, network appliances and on-premises
 applications that can only send mail over SMTP keep doing so after
 Exchange Online's Basic-auth SMTP is switched off. It accepts each message
 over SMTP (STARTTLS or implicit TLS, optional AUTH, trusted networks) and
 submits it unchanged to Microsoft Graph sendMail, choosing the Entra ID
 application and the mailbox per sender. Large messages go through drafts
 and upload sessions; a durable on-disk queue retries through throttling
 and outages.
 .
 The package installs the systemd unit but neither enables nor starts it:
 edit /etc/graph-relay/graph-relay.yaml first.
EOF
chmod 0644 "$root/DEBIAN/control"

# Reproducible timestamps.
find "$root" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb="$outdir/${package}_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
note "built $deb (Installed-Size $installed_size KiB; Depends: $depends)"
echo "$deb"
