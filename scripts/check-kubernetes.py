#!/usr/bin/env python3
"""make test: the Kubernetes manifests in deploy/kubernetes agree with each other and with the
relay configuration they ship, and that configuration passes the real `graph-relay check-config`.

    check-kubernetes.py [--root DIR] BINARY

DIR is the kustomize base (default: deploy/kubernetes of this repository); BINARY the
graph-relay executable. Every YAML document under DIR (the PROXY-protocol example and the
monitoring component included) is parsed. Checked:

- every document has apiVersion, kind and metadata.name; every kustomization's resources and
  components exist, and every manifest beside the base kustomization is listed in it or is an
  `*.example.yaml`;
- the configuration (the ConfigMap key graph-relay.yaml): admin.address is reachable from the
  kubelet (not loopback, not `none`);
- the StatefulSet: liveness, readiness (and startup) probes are HTTP GETs of /healthz and
  /readyz on a container port (by name or number) whose number is admin.address's port;
  terminationGracePeriodSeconds exceeds smtp.drainTimeout (30 s when absent; `serve
  --shutdown-grace N` overrides it); the security context (runAsNonRoot, runAsUser and
  runAsGroup 10025, fsGroup 10025, readOnlyRootFilesystem, allowPrivilegeEscalation false,
  capabilities drop ALL, seccompProfile RuntimeDefault); the --config file, the TLS files and the
  spool directory come from the ConfigMap, a Secret key and a volumeClaimTemplate; the Secret and
  ConfigMap volumes are not readable by every user; every `{ env: NAME }` of the configuration is
  set from an existing Secret key; workload identity has its pod label and ServiceAccount
  annotation;
- Services: every targetPort resolves to a container port; a LoadBalancer/NodePort Service's
  target ports are exactly the configuration's listener ports; the StatefulSet's serviceName is a
  headless Service; the PodDisruptionBudget selects the pods;
- ServiceMonitor: its endpoint is the admin port's /metrics, with the Secret key that
  admin.bearerToken reads;
- finally the configuration is written to a temporary directory, its TLS files replaced by a
  fresh self-signed pair (key mode 0600), every variable it reads set to a dummy value (and the
  AZURE_* variables the workload identity webhook injects), and `BINARY check-config` must accept it.

Exit status 1 naming each problem.
"""

import argparse
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BASE = os.path.join(ROOT, "deploy", "kubernetes")
CONFIG_KEY = "graph-relay.yaml"
IMAGE_CONFIG_PATH = "/etc/graph-relay/graph-relay.yaml"  # the Dockerfile's CMD
DEFAULT_DRAIN_SECONDS = 30.0
DEFAULT_ADMIN_ADDRESS = "127.0.0.1:9025"
DEFAULT_SPOOL = "/var/spool/graph-relay"
RELAY_ID = 10025
WORKLOAD_IDENTITY_VARIABLES = {"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST"}


class Problems:
    def __init__(self):
        self.items = []

    def add(self, where, text):
        self.items.append(f"{where}: {text}")


# ---------------------------------------------------------------------------------------- loading

def load_documents(base, problems):
    """Every YAML document under base: a list of (relative path, document)."""
    documents = []
    for directory, subdirectories, files in os.walk(base):
        subdirectories.sort()
        for name in sorted(files):
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, base)
            try:
                with open(path, encoding="utf-8") as handle:
                    loaded = list(yaml.safe_load_all(handle))
            except yaml.YAMLError as error:
                problems.add(relative, f"not valid YAML: {error}")
                continue
            for document in loaded:
                if document is None:
                    continue
                if not isinstance(document, dict):
                    problems.add(relative, "a document that is not a mapping")
                    continue
                documents.append((relative, document))
    return documents


def check_identity(documents, problems):
    for relative, document in documents:
        kind = document.get("kind")
        name = (document.get("metadata") or {}).get("name") if isinstance(document.get("metadata"), dict) else None
        for key, value in (("apiVersion", document.get("apiVersion")), ("kind", kind), ("metadata.name", name)):
            if not isinstance(value, str) or not value:
                problems.add(f"{relative} ({kind or '?'})", f"missing {key}")


