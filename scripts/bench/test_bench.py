"""Self-tests of the benchmark harness (run by `make test`; about half a minute):

    python3 scripts/bench/test_bench.py

They check the load generator's parsing, message construction and safety, the /proc accounting,
and one short run of the load generator against the stand-in relay (standin_relay.py), including
a refused oversized message; the same for the C load generator (smtpload.c, compiled here), and
that its messages are the Python one's. No Postfix needed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)

import procstat  # noqa: E402
from postfix_instance import MAIN_CF, MASTER_CF, free_port, wait_for_greeting  # noqa: E402
from relay_instance import RelayInstance  # noqa: E402
from smtpload import LoadSpec, MessageFactory, parse_size, percentile, require_loopback, run_load  # noqa: E402


class ParsingTests(unittest.TestCase):
    def test_callgrind_totals(self):
        from bench import parse_callgrind_totals
        dump = "version: 1\ncmd: graph-relay serve\npart: 1\nevents: Ir\nsummary: 0\ntotals: 117472528\n"
        self.assertEqual(parse_callgrind_totals(dump), 117472528)
        self.assertEqual(parse_callgrind_totals("events: Ir\nsummary: 4242\n"), 4242)
        self.assertIsNone(parse_callgrind_totals("events: Ir\n"))

    def test_s_time(self):
        from bench import parse_s_time
        output = ("Collecting connection statistics for 5 seconds\n"
                  "3882 connections in 3.19s; 1216.93 connections/user sec, bytes read 0\n"
                  "3882 connections in 6 real seconds, 0 bytes read per connection\n")
        self.assertAlmostEqual(parse_s_time(output, 5.5), 3882 / 5.5)
        self.assertIsNone(parse_s_time("connect: Connection refused\n", 5.0))
        self.assertIsNone(parse_s_time(output, 0.0))

    def test_handshake_keys(self):
        from bench import make_tls, parse_args
        self.assertEqual(parse_args([]).handshake_keys, ["p256", "rsa2048"])
        self.assertEqual(parse_args(["--handshake-keys", "rsa2048"]).handshake_keys, ["rsa2048"])
        with open(os.devnull, "w") as devnull:
            stderr, sys.stderr = sys.stderr, devnull
            try:
                with self.assertRaises(SystemExit):
                    parse_args(["--handshake-keys", "p256,dsa"])
            finally:
                sys.stderr = stderr
        with tempfile.TemporaryDirectory() as directory:
            for key_type, algorithm in (("p256", "id-ecPublicKey"), ("rsa2048", "rsaEncryption")):
                cert, _ = make_tls(directory, key_type)
                text = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-text"], capture_output=True,
                                      text=True, check=True).stdout
                self.assertIn(algorithm, text)

    def test_sizes(self):
        self.assertEqual(parse_size("10KB"), 10_000)
        self.assertEqual(parse_size("30MB"), 30_000_000)
        self.assertEqual(parse_size("1MiB"), 1_048_576)
        self.assertEqual(parse_size("4096"), 4096)
        self.assertEqual(parse_size("2.5kb"), 2500)
        with self.assertRaises(ValueError):
            parse_size("3 parsecs")

    def test_percentile_is_nearest_rank(self):
        values = list(range(1, 101))
        self.assertEqual(percentile(values, 50), 50)
        self.assertEqual(percentile(values, 99), 99)
        self.assertEqual(percentile([7], 99), 7)
        self.assertIsNone(percentile([], 50))

    def test_only_loopback_targets(self):
        require_loopback("127.0.0.1")
        require_loopback("127.5.6.7")
        require_loopback("::1")
        require_loopback("localhost")
        for host in ("10.0.0.1", "192.168.1.1", "8.8.8.8", "example.com"):
            with self.assertRaises(SystemExit):
                require_loopback(host)


class MessageTests(unittest.TestCase):
    def test_scans_have_the_exact_size_and_a_decodable_attachment(self):
        import email
        import email.policy
        for size in (5_000, 123_457, 3_000_001):
            head, body = MessageFactory(LoadSpec(size=size, attachment=True)).message(1)
            self.assertEqual(len(head) + len(body), size)
            message = email.message_from_bytes(head + body, policy=email.policy.default)
            parts = [p for p in message.walk() if not p.is_multipart()]
            self.assertEqual([p.get_content_type() for p in parts], ["text/plain", "application/pdf"])
            self.assertGreater(len(parts[1].get_payload(decode=True)), (size - 1000) * 0.7)

    def test_size_and_shape(self):
        for size in (2_000, 10_000, 3_000_000):
            head, body = MessageFactory(LoadSpec(size=size)).message(1)
            total = len(head) + len(body)
            self.assertLess(abs(total - size), 64, f"size {size} -> {total}")
            self.assertTrue(head.endswith(b"\r\n\r\n"))
            self.assertTrue(body.endswith(b"\r\n"))
            self.assertNotIn(b"\r\n.", body)         # no dot-stuffing needed
            self.assertEqual(body.count(b"\n"), body.count(b"\r\n"))
            self.assertTrue(all(len(line) <= 78 for line in body.split(b"\r\n")))

    def test_headers_differ_per_message(self):
        f = MessageFactory(LoadSpec(size=1000))
        self.assertNotEqual(f.message(1)[0], f.message(2)[0])


class TableTests(unittest.TestCase):
    def test_large_scans_not_relayed_are_not_a_time(self):
        import bench
        side = {"name": "graph-relay", "main": {"load": {}}, "rounds": [],
                "large": {"not_relayed": "2 of 20 not relayed (bounced or failed; see the relay's log)",
                          "e2e_s": 12.0, "cpu_s_per_mb": 0.02, "total_mb": 600}}
        rows = bench.side_rows(side)
        self.assertIn("not relayed", rows["large scans: MB/s, start -> all delivered"])
        side["large"] = {"mb_per_s": 55.5, "cpu_s_per_mb": 0.02}
        self.assertEqual(bench.side_rows(side)["large scans: MB/s, start -> all delivered"], "55.5")


class ProcStatTests(unittest.TestCase):
    def test_cpu_of_a_child_that_exits_is_kept(self):
        # A shell runs a busy child that exits: its CPU must stay in the tree's total (the shell's
        # cutime), although the child is gone by the second snapshot.
        p = subprocess.Popen(["sh", "-c", "sleep 0.3; python3 -c 'sum(range(10**7))'; sleep 30"])
        try:
            time.sleep(0.1)
            before, _ = procstat.tree_cpu([p.pid])
            deadline = time.monotonic() + 20
            saw_child = False
            while time.monotonic() < deadline:
                names = set(procstat.tree(p.pid).values())
                saw_child = saw_child or any(n.startswith("python") for n in names)
                if saw_child and not any(n.startswith("python") for n in names):
                    break
                time.sleep(0.02)
            after, by_name = procstat.tree_cpu([p.pid])
            self.assertTrue(saw_child)
            self.assertGreater(after - before, 0.05)
            self.assertNotIn("python3", by_name)
        finally:
            p.kill()
            p.wait()

    def test_memory_sampler_sees_this_process(self):
        with procstat.MemorySampler([os.getpid()], interval=0.02) as m:
            time.sleep(0.1)
        self.assertGreater(m.peak_rss_kb, 1000)
        self.assertGreaterEqual(m.max_single_hwm_kb, m.peak_rss_kb)


class PostfixConfigTests(unittest.TestCase):
    def test_private_instance_config(self):
        main = MAIN_CF.format(dir="/x", sink_port=2526, tls="", message_size_limit=1,
                              daemon_directory="/d", meta_directory="/m", shlib_directory="/s")
        self.assertIn("queue_directory = /x/queue", main)
        self.assertIn("inet_interfaces = 127.0.0.1", main)
        self.assertIn("relayhost = [127.0.0.1]:2526", main)
        self.assertIn("mynetworks = 127.0.0.0/8", main)
        master = MASTER_CF.format(smtpd_port=2525)
        self.assertIn("127.0.0.1:2525 inet", master)
        # no chroot anywhere (5th column), so nothing has to be copied into a jail
        for line in master.splitlines():
            if line and not line.startswith("#"):
                self.assertEqual(line.split()[4], "n", line)


class DeliveredPatternTests(unittest.TestCase):
    def test_default_pattern_matches_the_relays_lines(self):
        """The end-to-end figure counts these lines: the pattern must match what the relay logs now."""
        import bench
        pattern = re.compile(bench.DELIVERED_PATTERN)
        for line in ["2026-12-06T21:16:38.779Z info graph-relay: graph.request-id=8ca4 relay.component=delivery "
                     "relay.size=10167 message delivered",
                     "2026-12-06T21:16:38.779Z info graph-relay: smtp.id=A1 delivered to Microsoft Graph"]:
            self.assertTrue(pattern.search(line), line)
        for line in ["2026-12-06T21:16:38.779Z notice graph-relay: relay.reason=503 delivery deferred",
                     "2026-12-06T21:16:38.779Z info graph-relay: relay.sender=message delivered later"]:
            self.assertFalse(pattern.search(line), line)
        # The lines themselves, as the relay's sources write them.
        repo = os.path.dirname(os.path.dirname(HERE))
        with open(os.path.join(repo, "Sources/GraphRelayDelivery/DeliveryAgent.swift")) as f:
            self.assertIn('logger.info("message delivered", metadata: metadata)', f.read())
        with open(os.path.join(repo, "Sources/GraphRelay/Relay/SynchronousDispatcher.swift")) as f:
            self.assertIn('logger.info("delivered to Microsoft Graph"', f.read())


class SpoolCountTests(unittest.TestCase):
    def test_slots_are_not_queued_messages(self):
        """graph-relay's queue/ holds slots (empty .eml, no .json) besides messages (docs/spool.md)."""
        d = tempfile.mkdtemp(prefix="bench-spool-")
        try:
            queue = os.path.join(d, "queue")
            os.makedirs(queue)
            relay = RelayInstance.__new__(RelayInstance)
            relay.spool_dir, relay.spool_exclude = d, ("failed",)
            self.assertEqual(relay.spool_count(), 0)
            for name, content in [("A.eml", b""), ("B.eml", b""), ("C.eml", b"message"), ("D.eml", b""),
                                  ("D.json", b"{}")]:
                with open(os.path.join(queue, name), "wb") as f:
                    f.write(content)
            # Slots A and B; message C (its trailer); message D (empty file, but with metadata).
            self.assertEqual(relay.spool_count(), 3)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class StandInRunTests(unittest.TestCase):
    """The load generator against the stand-in relay, through RelayInstance and the template."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="bench-selftest.")
        cls.port = free_port()
        cls.relay = RelayInstance(
            os.path.join(cls.dir, "relay"),
            [sys.executable, os.path.join(HERE, "standin_relay.py"), "serve", "--config", "{config}"],
            os.path.join(HERE, "graph-relay.yaml.template"), cls.port,
            {"LISTENER_TLS": "none", "TLS_SECTION": "", "MAX_MESSAGE_SIZE": "100KB",
             "MESSAGES_PER_MINUTE": "100000", "CONCURRENCY": "4", "LOG_LEVEL": "info",
             "GRAPH_URL": "https://127.0.0.1:1", "GRAPH_CA_FILE": "/nonexistent/ca.pem", "UPLOAD_LIMIT": "150MiB",
             "ACCESS": 'access: { networks: ["127.0.0.0/8"] }'},
            ["failed"], start_timeout=20)
        cls.relay.start()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_rendered_config(self):
        with open(self.relay.config_path) as f:
            text = f.read()
        self.assertIn(f'address: "127.0.0.1:{self.port}"', text)
        self.assertIn(f"spool: {{ directory: {self.relay.spool_dir} }}", text)
        self.assertNotIn("${", text)

    def test_authenticated_sessions_from_another_loopback_address(self):
        ok = run_load(LoadSpec(port=self.port, messages=10, concurrency=2, size=2000, timeout=30, command_timeout=10,
                               auth_user="printer", auth_password="standin-password", source="127.0.0.2")).summary()
        self.assertEqual(ok["accepted"], 10, ok["errors"])
        wrong = run_load(LoadSpec(port=self.port, messages=4, concurrency=1, size=2000, timeout=30, command_timeout=10,
                                  auth_user="printer", auth_password="guess")).summary()
        self.assertEqual(wrong["accepted"], 0)
        self.assertEqual(wrong["errors"], {"AUTH 535": 4})
        with self.assertRaises(SystemExit):
            run_load(LoadSpec(port=self.port, messages=1, source="192.0.2.1"))

    def test_load_is_accepted_and_spool_drains(self):
        r = run_load(LoadSpec(port=self.port, messages=60, concurrency=5, size=5000, timeout=30,
                              command_timeout=10)).summary()
        self.assertEqual(r["accepted"], 60, r["errors"])
        self.assertEqual(r["errors"], {})
        self.assertIsNotNone(r["latency_ms"]["p99"])
        self.assertEqual(r["server_size_limit"], 100_000)
        deadline = time.monotonic() + 10
        while self.relay.spool_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.relay.spool_count(), 0)

    def test_oversized_message_is_reported_by_code(self):
        r = run_load(LoadSpec(port=self.port, messages=1, concurrency=1, size=200_000, timeout=30,
                              command_timeout=10)).summary()
        self.assertEqual(r["accepted"], 0)
        self.assertEqual(r["errors"], {"MAIL 552": 1})

    def test_dead_port_is_an_error_not_a_hang(self):
        r = run_load(LoadSpec(port=free_port(), messages=3, concurrency=2, timeout=10,
                              command_timeout=2)).summary()
        self.assertEqual(r["accepted"], 0)
        self.assertEqual(r["errors"], {"connect refused": 3})

    def test_silent_server_times_out(self):
        import socket
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        try:
            t = time.monotonic()
            r = run_load(LoadSpec(port=srv.getsockname()[1], messages=2, concurrency=1, timeout=10,
                                  command_timeout=0.3)).summary()
            self.assertEqual(r["accepted"], 0)
            self.assertEqual(r["errors"], {"greeting timeout": 2})
            self.assertLess(time.monotonic() - t, 5)
        finally:
            srv.close()

    def test_greeting_wait_gives_up(self):
        t = time.monotonic()
        self.assertIsNone(wait_for_greeting(free_port(), 0.5))
        self.assertLess(time.monotonic() - t, 5)


def compile_native(directory: str) -> str:
    binary = os.path.join(directory, "smtpload")
    subprocess.run([os.environ.get("CC") or shutil.which("cc") or "gcc", "-O2", "-Wall", "-Werror", "-o", binary,
                    os.path.join(HERE, "smtpload.c")], check=True)
    return binary


def run_native(binary: str, port: int, *options: str) -> dict:
    r = subprocess.run([binary, "--json", "--port", str(port), *options], capture_output=True, text=True, timeout=60)
    return json.loads(r.stdout.strip().splitlines()[-1])


class NativeLoadTests(unittest.TestCase):
    """smtpload.c against the stand-in relay and against sockets that misbehave."""

    @classmethod
    def setUpClass(cls):
        StandInRunTests.setUpClass.__func__(cls)
        cls.binary = compile_native(cls.dir)

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_load_is_accepted_with_the_python_generators_result_shape(self):
        r = run_native(self.binary, self.port, "--messages", "60", "--concurrency", "5", "--size", "5000",
                       "--timeout", "30", "--command-timeout", "10")
        self.assertEqual(r["accepted"], 60, r["errors"])
        self.assertEqual(r["attempted"], 60)
        self.assertEqual(r["errors"], {})
        self.assertEqual(r["server_size_limit"], 100_000)
        self.assertTrue(r["sample_reply"].startswith("250 "), r["sample_reply"])
        self.assertLessEqual(r["latency_ms"]["p50"], r["latency_ms"]["p99"])
        self.assertLessEqual(r["latency_ms"]["p99"], r["latency_ms"]["max"])
        python = run_load(LoadSpec(port=self.port, messages=1, concurrency=1, size=5000, timeout=30)).summary()
        self.assertEqual(set(python) - set(r), set(), "every field the harness reads")
        self.assertGreater(r["end_monotonic"], r["start_monotonic"])
        self.assertLessEqual(r["last_accept_monotonic"], r["end_monotonic"])
        self.assertLess(abs(r["end_monotonic"] - time.monotonic()), 30, "the same clock as time.monotonic()")

    def test_per_session_messages_and_refusals_by_code(self):
        r = run_native(self.binary, self.port, "--messages", "9", "--concurrency", "2", "--size", "3000",
                       "--per-session", "4")
        self.assertEqual((r["accepted"], r["errors"]), (9, {}))
        r = run_native(self.binary, self.port, "--messages", "2", "--concurrency", "1", "--size", "200000",
                       "--per-session", "2")
        self.assertEqual(r["accepted"], 0)
        self.assertEqual(r["errors"], {"MAIL 552": 2}, "refused, reset, and the session went on")

    def test_dead_port_and_silent_server(self):
        r = run_native(self.binary, free_port(), "--messages", "3", "--concurrency", "2", "--timeout", "10",
                       "--command-timeout", "2")
        self.assertEqual((r["accepted"], r["errors"]), (0, {"connect refused": 3}))
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        try:
            t = time.monotonic()
            r = run_native(self.binary, srv.getsockname()[1], "--messages", "2", "--concurrency", "1",
                           "--timeout", "10", "--command-timeout", "0.3")
            self.assertEqual((r["accepted"], r["errors"]), (0, {"greeting timeout": 2}))
            self.assertLess(time.monotonic() - t, 5)
        finally:
            srv.close()

    def test_only_loopback(self):
        r = subprocess.run([self.binary, "--host", "192.0.2.1", "--port", "25"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("loopback", r.stderr)

    def test_messages_are_the_python_generators(self):
        """The same bytes on the wire but for the per-message header values: size, header names,
        76-character lines, no line starting with a dot, the final CRLF.CRLF."""
        for size in (3000, 10_000, 10_081):
            data = capture_message(lambda port: run_native(self.binary, port, "--messages", "1", "--concurrency", "1",
                                                           "--size", str(size), "--command-timeout", "5"))
            head, body = data.split(b"\r\n\r\n", 1)
            self.assertEqual(len(data), size, size)
            names = [line.split(b":")[0] for line in head.split(b"\r\n")]
            spec = LoadSpec(size=size)
            factory = MessageFactory(spec)
            py_head, _ = factory.message(0)
            self.assertEqual(names, [line.split(b":")[0] for line in py_head.rstrip(b"\r\n").split(b"\r\n")])
            lines = body.split(b"\r\n")
            self.assertEqual(lines[-1], b"")
            self.assertTrue(all(0 < len(line) <= 78 and not line.startswith(b".") for line in lines[:-1]))
            self.assertNotIn(b"\r\r", body)


def capture_message(run) -> bytes:
    """Runs `run(port)` against a one-connection SMTP sink here; returns the DATA it received."""
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = bytearray()

    def serve():
        conn, _ = srv.accept()
        f = conn.makefile("rwb")
        f.write(b"220 sink\r\n"); f.flush()
        while True:
            line = f.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"DATA":
                f.write(b"354 go\r\n"); f.flush()
                while True:
                    part = f.readline()
                    if part == b".\r\n":
                        break
                    got.extend(part)
                f.write(b"250 ok\r\n"); f.flush()
            elif verb == b"QUIT":
                f.write(b"221 bye\r\n"); f.flush()
                conn.close()
                return
            elif verb == b"EHLO":
                f.write(b"250-sink\r\n250 PIPELINING\r\n"); f.flush()
            else:
                f.write(b"250 ok\r\n"); f.flush()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = run(srv.getsockname()[1])
        thread.join(10)
    finally:
        srv.close()
    assert result["accepted"] == 1, result
    return bytes(got)


if __name__ == "__main__":
    unittest.main()
