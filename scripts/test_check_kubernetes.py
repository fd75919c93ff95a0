#!/usr/bin/env python3
"""Tests of scripts/check-kubernetes.py: it accepts deploy/kubernetes as shipped and refuses
modified copies (a probe on the wrong port, a missing security setting, a grace period below the
drain, a Service that misses a listener, a missing resource, a Secret mode every user can read).

The structural tests give the checker a stand-in for graph-relay that records how it was called,
so they need no build; one test runs the real binary when GRAPH_RELAY_BINARY or
.build/debug/graph-relay exists.

    python3 scripts/test_check_kubernetes.py
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CHECKER = os.path.join(HERE, "check-kubernetes.py")
BASE = os.path.join(ROOT, "deploy", "kubernetes")

FAKE_BINARY = """#!/bin/sh
# Stand-in for graph-relay: records its arguments, environment and the configuration it was given.
record="$(dirname "$0")/record"
printf '%s\\n' "$@" > "$record.args"
env > "$record.env"
config="$3"
cp "$config" "$record.config"
grep -o '/[^ ]*key.pem' "$config" | head -n 1 | while read -r key; do stat -c '%a' "$key" > "$record.keymode"; done
grep -o '/[^ ]*cert.pem' "$config" | head -n 1 | while read -r cert; do head -n 1 "$cert" > "$record.certhead"; done
echo "configuration $config is valid: stand-in"
# The checker gives check-config a clean environment: the exit status comes from a file.
exit "$(cat "$(dirname "$0")/exit-status" 2>/dev/null || echo 0)"
"""


class CheckKubernetesTests(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="test-check-kubernetes.")
        self.base = os.path.join(self.work, "kubernetes")
        shutil.copytree(BASE, self.base)
        self.binary = os.path.join(self.work, "bin", "graph-relay")
        os.makedirs(os.path.dirname(self.binary))
        with open(self.binary, "w") as handle:
            handle.write(FAKE_BINARY)
        os.chmod(self.binary, 0o755)

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    # Helpers -------------------------------------------------------------------------------------

    def run_checker(self, binary=None):
        return subprocess.run([sys.executable, CHECKER, "--root", self.base, binary or self.binary],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)

    def edit(self, name, change):
        """Load every document of a copied file, let change() modify the list, write it back."""
        path = os.path.join(self.base, name)
        with open(path) as handle:
            documents = [d for d in yaml.safe_load_all(handle) if d is not None]
        change(documents)
        with open(path, "w") as handle:
            yaml.safe_dump_all(documents, handle, sort_keys=False)

    def edit_statefulset(self, change):
        self.edit("statefulset.yaml", lambda documents: change(documents[0]))

    @staticmethod
    def container(statefulset):
        return statefulset["spec"]["template"]["spec"]["containers"][0]

    def edit_configuration(self, change):
        def apply(documents):
            configuration = yaml.safe_load(documents[0]["data"]["graph-relay.yaml"])
            change(configuration)
            documents[0]["data"]["graph-relay.yaml"] = yaml.safe_dump(configuration, sort_keys=False)
        self.edit("configmap.yaml", apply)

    def assert_refused(self, result, *fragments):
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        for fragment in fragments:
            self.assertIn(fragment, result.stderr)

    # The shipped files -------------------------------------------------------------------------

    def test_shipped_base_passes_and_check_config_gets_a_prepared_configuration(self):
        result = self.run_checker()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        record = os.path.join(os.path.dirname(self.binary), "record")
        with open(record + ".args") as handle:
            self.assertEqual(handle.read().split("\n")[:2], ["check-config", "--config"])
        with open(record + ".config") as handle:
            config = handle.read()
        self.assertNotIn("/etc/graph-relay-tls/", config)      # the Secret's placeholders replaced
        with open(record + ".keymode") as handle:
            self.assertEqual(handle.read().strip(), "600")
        with open(record + ".certhead") as handle:
            self.assertEqual(handle.read().strip(), "-----BEGIN CERTIFICATE-----")
        with open(record + ".env") as handle:
            environment = dict(line.split("=", 1) for line in handle.read().splitlines() if "=" in line)
        self.assertEqual(environment.get("GRAPH_RELAY_ADMIN_TOKEN"), "check-kubernetes")
        self.assertTrue(os.path.basename(environment.get("AZURE_FEDERATED_TOKEN_FILE", "")))
        self.assertIn("AZURE_CLIENT_ID", environment)

    def test_check_config_failure_fails(self):
        with open(os.path.join(os.path.dirname(self.binary), "exit-status"), "w") as handle:
            handle.write("1\n")
        result = self.run_checker()
        self.assert_refused(result, "check-config: the ConfigMap's configuration is NOT valid")

    # Probes ------------------------------------------------------------------------------------

    def test_readiness_probe_on_another_port_number_fails(self):
        def change(statefulset):
            self.container(statefulset)["readinessProbe"]["httpGet"]["port"] = 2525
        self.edit_statefulset(change)
        self.assert_refused(self.run_checker(), "readinessProbe.httpGet.port '2525' is 2525, but admin.address listens on 9025")

    def test_liveness_probe_on_a_port_name_of_another_port_fails(self):
        def change(statefulset):
            self.container(statefulset)["livenessProbe"]["httpGet"]["port"] = "smtp"
        self.edit_statefulset(change)
        self.assert_refused(self.run_checker(), "livenessProbe.httpGet.port 'smtp' is 2525")

    def test_probe_on_an_unknown_port_name_fails(self):
        def change(statefulset):
            self.container(statefulset)["readinessProbe"]["httpGet"]["port"] = "metrics"
        self.edit_statefulset(change)
        self.assert_refused(self.run_checker(), "readinessProbe.httpGet.port 'metrics' is not a port of container graph-relay")

    def test_admin_address_moved_without_the_container_port_fails(self):
        self.edit_configuration(lambda configuration: configuration["admin"].update(address="0.0.0.0:9026"))
        self.assert_refused(self.run_checker(), "but admin.address listens on 9026")

    def test_wrong_probe_path_fails(self):
        def change(statefulset):
            self.container(statefulset)["livenessProbe"]["httpGet"]["path"] = "/readyz"
        self.edit_statefulset(change)
        self.assert_refused(self.run_checker(), "livenessProbe.httpGet.path is '/readyz', expected /healthz")

    # Security context --------------------------------------------------------------------------

    def test_missing_read_only_root_filesystem_fails(self):
        self.edit_statefulset(lambda s: self.container(s)["securityContext"].pop("readOnlyRootFilesystem"))
        self.assert_refused(self.run_checker(), "securityContext.readOnlyRootFilesystem must be true")

    def test_missing_capability_drop_fails(self):
        self.edit_statefulset(lambda s: self.container(s)["securityContext"].pop("capabilities"))
        self.assert_refused(self.run_checker(), "securityContext.capabilities.drop must contain ALL")

    def test_missing_fs_group_fails(self):
        self.edit_statefulset(lambda s: s["spec"]["template"]["spec"]["securityContext"].pop("fsGroup"))
        self.assert_refused(self.run_checker(), "pod securityContext.fsGroup must be 10025")

    def test_privilege_escalation_allowed_fails(self):
        self.edit_statefulset(lambda s: self.container(s)["securityContext"].update(allowPrivilegeEscalation=True))
        self.assert_refused(self.run_checker(), "allowPrivilegeEscalation must be false")

    def test_run_as_non_root_missing_everywhere_fails(self):
        def change(statefulset):
            statefulset["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot")
            self.container(statefulset)["securityContext"].pop("runAsNonRoot")
        self.edit_statefulset(change)
        self.assert_refused(self.run_checker(), "securityContext.runAsNonRoot must be true")

    def test_seccomp_profile_missing_everywhere_fails(self):
        def change(statefulset):
            statefulset["spec"]["template"]["spec"]["securityContext"].pop("seccompProfile")
            self.container(statefulset)["securityContext"].pop("seccompProfile")
        self.edit_statefulset(change)
        self.assert_refused(self.run_checker(), "seccompProfile.type must be RuntimeDefault")

    # Draining, Services, files -----------------------------------------------------------------

    def test_grace_period_not_above_default_drain_fails(self):
        self.edit_statefulset(lambda s: s["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=30))
        self.assert_refused(self.run_checker(), "terminationGracePeriodSeconds (30) must exceed smtp.drainTimeout (30 s)")

    def test_drain_timeout_above_grace_period_fails(self):
        self.edit_configuration(lambda configuration: configuration["smtp"].update(drainTimeout="1m30s"))
        self.assert_refused(self.run_checker(), "terminationGracePeriodSeconds (60) must exceed smtp.drainTimeout (90 s)")

    def test_service_missing_a_listener_port_fails(self):
        self.edit("service.yaml", lambda documents: documents[0]["spec"]["ports"].pop())
        self.assert_refused(self.run_checker(), "the listener port 2465 of the configuration is not exposed")

    def test_service_target_port_not_a_listener_fails(self):
        def change(documents):
            documents[0]["spec"]["ports"][0]["targetPort"] = "admin"
        self.edit("service.yaml", change)
        self.assert_refused(self.run_checker(), "targetPort 'admin' is 9025, not a listener port")

    def test_missing_resource_fails(self):
        os.remove(os.path.join(self.base, "pdb.yaml"))
        self.assert_refused(self.run_checker(), "resources: 'pdb.yaml' does not exist")

    def test_world_readable_secret_volume_fails(self):
        def change(statefulset):
            for volume in statefulset["spec"]["template"]["spec"]["volumes"]:
                if "secret" in volume:
                    volume["secret"].pop("defaultMode")
        self.edit_statefulset(change)
        self.assert_refused(self.run_checker(), "lets every user read tls.privateKey")

    def test_document_without_a_name_fails(self):
        self.edit("pdb.yaml", lambda documents: documents[0]["metadata"].pop("name"))
        self.assert_refused(self.run_checker(), "pdb.yaml (PodDisruptionBudget): missing metadata.name")

    def test_servicemonitor_with_another_token_fails(self):
        def change(documents):
            documents[0]["spec"]["endpoints"][0]["authorization"]["credentials"]["key"] = "token"
        self.edit(os.path.join("monitoring", "servicemonitor.yaml"), change)
        self.assert_refused(self.run_checker(), "the Secret graph-relay-admin has no key 'token'")

    # The real binary ---------------------------------------------------------------------------

    def test_real_binary_accepts_the_shipped_configuration(self):
        binary = os.environ.get("GRAPH_RELAY_BINARY", os.path.join(ROOT, ".build", "debug", "graph-relay"))
        if not os.access(binary, os.X_OK):
            self.skipTest(f"{binary} is not built")
        result = self.run_checker(binary=binary)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("is valid", result.stdout)

    def test_real_binary_refuses_an_unknown_key(self):
        binary = os.environ.get("GRAPH_RELAY_BINARY", os.path.join(ROOT, ".build", "debug", "graph-relay"))
        if not os.access(binary, os.X_OK):
            self.skipTest(f"{binary} is not built")
        self.edit_configuration(lambda configuration: configuration["spool"].update(directroy="/x"))
        self.assert_refused(self.run_checker(binary=binary), "spool.directroy")


if __name__ == "__main__":
    unittest.main(verbosity=2)