def check_kustomizations(base, documents, problems):
    for relative, document in documents:
        if document.get("kind") not in ("Kustomization", "Component"):
            continue
        directory = os.path.join(base, os.path.dirname(relative))
        listed = set()
        for field in ("resources", "components"):
            for entry in document.get(field) or []:
                if not isinstance(entry, str):
                    problems.add(relative, f"{field}: entry {entry!r} is not a path")
                    continue
                if "://" in entry or entry.startswith(("github.com/", "git@")):
                    continue
                target = os.path.normpath(os.path.join(directory, entry))
                if not os.path.exists(target):
                    problems.add(relative, f"{field}: '{entry}' does not exist")
                listed.add(target)
        if document.get("kind") == "Kustomization" and os.path.dirname(relative) == "":
            for name in sorted(os.listdir(directory)):
                path = os.path.normpath(os.path.join(directory, name))
                if (name.endswith((".yaml", ".yml")) and not name.startswith("kustomization.")
                        and ".example." not in name and path not in listed):
                    problems.add(relative, f"'{name}' is neither listed in resources nor named *.example.yaml")


def find(documents, kind, name=None):
    return [(relative, document) for relative, document in documents
            if document.get("kind") == kind and (name is None or (document.get("metadata") or {}).get("name") == name)]


# ------------------------------------------------------------------------------- the configuration

def parse_port(address):
    """The port of `host:port` / `[v6]:port`, or None."""
    if not isinstance(address, str):
        return None
    match = re.fullmatch(r"(\[[^\]]*\]|[^:\[\]]*):(\d{1,5})", address.strip())
    return int(match.group(2)) if match else None


def parse_host(address):
    match = re.fullmatch(r"\[?([^\]]*?)\]?:(\d{1,5})", address.strip())
    return match.group(1) if match else None


def parse_duration(text):
    """Seconds of a graph-relay duration (`30s`, `1m30s`, `0.5s`, `0`), or None."""
    if isinstance(text, bool) or text is None:
        return None
    text = str(text).strip()
    if text == "0":
        return 0.0
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * units[unit] for number, unit in parts)


def env_names(value, found):
    """Every NAME of `{ env: NAME }` in the configuration."""
    if isinstance(value, dict):
        if set(value) == {"env"} and isinstance(value["env"], str):
            found.add(value["env"])
        for item in value.values():
            env_names(item, found)
    elif isinstance(value, list):
        for item in value:
            env_names(item, found)
    return found


def pem_paths(value, path, found):
    """(key path, file path) of every certificate, privateKey and caFile given as a path."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if key in ("certificate", "privateKey", "caFile") and isinstance(item, str) and not item.startswith("-----BEGIN"):
                found.append((here, key, item))
            else:
                pem_paths(item, here, found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            pem_paths(item, f"{path}[{index}]", found)
    return found


def file_secrets(value, found):
    if isinstance(value, dict):
        if set(value) == {"file"} and isinstance(value["file"], str):
            found.add(value["file"])
        for item in value.values():
            file_secrets(item, found)
    elif isinstance(value, list):
        for item in value:
            file_secrets(item, found)
    return found


# ------------------------------------------------------------------------------------ the workload

def container_port(container, reference):
    """The number a probe's or Service's port (name or number) resolves to in the container."""
    for port in container.get("ports") or []:
        if isinstance(reference, int) and not isinstance(reference, bool) and port.get("containerPort") == reference:
            return reference
        if isinstance(reference, str) and port.get("name") == reference:
            return port.get("containerPort")
    if isinstance(reference, str) and reference.isdigit():
        return container_port(container, int(reference))
    return None


def effective(pod_context, container_context, key):
    if key in container_context:
        return container_context[key]
    return pod_context.get(key)


def check_security_context(where, pod, container, problems):
    pod_context = pod.get("securityContext") or {}
    context = container.get("securityContext") or {}
    name = container.get("name", "?")
    if effective(pod_context, context, "runAsNonRoot") is not True:
        problems.add(where, f"container {name}: securityContext.runAsNonRoot must be true")
    for key in ("runAsUser", "runAsGroup"):
        if effective(pod_context, context, key) != RELAY_ID:
            problems.add(where, f"container {name}: securityContext.{key} must be {RELAY_ID} (the image's graph-relay user)")
    if pod_context.get("fsGroup") != RELAY_ID:
        problems.add(where, f"pod securityContext.fsGroup must be {RELAY_ID} (group of the spool volume and of the mounted files)")
    if context.get("readOnlyRootFilesystem") is not True:
        problems.add(where, f"container {name}: securityContext.readOnlyRootFilesystem must be true")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.add(where, f"container {name}: securityContext.allowPrivilegeEscalation must be false")
    if context.get("privileged") is True:
        problems.add(where, f"container {name}: securityContext.privileged must not be true")
    drop = ((context.get("capabilities") or {}).get("drop")) or []
    if "ALL" not in drop:
        problems.add(where, f"container {name}: securityContext.capabilities.drop must contain ALL")
    if ((context.get("capabilities") or {}).get("add")):
        problems.add(where, f"container {name}: securityContext.capabilities.add must be empty (the ports are unprivileged)")
    seccomp = effective(pod_context, context, "seccompProfile") or {}
    if seccomp.get("type") != "RuntimeDefault":
        problems.add(where, f"container {name}: seccompProfile.type must be RuntimeDefault")


def resolve_mounted_file(pod, container, path):
    """(volume, key) for a file path under one of the container's ConfigMap or Secret mounts."""
    volumes = {volume.get("name"): volume for volume in pod.get("volumes") or []}
    best = None
    for mount in container.get("volumeMounts") or []:
        mount_path = (mount.get("mountPath") or "").rstrip("/")
        if mount.get("subPath"):
            if path == mount_path:
                best = (mount, mount["subPath"])
            continue
        if path.startswith(mount_path + "/") and (best is None or len(mount_path) > len(best[0].get("mountPath", ""))):
            best = (mount, path[len(mount_path) + 1:])
    if best is None:
        return None, None
    mount, relative = best
    volume = volumes.get(mount.get("name"))
    if volume is None:
        return None, None
    source = volume.get("configMap") or volume.get("secret")
    if source is None:
        return volume, None
    items = source.get("items")
    if items:
        for item in items:
            if item.get("path") == relative:
                return volume, item.get("key")
        return volume, None
    return volume, relative


def secret_keys(documents, name):
    keys = set()
    for _, secret in find(documents, "Secret", name):
        keys |= set((secret.get("data") or {}).keys()) | set((secret.get("stringData") or {}).keys())
    return keys


def selects(selector, labels):
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


# --------------------------------------------------------------------------------------- the checks

def check_workload(documents, problems):
    """Returns what check-config needs: (configuration text, configuration, statefulset info)."""
    configmaps = [(relative, document) for relative, document in find(documents, "ConfigMap")
                  if CONFIG_KEY in (document.get("data") or {})]
    if len(configmaps) != 1:
        problems.add("ConfigMap", f"expected exactly one ConfigMap with the key {CONFIG_KEY}, found {len(configmaps)}")
        return None
    configmap_file, configmap = configmaps[0]
    text = configmap["data"][CONFIG_KEY]
    try:
        configuration = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        problems.add(configmap_file, f"{CONFIG_KEY} is not valid YAML: {error}")
        return None
    if not isinstance(configuration, dict):
        problems.add(configmap_file, f"{CONFIG_KEY} is not a mapping")
        return None
    where_config = f"{configmap_file} ({CONFIG_KEY})"

    smtp = configuration.get("smtp") or {}
    listener_ports = []
    for index, listener in enumerate(smtp.get("listeners") or []):
        port = parse_port((listener or {}).get("address"))
        if port is None:
            problems.add(where_config, f"smtp.listeners[{index}].address is not host:port")
        else:
            listener_ports.append(port)
    if not listener_ports:
        problems.add(where_config, "smtp.listeners: none (the Services need explicit listener ports)")
    admin_address = (configuration.get("admin") or {}).get("address", DEFAULT_ADMIN_ADDRESS)
    admin_port = parse_port(admin_address)
    if admin_port is None:
        problems.add(where_config, f"admin.address '{admin_address}' is not host:port: the probes need the admin listener")
    else:
        host = parse_host(admin_address)
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            problems.add(where_config, f"admin.address '{admin_address}' is loopback: the kubelet's probes cannot reach it (use 0.0.0.0:{admin_port})")
    drain = smtp.get("drainTimeout")
    drain_seconds = DEFAULT_DRAIN_SECONDS if drain is None else parse_duration(drain)
    if drain_seconds is None:
        problems.add(where_config, f"smtp.drainTimeout '{drain}' is not a duration")
    spool = (configuration.get("spool") or {}).get("directory", DEFAULT_SPOOL)
    workload_identity = any(isinstance(app, dict) and app.get("workloadIdentity") not in (None, False)
                            for app in configuration.get("applications") or [])

    statefulsets = find(documents, "StatefulSet")
    if len(statefulsets) != 1:
        problems.add("StatefulSet", f"expected exactly one StatefulSet, found {len(statefulsets)}")
        return text, configuration, None
    where, statefulset = statefulsets[0]
    where = f"{where} (StatefulSet {statefulset['metadata'].get('name')})"
    spec = statefulset.get("spec") or {}
    template = spec.get("template") or {}
    pod = template.get("spec") or {}
    pod_labels = (template.get("metadata") or {}).get("labels") or {}
    containers = pod.get("containers") or []
    if not containers:
        problems.add(where, "no containers")
        return text, configuration, None
    container = next((c for c in containers if c.get("name") == "graph-relay"), containers[0])
    if not selects((spec.get("selector") or {}).get("matchLabels"), pod_labels):
        problems.add(where, "spec.selector.matchLabels does not match the pod template's labels")

    # Probes.
    for probe_key, paths in (("livenessProbe", ("/healthz",)), ("readinessProbe", ("/readyz",)),
                             ("startupProbe", ("/healthz", "/readyz"))):
        probe = container.get(probe_key)
        if probe is None:
            if probe_key != "startupProbe":
                problems.add(where, f"{probe_key}: missing")
            continue
        get = probe.get("httpGet")
        if not isinstance(get, dict):
            problems.add(where, f"{probe_key}: not an httpGet probe")
            continue
        if get.get("path") not in paths:
            problems.add(where, f"{probe_key}.httpGet.path is '{get.get('path')}', expected {' or '.join(paths)}")
        number = container_port(container, get.get("port"))
        if number is None:
            problems.add(where, f"{probe_key}.httpGet.port '{get.get('port')}' is not a port of container {container.get('name')}")
        elif admin_port is not None and number != admin_port:
            problems.add(where, f"{probe_key}.httpGet.port '{get.get('port')}' is {number}, but admin.address listens on {admin_port}")
        if get.get("scheme", "HTTP") != "HTTP":
            problems.add(where, f"{probe_key}.httpGet.scheme must be HTTP (the admin listener is plain HTTP)")

    # Draining.
    arguments = [str(argument) for argument in (container.get("args") or [])]
    if "--shutdown-grace" in arguments[:-1]:
        try:
            drain_seconds = float(arguments[arguments.index("--shutdown-grace") + 1])
        except ValueError:
            problems.add(where, "--shutdown-grace is not a number of seconds")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if drain_seconds is not None and not (isinstance(grace, int) and grace > drain_seconds):
        problems.add(where, f"terminationGracePeriodSeconds ({grace}) must exceed smtp.drainTimeout ({drain_seconds:g} s): "
                            "the kubelet would kill sessions still finishing their transaction")

    for each in containers + (pod.get("initContainers") or []):
        check_security_context(where, pod, each, problems)

    # Files: configuration, TLS, spool.
    config_path = IMAGE_CONFIG_PATH
    if "--config" in arguments[:-1]:
        config_path = arguments[arguments.index("--config") + 1]
    volume, key = resolve_mounted_file(pod, container, config_path)
    configmap_name = configmap["metadata"].get("name")
    if volume is None or (volume.get("configMap") or {}).get("name") != configmap_name or key != CONFIG_KEY:
        problems.add(where, f"--config {config_path} is not the key {CONFIG_KEY} of the ConfigMap {configmap_name} mounted in the container")
    elif ((volume["configMap"].get("defaultMode", 0o644)) & 0o004):
        problems.add(where, f"volume {volume.get('name')}: defaultMode {volume['configMap'].get('defaultMode', 0o644):#o} lets every user read the configuration (check-config warns; use 0440 with fsGroup)")
    for key_path, kind, path in pem_paths(configuration, "", []):
        if not path.startswith("/"):
            continue
        volume, key = resolve_mounted_file(pod, container, path)
        secret = (volume or {}).get("secret")
        if secret is None:
            if kind == "privateKey":
                problems.add(where, f"{key_path} '{path}' is not a file of a mounted Secret")
            continue
        if key not in secret_keys(documents, secret.get("secretName")):
            problems.add(where, f"{key_path} '{path}': the Secret {secret.get('secretName')} has no key '{key}'")
        mode = secret.get("defaultMode", 0o644)
        if kind == "privateKey" and mode & 0o004:
            problems.add(where, f"volume {volume.get('name')}: defaultMode {mode:#o} lets every user read {key_path} (check-config refuses it; use 0440 with fsGroup {RELAY_ID})")
    claims = {(template_claim.get("metadata") or {}).get("name") for template_claim in spec.get("volumeClaimTemplates") or []}
    spool_mount = next((mount for mount in container.get("volumeMounts") or []
                        if (mount.get("mountPath") or "").rstrip("/") == str(spool).rstrip("/")), None)
    if spool_mount is None or spool_mount.get("name") not in claims:
        problems.add(where, f"spool.directory {spool} is not the mount of a volumeClaimTemplate (each instance needs its own persistent spool)")
    elif spool_mount.get("readOnly"):
        problems.add(where, f"spool.directory {spool} is mounted read-only")

    # Environment: every { env: NAME } set, from an existing Secret key when from a Secret.
    environment = {variable.get("name"): variable for variable in container.get("env") or []}
    needed = env_names(configuration, set())
    for name in sorted(needed):
        if workload_identity and name in WORKLOAD_IDENTITY_VARIABLES:
            continue
        variable = environment.get(name)
        if variable is None:
            problems.add(where, f"the configuration reads {{ env: {name} }} but container {container.get('name')} does not set {name}")
            continue
        reference = (variable.get("valueFrom") or {}).get("secretKeyRef")
        if reference and reference.get("key") not in secret_keys(documents, reference.get("name")):
            problems.add(where, f"env {name}: the Secret {reference.get('name')} has no key '{reference.get('key')}'")

    # Workload identity.
    if workload_identity:
        if pod_labels.get("azure.workload.identity/use") != "true":
            problems.add(where, 'workloadIdentity needs the pod label azure.workload.identity/use: "true"')
        account = pod.get("serviceAccountName")
        accounts = find(documents, "ServiceAccount", account) if account else []
        if not accounts:
            problems.add(where, f"serviceAccountName '{account}' is not a ServiceAccount of these files")
        elif not ((accounts[0][1].get("metadata") or {}).get("annotations") or {}).get("azure.workload.identity/client-id"):
            problems.add(accounts[0][0], "workloadIdentity needs the annotation azure.workload.identity/client-id")

    # Services.
    headless = set()
    for relative, service in find(documents, "Service"):
        service_where = f"{relative} (Service {service['metadata'].get('name')})"
        service_spec = service.get("spec") or {}
        if not selects(service_spec.get("selector"), pod_labels):
            problems.add(service_where, "spec.selector does not select the StatefulSet's pods")
            continue
        if service_spec.get("clusterIP") == "None":
            headless.add(service["metadata"].get("name"))
        exposed = service_spec.get("type") in ("LoadBalancer", "NodePort")
        targets = []
        for port in service_spec.get("ports") or []:
            reference = port.get("targetPort", port.get("port"))
            number = container_port(container, reference)
            if number is None:
                problems.add(service_where, f"port {port.get('name') or port.get('port')}: targetPort '{reference}' is not a port of container {container.get('name')}")
                continue
            targets.append(number)
            if exposed and number not in listener_ports:
                problems.add(service_where, f"port {port.get('name') or port.get('port')}: targetPort '{reference}' is {number}, not a listener port of the configuration {sorted(listener_ports)}")
            if not exposed and number not in listener_ports and number != admin_port:
                problems.add(service_where, f"port {port.get('name') or port.get('port')}: targetPort {number} is neither a listener nor the admin port")
        if exposed:
            for port in listener_ports:
                if port not in targets:
                    problems.add(service_where, f"the listener port {port} of the configuration is not exposed")
    if spec.get("serviceName") not in headless:
        problems.add(where, f"serviceName '{spec.get('serviceName')}' is not a headless Service selecting the pods")

    for relative, budget in find(documents, "PodDisruptionBudget"):
        if not selects(((budget.get("spec") or {}).get("selector") or {}).get("matchLabels"), pod_labels):
            problems.add(relative, "the PodDisruptionBudget does not select the relay's pods")

    # ServiceMonitor (the optional monitoring component).
    token = (configuration.get("admin") or {}).get("bearerToken")
    token_reference = None
    if isinstance(token, dict) and "env" in token:
        token_reference = ((environment.get(token["env"]) or {}).get("valueFrom") or {}).get("secretKeyRef")
    for relative, monitor in find(documents, "ServiceMonitor"):
        monitor_spec = monitor.get("spec") or {}
        selector = (monitor_spec.get("selector") or {}).get("matchLabels") or {}
        services = [service for _, service in find(documents, "Service")
                    if selects(selector, (service.get("metadata") or {}).get("labels") or {})]
        if not services:
            problems.add(relative, "spec.selector matches no Service")
        for endpoint in monitor_spec.get("endpoints") or []:
            if endpoint.get("path", "/metrics") != "/metrics":
                problems.add(relative, f"endpoint path '{endpoint.get('path')}' is not /metrics")
            for service in services:
                port = next((p for p in (service.get("spec") or {}).get("ports") or [] if p.get("name") == endpoint.get("port")), None)
                number = container_port(container, port.get("targetPort", port.get("port"))) if port else None
                if number != admin_port:
                    problems.add(relative, f"endpoint port '{endpoint.get('port')}' of Service {service['metadata'].get('name')} is not the admin port {admin_port}")
            credentials = ((endpoint.get("authorization") or {}).get("credentials")) or endpoint.get("bearerTokenSecret")
            if token is not None and not credentials:
                problems.add(relative, "admin.bearerToken is set, but the endpoint sends no token (authorization.credentials)")
            elif credentials:
                if credentials.get("key") not in secret_keys(documents, credentials.get("name")):
                    problems.add(relative, f"the Secret {credentials.get('name')} has no key '{credentials.get('key')}'")
                if token_reference and (credentials.get("name"), credentials.get("key")) != (token_reference.get("name"), token_reference.get("key")):
                    problems.add(relative, f"the token comes from {credentials.get('name')}/{credentials.get('key')}, but admin.bearerToken reads {token_reference.get('name')}/{token_reference.get('key')}")
    return text, configuration, workload_identity


# ---------------------------------------------------------------------------------- check-config

def wait_for(binary, seconds=120):
    """The binary may be missing for a moment while it relinks."""
    deadline = time.monotonic() + seconds
    while not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        if time.monotonic() > deadline:
            return False
        time.sleep(2)
    return True


def run_check_config(binary, text, configuration, workload_identity, problems):
    work = tempfile.mkdtemp(prefix="check-kubernetes.")
    try:
        os.chmod(work, 0o700)
        certificate, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
        made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=relay.example",
                               "-days", "2", "-keyout", key, "-out", certificate],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if made.returncode != 0:
            problems.add("check-config", f"openssl could not make a test certificate: {made.stderr.strip()}")
            return
        os.chmod(key, 0o600)
        # Replace each path value (quoted or not, as a whole YAML scalar) by the test pair.
        for _, kind, path in pem_paths(configuration, "", []):
            replacement = key if kind == "privateKey" else certificate
            text = re.sub(r"(?<![\w/.-])" + re.escape(path) + r"(?![\w/.-])", replacement, text)
        for index, path in enumerate(sorted(file_secrets(configuration, set()))):
            dummy = os.path.join(work, f"secret-{index}")
            with open(dummy, "w") as handle:
                handle.write("check-kubernetes\n")
            os.chmod(dummy, 0o600)
            text = re.sub(r"(?<![\w/.-])" + re.escape(path) + r"(?![\w/.-])", dummy, text)
        config = os.path.join(work, CONFIG_KEY)
        with open(config, "w") as handle:
            handle.write(text)
        os.chmod(config, 0o600)
        environment = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
        for name in env_names(configuration, set()):
            environment[name] = "check-kubernetes"
        if workload_identity:
            # What the Azure workload identity webhook injects into the pod.
            token = os.path.join(work, "azure-identity-token")
            with open(token, "w") as handle:
                handle.write("check-kubernetes\n")
            environment.update({
                "AZURE_TENANT_ID": "00000000-0000-0000-0000-000000000001",
                "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000002",
                "AZURE_FEDERATED_TOKEN_FILE": token,
                "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.com/",
            })
        if not wait_for(binary):
            problems.add("check-config", f"{binary} is not an executable file")
            return
        result = subprocess.run([binary, "check-config", "--config", config], env=environment,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = result.stdout.replace(work, "<tmp>").strip()
        if result.returncode != 0:
            problems.add("check-config", f"the ConfigMap's configuration is NOT valid (exit {result.returncode}):\n    "
                         + output.replace("\n", "\n    "))
        else:
            print(f"check-config: {output}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", metavar="BINARY", help="the graph-relay executable (check-config)")
    parser.add_argument("--root", default=DEFAULT_BASE, help="the kustomize base directory (default: deploy/kubernetes)")
    arguments = parser.parse_args(argv)
    base = os.path.abspath(arguments.root)
    problems = Problems()
    if not os.path.isdir(base):
        print(f"check-kubernetes: {base} is not a directory", file=sys.stderr)
        return 1
    documents = load_documents(base, problems)
    check_identity(documents, problems)
    check_kustomizations(base, documents, problems)
    checked = check_workload(documents, problems)
    if checked is not None:
        text, configuration, workload_identity = checked
        run_check_config(arguments.binary, text, configuration, workload_identity, problems)
    name = os.path.relpath(base, ROOT) if base.startswith(ROOT + os.sep) else base
    if problems.items:
        for item in problems.items:
            print(f"check-kubernetes: {item}", file=sys.stderr)
        print(f"check-kubernetes: {name}: {len(problems.items)} problem(s)", file=sys.stderr)
        return 1
    print(f"check-kubernetes: {name}: {len(documents)} documents consistent; the configuration passes check-config")
    return 0


if __name__ == "__main__":
    sys.exit(main())
