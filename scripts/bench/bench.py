#!/usr/bin/env python3
"""`make bench`: graph-relay and Postfix under the same SMTP load, side by side.

Both servers run privately on 127.0.0.1 from a temporary directory; the same load generator
(N concurrent sessions, M messages of S bytes) drives each in turn: smtpload.c, compiled here,
for plain SMTP, and smtpload.py for STARTTLS, scans with attachments and AUTH. Per side:

  accepted msg/s, p50/p99/max end-of-DATA -> 250, errors by reply code,
  end-to-end delivered msg/s (Postfix: counted at smtp-sink; graph-relay: spool drained or
  delivery log lines), CPU ms per message of the server processes, peak RSS,
  and a single 30 MB message (peak RSS while relaying it).

See docs/performance.md. Everything is bounded in time and stops and cleans up by itself.
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)

from postfix_instance import PostfixInstance, SMTPSink, free_port  # noqa: E402
from procstat import MemorySampler, cpu_seconds, machine_busy_seconds, status_kb, tree_cpu  # noqa: E402
from relay_instance import RelayInstance, RelayStartError  # noqa: E402
from smtpload import parse_size  # noqa: E402

SMTPLOAD = os.path.join(HERE, "smtpload.py")
SMTPLOAD_C = os.path.join(HERE, "smtpload.c")
# graph-relay's info-level log line per message handed to Graph: "message delivered" from the
# spool's delivery agent (delivery: queue), "delivered to Microsoft Graph" when synchronous. The
# message text ends the line, after the metadata (`... relay.size=10167 message delivered`).
DELIVERED_PATTERN = r"[ \]]message delivered$|[ \]]delivered to Microsoft Graph$"


def log(msg: str):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# Cleanup: whatever happens (error, Ctrl-C, SIGTERM), stop what we started.
# --------------------------------------------------------------------------------------------

_cleanups: list = []


def on_cleanup(fn):
    _cleanups.append(fn)
    return fn


def run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep cleaning up the rest
            log(f"cleanup step failed: {e}")


def _terminate(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


# --------------------------------------------------------------------------------------------
# Load generator (a separate process, so its CPU never mixes with the orchestrator's)
# --------------------------------------------------------------------------------------------

def run_load(port: int, messages: int, concurrency: int, size: int, args, tag: str,
             timeout: float | None = None, command_timeout: float | None = None, attachment: bool = False) -> dict:
    timeout = timeout if timeout is not None else args.load_timeout
    command_timeout = command_timeout if command_timeout is not None else args.command_timeout
    # The C generator for plain SMTP (a small fraction of the Python one's CPU, which the servers
    # share the machine with); the Python one for what only it does (STARTTLS, scans).
    native = getattr(args, "load_binary", None) and not args.starttls and not attachment
    program = [args.load_binary] if native else [sys.executable, SMTPLOAD]
    cmd = [*program, "--json", "--port", str(port), "--messages", str(messages),
           "--concurrency", str(concurrency), "--size", str(size), "--per-session",
           str(args.per_session), "--timeout", str(timeout), "--command-timeout",
           str(command_timeout), "--tag", tag]
    if args.starttls:
        cmd.append("--starttls")
    cmd += ["--sender", args.sender, "--recipient", args.recipient]
    if attachment:
        cmd.append("--attachment")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + command_timeout + 60)
    except subprocess.TimeoutExpired:
        return {"accepted": 0, "attempted": 0, "errors": {"load generator hung": messages},
                "failed": "load generator did not finish"}
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"accepted": 0, "attempted": 0, "errors": {"load generator crashed": messages},
                "failed": (r.stderr or r.stdout).strip()[-600:]}


# --------------------------------------------------------------------------------------------
# Watching delivery
# --------------------------------------------------------------------------------------------

class CountWatcher:
    """Polls a count function every `interval` s; remembers the maximum and when it was last at or
    below a level (for spool draining) or at or above a target (for delivered counters)."""

    def __init__(self, fn, interval: float = 0.05):
        self.fn, self.interval = fn, interval
        self.max_seen = 0
        self.last = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            v = self.fn()
            if v is not None:
                self.last = v
                self.samples += 1
                self.max_seen = max(self.max_seen, v)
            self._stop.wait(self.interval)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)

    def wait(self, predicate, timeout: float, alive=lambda: True) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = self.fn()
            if v is not None and predicate(v):
                return time.monotonic()
            if not alive():
                return None
            time.sleep(self.interval)
        return None


def settle(fn, timeout: float, quiet: float = 1.0, interval: float = 0.05):
    """The value of fn once it has not changed for `quiet` seconds (or at timeout)."""
    deadline = time.monotonic() + timeout
    last, since = fn(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(interval)
        v = fn()
        if v != last:
            last, since = v, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last


# --------------------------------------------------------------------------------------------
# One measured round against a running server
# --------------------------------------------------------------------------------------------

def measure_round(name: str, port: int, roots, args, wait_delivered, extra_cpu_roots=()) -> dict:
    """wait_delivered(load_result) -> (monotonic time all were delivered | None, note)."""
    cpu0, by0 = tree_cpu(roots())
    extra0 = tree_cpu(list(extra_cpu_roots))[0] if extra_cpu_roots else 0.0
    busy0, wall0, own0 = machine_busy_seconds(), time.monotonic(), time.process_time()
    with MemorySampler(roots(), interval=args.sample_interval) as mem:
        load = run_load(port, args.messages, args.concurrency, args.size, args, tag=f"{name}-load")
        delivered_at, note = wait_delivered(load)
    cpu1, by1 = tree_cpu(roots())
    extra1 = tree_cpu(list(extra_cpu_roots))[0] if extra_cpu_roots else 0.0
    busy1, wall1, own1 = machine_busy_seconds(), time.monotonic(), time.process_time()
    accepted = load.get("accepted", 0)
    # CPU the rest of the machine used meanwhile (builds, other tests...), in cores: a busy machine
    # makes the round's figures low and noisy.
    other = ((busy1 - busy0) - (cpu1 - cpu0) - (extra1 - extra0) - load.get("loadgen_cpu_s", 0.0)
             - (own1 - own0))
    r = {"load": load, "accepted": accepted, "e2e_note": note,
         "peak_rss_kb_sum": mem.peak_rss_kb, "peak_pss_kb_sum": mem.peak_pss_kb,
         "peak_processes": mem.peak_processes, "max_single_hwm_kb": mem.max_single_hwm_kb,
         "cpu_s": cpu1 - cpu0,
         "cpu_by_process": {k: round(by1.get(k, 0) - by0.get(k, 0), 3)
                            for k in by1 if by1.get(k, 0) - by0.get(k, 0) > 0.0005},
         "downstream_cpu_s": extra1 - extra0,
         "other_cores": max(0.0, other) / max(wall1 - wall0, 1e-9),
         "harness_cpu_s": own1 - own0}
    if accepted:
        r["cpu_ms_per_msg"] = 1000.0 * r["cpu_s"] / accepted
        if extra_cpu_roots:
            r["downstream_cpu_ms_per_msg"] = 1000.0 * r["downstream_cpu_s"] / accepted
    if delivered_at is not None and accepted:
        span = delivered_at - load["start_monotonic"]
        r["e2e_s"] = span
        r["e2e_per_s"] = accepted / span if span > 0 else None
    return r


def single_series(label: str, name: str, port: int, roots, args, wait_delivered, extra_cpu_roots=()) -> list[dict]:
    """The same rounds with one session at a time (a single device sending in a loop)."""
    single = argparse.Namespace(**{**vars(args), "concurrency": 1, "messages": args.single_messages})
    rounds = []
    for i in range(args.rounds):
        log(f"{label}: one-session round {i + 1}/{args.rounds}: {single.messages} x {args.size} B")
        r = measure_round(name, port, roots, single, wait_delivered, extra_cpu_roots=extra_cpu_roots)
        log(f"{label}: one-session round {i + 1}: {_round_line(r)}")
        rounds.append(r)
    return rounds


def pick_median(rounds: list[dict]) -> dict:
    ok = [r for r in rounds if r.get("accepted")]
    if not ok:
        return rounds[-1] if rounds else {}
    ok.sort(key=lambda r: r["load"]["accepted_per_s"])
    return ok[(len(ok) - 1) // 2]        # the middle one (the lower middle of an even count)


# --------------------------------------------------------------------------------------------
# Postfix side
# --------------------------------------------------------------------------------------------

def postfix_side(args, workdir: str, sudo: list[str], tls: tuple | None) -> dict:
    out: dict = {"name": "postfix"}
    if not shutil.which("postfix") and not os.path.exists("/usr/sbin/postfix"):
        out["skipped"] = "postfix is not installed (scripts/bench.sh installs it with apt-get)"
        return out
    try:
        out["version"] = subprocess.run(["postconf", "-dh", "mail_version"], capture_output=True,
                                        text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out["version"] = "?"
    sink_port, smtpd_port = free_port(), free_port()
    sink = SMTPSink(sink_port, sudo)
    on_cleanup(sink.stop)
    if not sink.ready(10):
        out["skipped"] = f"smtp-sink did not start: {sink.output_tail.decode('latin-1')[-300:]}"
        return out
    pf = PostfixInstance(os.path.join(workdir, "postfix"), smtpd_port, sink_port, sudo,
                         message_size_limit=max(41_943_040, args.large_size + 1_000_000),
                         tls_cert=tls[0] if tls else None, tls_key=tls[1] if tls else None, log=log)
    on_cleanup(pf.stop)
    log(f"postfix {out['version']}: private instance in {pf.dir}, smtpd 127.0.0.1:{smtpd_port}, "
        f"relayhost smtp-sink 127.0.0.1:{sink_port}")
    try:
        pf.start()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        out["skipped"] = f"postfix did not start: {e}"
        return out

    def roots():
        pid = pf.master_pid()
        return [pid] if pid else []

    def wait_delivered(load):
        target = base[0] + load.get("accepted", 0)
        t = sink.wait_until(target, args.drain_timeout)
        base[0] = sink.count
        if t is None:
            return None, f"only {sink.count - (target - load.get('accepted', 0))} of {load.get('accepted', 0)} reached smtp-sink within {args.drain_timeout:.0f}s"
        return t, "counted at smtp-sink"

    base = [0]
    if args.warmup:
        log(f"postfix: warm-up, {args.warmup} messages")
        w = run_load(smtpd_port, args.warmup, args.concurrency, args.size, args, tag="postfix-warmup")
        sink.wait_until(w.get("accepted", 0), args.drain_timeout)
        base[0] = sink.count
    rounds = []
    for i in range(args.rounds):
        log(f"postfix: round {i + 1}/{args.rounds}: {args.messages} x {args.size} B, {args.concurrency} sessions")
        r = measure_round("postfix", smtpd_port, roots, args, wait_delivered, extra_cpu_roots=[sink.pid()])
        log(f"postfix: round {i + 1}: {_round_line(r)}")
        rounds.append(r)
    out["rounds"] = rounds
    out["main"] = pick_median(rounds)
    if not args.skip_single:
        out["single_rounds"] = single_series("postfix", "postfix", smtpd_port, roots, args, wait_delivered,
                                             extra_cpu_roots=[sink.pid()])
        out["single"] = pick_median(out["single_rounds"])
    if not args.skip_large:
        out["large"] = postfix_large(args, pf, sink, smtpd_port, roots)
    pf.stop()
    sink.stop()
    return out


def postfix_large(args, pf, sink, port, roots) -> dict:
    total_mb = args.large_messages * args.large_size / 1e6
    log(f"postfix: {args.large_messages} x {args.large_size / 1e6:.0f} MB scans, {args.large_concurrency} sessions")
    before = sink.count
    idle = MemorySampler(roots(), pss=True)
    idle.sample()
    cpu0 = tree_cpu(roots())[0]
    sink_cpu0 = tree_cpu([sink.pid()])[0]
    with MemorySampler(roots(), interval=args.sample_interval) as mem:
        load = run_load(port, args.large_messages, args.large_concurrency, args.large_size, args, tag="postfix-large",
                        timeout=args.large_timeout, command_timeout=args.large_timeout, attachment=True)
        t = sink.wait_until(before + load.get("accepted", 0), args.large_timeout) if load.get("accepted") else None
    cpu1 = tree_cpu(roots())[0]
    sink_cpu1 = tree_cpu([sink.pid()])[0]
    r = {"load": load, "idle_rss_kb_sum": idle.peak_rss_kb, "peak_rss_kb_sum": mem.peak_rss_kb,
         "peak_pss_kb_sum": mem.peak_pss_kb, "max_single_hwm_kb": mem.max_single_hwm_kb,
         "cpu_s": cpu1 - cpu0, "downstream_cpu_s": sink_cpu1 - sink_cpu0, "total_mb": total_mb}
    if load.get("accepted") != args.large_messages:
        r["skipped"] = f"postfix accepted {load.get('accepted', 0)} of {args.large_messages}: {_errors_text(load)}"
    elif t is not None:
        r["e2e_s"] = t - load["start_monotonic"]
        r["mb_per_s"] = total_mb / r["e2e_s"]
        r["cpu_s_per_mb"] = r["cpu_s"] / total_mb
    return r


# --------------------------------------------------------------------------------------------
# graph-relay side
# --------------------------------------------------------------------------------------------

def wait_relay_delivered(relay, spool_watch, spool_base: int, delivered_base: int, accepted: int,
                         timeout: float) -> tuple[float | None, str, int]:
    """When did the relay deliver `accepted` more messages? -> (monotonic time | None, how, new
    delivered base). Prefers the delivery log lines (--relay-delivered-pattern); else, or when the
    log shows fewer, the spool's queue back at its idle level. Gives up after `timeout`, when the
    relay dies, or when nothing can be observed."""
    if not accepted:
        return None, "nothing accepted", delivered_base
    target = delivered_base + accepted
    deadline = time.monotonic() + timeout
    drained_at = None
    while True:
        now = time.monotonic()
        d = relay.delivered_count()
        if d is not None and d >= target:
            return now, "delivery log lines", d
        c = relay.spool_count()
        if c is None and d is None:
            return None, "no spool directory and no delivery log pattern: not observable", delivered_base
        if c is not None and c <= spool_base:
            drained_at = drained_at or now
            if spool_watch.max_seen > spool_base:
                if d is None:
                    return drained_at, "spool drained", delivered_base
                if now - drained_at > 1.0:       # let the log catch up with the queue
                    return drained_at, (f"spool drained; {d - delivered_base} of {accepted} logged "
                                        f"as delivered"), d
            elif (d is None or d == delivered_base) and now - drained_at > 3.0:
                return None, ("spool never showed a queued message: not observable (set "
                              "--relay-delivered-pattern)"), delivered_base
        else:
            drained_at = None
        if now > deadline:
            got = f"{(d or 0) - delivered_base} logged as delivered, " if d is not None else ""
            return None, (f"not all delivered within {timeout:.0f}s ({got}{c} spool files left)"), (d or delivered_base)
        if not relay.alive():
            return None, "graph-relay exited", (d or delivered_base)
        time.sleep(0.05)


def relay_command(args) -> tuple[list[str] | None, str]:
    if args.relay_cmd:
        return shlex.split(args.relay_cmd), "custom command (--relay-cmd)"
    binary = args.relay_bin or os.environ.get("GRAPH_RELAY_BIN")
    if not binary:
        log("graph-relay: swift build -c release --product graph-relay (output in the work directory)")
        build_log = os.path.join(args.workdir, "swift-build.log")
        with open(build_log, "w") as f:
            r = subprocess.run(["swift", "build", "-c", "release", "--product", "graph-relay"],
                               cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            with open(build_log, errors="replace") as f:
                tail = "".join(f.readlines()[-15:])
            return None, f"release build failed (exit {r.returncode}):\n{tail}"
        bin_path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=REPO,
                                  capture_output=True, text=True).stdout.strip()
        binary = os.path.join(bin_path, "graph-relay")
    if not os.access(binary, os.X_OK):
        return None, f"{binary} is not an executable"
    return [binary, "serve", "--config", "{config}"], binary


def relay_variables(args, tls, max_size: str, graph: tuple[str, str], upload_limit: str = "150MiB") -> dict:
    """The template's values; `graph` = (URL, CA file) of the graph-emulator process."""
    tls_section = ""
    if tls:
        # Postfix's smtpd (user postfix) reads tls[1], so it is 0644; graph-relay refuses a private
        # key every user can read, so it gets a private copy.
        relay_key = os.path.splitext(tls[1])[0] + "-relay.pem"
        if not os.path.exists(relay_key):
            shutil.copyfile(tls[1], relay_key)
            os.chmod(relay_key, 0o600)
        tls_section = f"tls: {{ certificate: {tls[0]}, privateKey: {relay_key} }}"
    return {"LISTENER_TLS": "starttls" if tls else "none", "TLS_SECTION": tls_section,
            "MAX_MESSAGE_SIZE": max_size, "MESSAGES_PER_MINUTE": str(args.relay_rate),
            "CONCURRENCY": str(args.relay_concurrency), "LOG_LEVEL": args.relay_log_level,
            "GRAPH_URL": graph[0], "GRAPH_CA_FILE": graph[1], "UPLOAD_LIMIT": upload_limit,
            "ACCESS": 'access: { networks: ["127.0.0.0/8"] }'}


def relay_side(args, workdir: str, tls) -> dict:
    out: dict = {"name": "graph-relay"}
    command, what = relay_command(args)
    if command is None:
        out["skipped"] = f"graph-relay not run: {what}"
        return out
    out["binary"] = what
    emulator, why = start_emulator(args, os.path.join(workdir, "rounds"), command[0])
    if emulator is None:
        out["skipped"] = f"graph-relay not run: {why}"
        return out
    emulator_proc, url, ca = emulator
    port = free_port()
    relay = RelayInstance(os.path.join(workdir, "relay"), command, args.relay_template, port,
                          relay_variables(args, tls, "3MB", graph=(url, ca)), args.spool_exclude,
                          args.relay_delivered_pattern, start_timeout=args.start_timeout, cwd=REPO)
    on_cleanup(relay.stop)
    log(f"graph-relay: {' '.join(relay.command)} (127.0.0.1:{port}, work dir {relay.dir})")
    try:
        relay.start()
    except RelayStartError as e:
        out["skipped"] = f"graph-relay did not start: {e}"
        return out

    roots = lambda: [relay.pid] if relay.alive() else []  # noqa: E731
    # Only its maximum matters (did the spool show queued messages?), so a coarse interval: a
    # directory scan every 50 ms of a queue thousands deep cost a few percent of a core, taken
    # from the relay while it was being measured.
    spool_watch = CountWatcher(relay.spool_count, interval=0.25).start()
    state = {"delivered_base": relay.delivered_count() or 0, "spool_base": relay.spool_count() or 0}

    def wait_delivered(load):
        t, note, state["delivered_base"] = wait_relay_delivered(
            relay, spool_watch, state["spool_base"], state["delivered_base"], load.get("accepted", 0),
            args.drain_timeout)
        return t, note

    if args.warmup:
        log(f"graph-relay: warm-up, {args.warmup} messages")
        w = run_load(port, args.warmup, args.concurrency, args.size, args, tag="relay-warmup")
        t, note = wait_delivered(w)
        if t is None:
            log(f"graph-relay: warm-up not seen delivered ({note})")
        # The spool may keep files of its own once used (a lock, an index): take the settled
        # count after the warm-up as the level that means "empty".
        settled = settle(relay.spool_count, min(args.drain_timeout, 10))
        if settled is not None:
            if settled != state["spool_base"]:
                log(f"graph-relay: spool holds {settled} file(s) when idle; that counts as drained")
            state["spool_base"] = settled
    rounds = []
    for i in range(args.rounds):
        spool_watch.max_seen = 0
        log(f"graph-relay: round {i + 1}/{args.rounds}: {args.messages} x {args.size} B, {args.concurrency} sessions")
        r = measure_round("relay", port, roots, args, wait_delivered, extra_cpu_roots=[emulator_proc.pid])
        log(f"graph-relay: round {i + 1}: {_round_line(r)}")
        rounds.append(r)
        if not relay.alive():
            out["died"] = f"graph-relay exited during the run; last output:\n{relay.log_tail()}"
            break
    out["rounds"] = rounds
    out["main"] = pick_median(rounds)
    out["vm_hwm_kb"] = status_kb(relay.pid, "VmHWM") if relay.alive() else None
    if not args.skip_single and relay.alive():
        out["single_rounds"] = single_series("graph-relay", "relay", port, roots, args, wait_delivered,
                                             extra_cpu_roots=[emulator_proc.pid])
        out["single"] = pick_median(out["single_rounds"])
    spool_watch.stop()
    relay.stop()
    emulator_proc.terminate()
    if not args.skip_large:
        out["large"] = relay_large(args, workdir, command, tls)
    if not args.skip_auth:
        out["auth"] = relay_auth(args, workdir, command)
    return out


def s_time(port: int, seconds: float) -> float | None:
    """Full TLS handshakes per wall-clock second that `openssl s_time -new` completes against
    127.0.0.1:port in `seconds` (None when it fails)."""
    started = time.monotonic()
    try:
        r = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time",
                            str(max(1, int(seconds)))], capture_output=True, text=True, timeout=seconds + 60,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_s_time(r.stdout, time.monotonic() - started)


def parse_s_time(output: str, elapsed: float) -> float | None:
    """Connections per second from `openssl s_time` output ("N connections in Xs; ...") over the
    wall-clock `elapsed` seconds (s_time's own "real seconds" are whole seconds)."""
    m = re.search(r"^(\d+) connections in [\d.]+s;", output, re.MULTILINE)
    return int(m.group(1)) / elapsed if m and elapsed > 0 else None


def tls_handshakes(args, workdir: str, command: list[str]) -> dict:
    """`handshakes_with` for each key type of `--handshake-keys`: {key type: result}."""
    return {key_type: handshakes_with(args, os.path.join(workdir, f"handshakes-{key_type}"), command, key_type)
            for key_type in args.handshake_keys}


def handshakes_with(args, directory: str, command: list[str], key_type: str) -> dict:
    """New TLS connections per second: graph-relay's implicit-TLS listener against `openssl
    s_server` with the same certificate and key (`key_type`), `args.rounds` alternating rounds each."""
    out: dict = {}
    os.makedirs(directory, exist_ok=True)
    cert, key = make_tls(directory, key_type)
    port, server_port = free_port(), free_port()
    variables = relay_variables(args, (cert, key), "3MB", graph=("https://127.0.0.1:9", cert))
    variables["LISTENER_TLS"] = "implicit"
    relay = RelayInstance(os.path.join(directory, "relay"), command, args.relay_template, port, variables,
                          args.spool_exclude, None, start_timeout=args.start_timeout, cwd=REPO)
    on_cleanup(relay.stop)
    try:
        relay.start(implicit_tls=True)
    except RelayStartError as e:
        out["skipped"] = f"graph-relay did not start with an implicit-TLS listener: {e}"
        return out
    server = subprocess.Popen(["openssl", "s_server", "-accept", str(server_port), "-cert", cert, "-key", key,
                               "-quiet"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    on_cleanup(server.kill)
    if not wait_for_port(server_port, 10, lambda: server.poll() is None):
        out["skipped"] = "openssl s_server did not start"
        relay.stop()
        return out
    relay_rates, server_rates = [], []
    for i in range(args.rounds):
        relay_rates.append(s_time(port, args.handshake_seconds))
        server_rates.append(s_time(server_port, args.handshake_seconds))
        log(f"TLS handshakes ({key_type}) round {i + 1}/{args.rounds}: graph-relay {fmt(relay_rates[-1], '{:.0f}')}/s, "
            f"openssl s_server {fmt(server_rates[-1], '{:.0f}')}/s")
    relay.stop()
    server.kill()
    out["relay_per_s"], out["server_per_s"] = relay_rates, server_rates
    ok_relay, ok_server = sorted(r for r in relay_rates if r), sorted(r for r in server_rates if r)
    if ok_relay and ok_server:
        out["relay_median"] = ok_relay[(len(ok_relay) - 1) // 2]
        out["server_median"] = ok_server[(len(ok_server) - 1) // 2]
    return out


def parse_callgrind_totals(text: str) -> int | None:
    """The `totals:` (or `summary:`) instruction count of a callgrind dump."""
    for key in ("totals:", "summary:"):
        for line in text.splitlines():
            if line.startswith(key):
                try:
                    value = int(line.split()[1])
                except (IndexError, ValueError):
                    continue
                if value > 0:
                    return value
    return None


def callgrind_case(args, workdir: str, command: list[str]) -> dict:
    """Instructions per accepted message (valgrind's callgrind: the same on a busy machine as on a
    quiet one). The relay runs under callgrind with instrumentation off; after a warm-up, each
    round zeroes the counters, turns them on for `--callgrind-messages` messages sent one at a
    time (a connection each), dumps, and divides. Graph is unreachable, so delivery waits and the
    count is acceptance alone: connection, SMTP, spool commit, logging."""
    out: dict = {}
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        out["skipped"] = "valgrind is not installed (apt-get install valgrind)"
        return out
    directory = os.path.join(workdir, "callgrind")
    os.makedirs(directory, exist_ok=True)
    binary = command[0]
    # valgrind 3.19 cannot read the DWARF 5 the Swift toolchain writes: a copy without it.
    stripped = os.path.join(directory, "graph-relay")
    if shutil.which("objcopy") and subprocess.run(["objcopy", "--strip-debug", binary, stripped],
                                                  capture_output=True).returncode == 0:
        binary = stripped
    cert, _ = make_tls(directory)
    port = free_port()
    dumps = os.path.join(directory, "callgrind.out")
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={dumps}.%p",
                binary, *command[1:]]
    relay = RelayInstance(os.path.join(directory, "relay"), valgrind, args.relay_template, port,
                          relay_variables(args, None, "3MB", graph=("https://127.0.0.1:9", cert)),
                          args.spool_exclude, None, start_timeout=max(args.start_timeout, 120), cwd=REPO)
    on_cleanup(relay.stop)
    try:
        relay.start()
    except RelayStartError as e:
        out["skipped"] = f"graph-relay did not start under valgrind: {e}"
        return out
    pid = str(relay.pid)

    def control(*words):
        return subprocess.run(["callgrind_control", *words, pid], capture_output=True, text=True, timeout=60)

    run_load(port, 20, 1, args.size, args, tag="callgrind-warmup")
    per_message = []
    for i in range(args.rounds):
        control("-z")
        control("-i", "on")
        load = run_load(port, args.callgrind_messages, 1, args.size, args, tag="callgrind")
        control("-i", "off")
        control("-d", f"round{i + 1}")
        dump = f"{dumps}.{pid}.{i + 1}"
        deadline = time.monotonic() + 30
        while not os.path.exists(dump) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)   # the dump is written in one go; give it time to be complete
        try:
            with open(dump) as f:
                total = parse_callgrind_totals(f.read())
        except OSError:
            total = None
        accepted = load.get("accepted", 0)
        per_message.append(total / accepted if total and accepted else None)
        log(f"callgrind round {i + 1}/{args.rounds}: {accepted} messages, "
            f"{fmt(per_message[-1] / 1e6 if per_message[-1] else None, '{:.3f}')} M instructions per message")
    relay.stop()
    out["per_message"] = per_message
    ok = sorted(v for v in per_message if v)
    if ok:
        out["median"] = ok[(len(ok) - 1) // 2]
    return out


def wait_for_port(port: int, timeout: float, alive=lambda: True) -> bool | None:
    """True once 127.0.0.1:port accepts a connection; None after `timeout` or when `alive()` fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return None


def start_emulator(args, workdir: str, relay_binary: str):
    """A graph-emulator process (the one built next to graph-relay) for the large-message case,
    so that the relay's memory and CPU are its own: returns (process, URL, CA file) or a reason."""
    binary = os.path.join(os.path.dirname(relay_binary), "graph-emulator")
    if not os.access(binary, os.X_OK):
        r = subprocess.run(["swift", "build", "-c", "release", "--product", "graph-emulator"], cwd=REPO,
                           capture_output=True, text=True)
        if r.returncode != 0 or not os.access(binary, os.X_OK):
            return None, f"graph-emulator could not be built next to {relay_binary}: {r.stdout[-500:]}{r.stderr[-500:]}"
    port = free_port()
    directory = os.path.join(workdir, "emulator")
    os.makedirs(directory, exist_ok=True)
    log_file = open(os.path.join(directory, "emulator.log"), "wb")
    proc = subprocess.Popen([binary, "--listen", f"127.0.0.1:{port}", "--generate-certificate", directory,
                             "--mailbox", "relay@bench.example", "--tenant", "bench.example",
                             "--client-id", "11111111-1111-1111-1111-111111111111", "--client-secret", "bench-secret",
                             "--allow-any-from", "--log-level", "warning"],
                            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    on_cleanup(lambda: (proc.poll() is None and proc.kill(), log_file.close()))
    if wait_for_port(port, 30, lambda: proc.poll() is None) is None:
        return None, f"graph-emulator did not listen on 127.0.0.1:{port}"
    return (proc, f"https://127.0.0.1:{port}", os.path.join(directory, "emulator.pem")), None


def relay_large(args, workdir, command, tls) -> dict:
    """`--large-messages` scans of `--large-size` through a fresh relay process (VmHWM is a lifetime
    peak) and a graph-emulator process: drafts and upload sessions end to end."""
    total_mb = args.large_messages * args.large_size / 1e6
    log(f"graph-relay: {args.large_messages} x {args.large_size / 1e6:.0f} MB scans, {args.large_concurrency} sessions "
        f"(fresh process, graph-emulator in its own process)")
    emulator, why = start_emulator(args, workdir, command[0])
    if emulator is None:
        return {"skipped": why}
    proc, url, ca = emulator
    port = free_port()
    limit = f"{int(args.large_size / 1e6) + 5}MB"
    relay = RelayInstance(os.path.join(workdir, "relay-large"), command, args.relay_template, port,
                          relay_variables(args, tls, limit, graph=(url, ca), upload_limit="0"), args.spool_exclude,
                          args.relay_delivered_pattern, start_timeout=args.start_timeout, cwd=REPO)
    on_cleanup(relay.stop)
    try:
        relay.start()
    except RelayStartError as e:
        return {"skipped": f"relay did not start with maxMessageSize {limit}: {e}"}
    try:
        time.sleep(1)
        idle_rss = status_kb(relay.pid, "VmRSS")
        base_spool = relay.spool_count() or 0
        base_delivered = relay.delivered_count() or 0
        cpu0, emulator_cpu0 = cpu_seconds(relay.pid), cpu_seconds(proc.pid)
        watch = CountWatcher(relay.spool_count).start()
        with MemorySampler([relay.pid], interval=args.sample_interval) as mem:
            load = run_load(port, args.large_messages, args.large_concurrency, args.large_size, args, tag="relay-large",
                            timeout=args.large_timeout, command_timeout=args.large_timeout, attachment=True)
            t, note, delivered = wait_relay_delivered(relay, watch, base_spool, base_delivered,
                                                      load.get("accepted", 0), args.large_timeout)
        watch.stop()
        cpu1, emulator_cpu1 = cpu_seconds(relay.pid), cpu_seconds(proc.pid)
        hwm = status_kb(relay.pid, "VmHWM") if relay.alive() else None
        r = {"load": load, "idle_rss_kb": idle_rss, "vm_hwm_kb": hwm, "peak_rss_kb_sampled": mem.peak_rss_kb,
             "limit": limit, "e2e_note": note, "total_mb": total_mb,
             "cpu_s": (cpu1 or 0) - (cpu0 or 0), "downstream_cpu_s": (emulator_cpu1 or 0) - (emulator_cpu0 or 0)}
        if load.get("accepted") != args.large_messages:
            r["skipped"] = f"graph-relay accepted {load.get('accepted', 0)} of {args.large_messages}: {_errors_text(load)}"
        elif t is not None and relay.delivered_count() is not None and delivered - base_delivered < args.large_messages:
            # The spool drained, but not every message was delivered: bounced or failed, not a time.
            r["not_relayed"] = (f"{args.large_messages - (delivered - base_delivered)} of {args.large_messages} "
                                f"not relayed (bounced or failed; see the relay's log)")
        elif t is not None:
            r["e2e_s"] = t - load["start_monotonic"]
            r["mb_per_s"] = total_mb / r["e2e_s"]
            r["cpu_s_per_mb"] = r["cpu_s"] / total_mb
        if not relay.alive():
            r["died"] = f"graph-relay exited; last output:\n{relay.log_tail()}"
        return r
    finally:
        relay.stop()
        proc.terminate()


AUTH_USER, AUTH_PASSWORD = "printer", "bench-printer-password"


def relay_auth(args, workdir, command) -> dict:
    """Authenticated sessions per second, the way a printer sends: a new connection, STARTTLS,
    AUTH PLAIN, one message, QUIT. Three fresh relay processes with one user (a default scrypt
    hash): `access.authCacheTime: 0s` (every login pays a full scrypt check, as before the cache),
    the default cache, and the default cache while a brute force from 127.0.0.2 runs (wrong
    passwords, --auth-attackers sessions without pause) against the legitimate 127.0.0.1."""
    if args.relay_cmd:
        return {"skipped": "not measured with --relay-cmd (needs graph-relay hash-password)"}
    hashed = subprocess.run([command[0], "hash-password"], input=AUTH_PASSWORD, capture_output=True, text=True)
    if hashed.returncode != 0:
        return {"skipped": f"graph-relay hash-password failed: {hashed.stderr.strip()}"}
    password_hash = hashed.stdout.strip()
    tls = make_tls(os.path.join(workdir)) if not args.starttls else (os.path.join(workdir, "tls-cert.pem"),
                                                                      os.path.join(workdir, "tls-key.pem"))
    emulator, why = start_emulator(args, os.path.join(workdir, "auth"), command[0])
    if emulator is None:
        return {"skipped": why}
    proc, url, ca = emulator
    out: dict = {"sessions": args.auth_sessions, "concurrency": args.auth_concurrency}
    try:
        for name, cache, attack in (("cache_off", "0s", False), ("cache_on", "10m", False), ("brute_force", "10m", True)):
            port = free_port()
            variables = relay_variables(args, tls, "3MB", graph=(url, ca))
            variables["ACCESS"] = (f'access: {{ users: [ {{ name: {AUTH_USER}, passwordHash: "{password_hash}" }} ], '
                                   f'authCacheTime: {cache} }}')
            relay = RelayInstance(os.path.join(workdir, f"relay-auth-{name}"), command, args.relay_template, port,
                                  variables, args.spool_exclude, args.relay_delivered_pattern,
                                  start_timeout=args.start_timeout, cwd=REPO)
            on_cleanup(relay.stop)
            try:
                relay.start()
            except RelayStartError as e:
                return {"skipped": f"relay did not start with an AUTH user: {e}"}
            attacker = None
            try:
                if attack:
                    attacker = subprocess.Popen(
                        [sys.executable, SMTPLOAD, "--json", "--port", str(port), "--messages", "100000000",
                         "--concurrency", str(args.auth_attackers), "--starttls", "--source", "127.0.0.2",
                         "--auth-user", AUTH_USER, "--auth-password", "wrong-guess", "--timeout", str(args.load_timeout),
                         "--command-timeout", str(args.command_timeout), "--tag", "attacker"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    on_cleanup(lambda: attacker.poll() is None and attacker.kill())
                    time.sleep(2)      # the attack is under way (and past its first failures) first
                cpu0 = cpu_seconds(relay.pid)
                cmd = [sys.executable, SMTPLOAD, "--json", "--port", str(port), "--messages", str(args.auth_sessions),
                       "--concurrency", str(args.auth_concurrency), "--size", str(args.size), "--starttls",
                       "--source", "127.0.0.1", "--auth-user", AUTH_USER, "--auth-password", AUTH_PASSWORD,
                       "--timeout", str(args.load_timeout), "--command-timeout", str(args.command_timeout),
                       "--tag", f"auth-{name}", "--sender", args.sender, "--recipient", args.recipient]
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.load_timeout + args.command_timeout + 60)
                try:
                    load = json.loads(r.stdout.strip().splitlines()[-1])
                except (json.JSONDecodeError, IndexError):
                    load = {"accepted": 0, "failed": (r.stderr or r.stdout).strip()[-600:]}
                entry = {"load": load, "cpu_s": (cpu_seconds(relay.pid) or 0) - (cpu0 or 0)}
                if attacker is not None:
                    attacker.kill()
                    attacker.wait(10)
                    entry["attacker"] = count_log(relay.log_path, {
                        "failed (535)": "authentication failed", "refused (454)": "authentication not checked now",
                        "blocks logged": "AUTH from 127.0.0.2 refused for"})
                if load.get("accepted") != args.auth_sessions:
                    entry["skipped"] = f"{load.get('accepted', 0)} of {args.auth_sessions} sessions: {_errors_text(load)}"
                log(f"graph-relay: authenticated sessions, {name}: {load.get('accepted_per_s', 0):.1f}/s"
                    + (f" (attacker: {entry['attacker']})" if attacker is not None else ""))
                out[name] = entry
            finally:
                if attacker is not None and attacker.poll() is None:
                    attacker.kill()
                relay.stop()
    finally:
        proc.terminate()
    return out


def count_log(path: str, patterns: dict) -> dict:
    counts = {k: 0 for k in patterns}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                for k, needle in patterns.items():
                    if needle in line:
                        counts[k] += 1
    except OSError:
        pass
    return counts


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

def _errors_text(load: dict) -> str:
    errs = load.get("errors") or {}
    if not errs:
        return load.get("failed", "no error recorded")
    ex = load.get("error_examples") or {}
    return "; ".join(f"{k} x{v}" + (f" ({ex[k]})" if ex.get(k) else "") for k, v in errs.items())


def _round_line(r: dict) -> str:
    load = r["load"]
    lat = load.get("latency_ms", {})
    s = (f"{load.get('accepted', 0)}/{load.get('attempted', 0)} accepted, "
         f"{load.get('accepted_per_s', 0):.0f} msg/s, p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms")
    if r.get("e2e_per_s"):
        s += f", end-to-end {r['e2e_per_s']:.0f} msg/s"
    else:
        s += f", end-to-end n/a ({r.get('e2e_note')})"
    if r.get("cpu_ms_per_msg") is not None:
        s += f", CPU {r['cpu_ms_per_msg']:.2f} ms/msg"
    if r.get("other_cores") is not None:
        s += f", other processes {r['other_cores']:.2f} cores"
    if load.get("errors"):
        s += f"; errors: {_errors_text(load)}"
    return s


def fmt(v, spec="{:.1f}", unit=""):
    if v is None:
        return "n/a"
    return spec.format(v) + unit


def mb(kb):
    return None if kb is None else kb / 1024.0


def side_rows(side: dict) -> dict:
    """metric -> value text for one side."""
    rows: dict[str, str] = {}
    if "skipped" in side:
        return {"status": "not run (see below)"}
    m = side.get("main", {})
    load = m.get("load", {})
    lat = load.get("latency_ms", {})
    relay = side["name"] == "graph-relay"
    rows["accepted msg/s"] = fmt(load.get("accepted_per_s"), "{:.0f}")
    rounds = side.get("rounds", [])
    if len(rounds) > 1:
        rows["accepted msg/s, every round"] = " ".join(
            f"{r['load'].get('accepted_per_s', 0):.0f}" for r in rounds)
    rows["end-of-DATA -> 250 p50 (ms)"] = fmt(lat.get("p50"), "{:.2f}")
    rows["end-of-DATA -> 250 p99 (ms)"] = fmt(lat.get("p99"), "{:.2f}")
    rows["end-of-DATA -> 250 max (ms)"] = fmt(lat.get("max"), "{:.2f}")
    rows["accepted / attempted"] = f"{load.get('accepted', 0)}/{load.get('attempted', 0)}"
    if load.get("sample_reply"):
        reply = load["sample_reply"]
        rows["end-of-DATA reply (first)"] = reply if len(reply) <= 40 else reply[:37] + "..."
    errs = load.get("errors") or {}
    rows["errors by reply code"] = ", ".join(f"{k}: {v}" for k, v in errs.items()) or "none"
    rows["end-to-end delivered msg/s"] = (fmt(m.get("e2e_per_s"), "{:.0f}") if m.get("e2e_per_s")
                                          else f"n/a ({m.get('e2e_note', '?')})"[:60])
    rows["CPU per message (ms)"] = fmt(m.get("cpu_ms_per_msg"), "{:.2f}")
    if relay:
        rows["peak RSS (MB)"] = fmt(mb(side.get("vm_hwm_kb")), "{:.1f}", " (VmHWM)")
        rows["processes"] = "1"
    else:
        rows["peak RSS (MB)"] = fmt(mb(m.get("peak_rss_kb_sum")), "{:.1f}", " (sum)")
        rows["processes"] = str(m.get("peak_processes", "?"))
    rows["peak PSS (MB, sampled sum)"] = fmt(mb(m.get("peak_pss_kb_sum")), "{:.1f}")
    rows["downstream CPU per message (ms)"] = fmt(m.get("downstream_cpu_ms_per_msg"), "{:.2f}",
                                                  " (graph-emulator)" if relay else " (smtp-sink)")
    rows["load generator CPU (s)"] = fmt(load.get("loadgen_cpu_s"), "{:.1f}")
    rows["harness CPU (s, sampling /proc)"] = fmt(m.get("harness_cpu_s"), "{:.2f}")
    rows["other processes' CPU (cores)"] = fmt(m.get("other_cores"), "{:.2f}")
    large = side.get("large")
    if large is not None:
        if "skipped" in large:
            rows["large scans"] = "skipped (see below)"
        else:
            rows["large scans: MB/s, start -> all delivered"] = (
                fmt(large.get("mb_per_s"), "{:.1f}") if large.get("mb_per_s")
                else large["not_relayed"] if large.get("not_relayed")
                else f"n/a ({large.get('e2e_note', '?')})"[:60])
            rows["large scans: CPU s per MB"] = fmt(large.get("cpu_s_per_mb"), "{:.3f}")
            rows["large scans: downstream CPU (s)"] = fmt(large.get("downstream_cpu_s"), "{:.1f}",
                                                          " (graph-emulator)" if relay else " (smtp-sink)")
            if relay:
                peak, idle = large.get("vm_hwm_kb"), large.get("idle_rss_kb")
                rows["large scans: peak RSS (MB)"] = fmt(mb(peak), "{:.1f}", " (VmHWM, fresh process)")
            else:
                peak, idle = large.get("peak_rss_kb_sum"), large.get("idle_rss_kb_sum")
                rows["large scans: peak RSS (MB)"] = fmt(mb(peak), "{:.1f}", " (sum, sampled)")
            rows["large scans: RSS growth over idle (MB)"] = fmt(
                mb(peak - idle) if peak is not None and idle is not None else None, "{:.1f}")
    return rows


def print_table(results: dict, args, info: dict):
    relay = side_rows(results["relay"]) if "relay" in results else {}
    postfix = side_rows(results["postfix"]) if "postfix" in results else {}
    keys = list(dict.fromkeys(list(relay.keys()) + list(postfix.keys())))
    rr = results.get("relay", {}).get("main", {}).get("load", {}).get("accepted_per_s")
    pp = results.get("postfix", {}).get("main", {}).get("load", {}).get("accepted_per_s")
    table = [("metric", "graph-relay", "postfix")]
    table += [(k, relay.get(k, "-"), postfix.get(k, "-")) for k in keys]
    if rr and pp:
        table.append(("accepted rate, graph-relay / postfix", f"{rr / pp:.2f}x (target >= 2x)", ""))
    w = [max(len(row[i]) for row in table) for i in range(3)]
    print()
    print(f"== graph-relay vs Postfix: {args.rounds} round(s) of {args.messages} messages x "
          f"{args.size} bytes, {args.concurrency} concurrent sessions, {args.per_session} message(s) "
          f"per session{', STARTTLS' if args.starttls else ''} (median round shown) ==")
    for i, row in enumerate(table):
        print("| " + " | ".join(row[j].ljust(w[j]) for j in range(3)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w[j] + 2) for j in range(3)) + "|")
    for side in ("relay", "postfix"):
        s = results.get(side, {})
        for k in ("skipped", "died"):
            if s.get(k):
                print(f"\n{s.get('name', side)}: {s[k]}")
        large = s.get("large") or {}
        if large.get("skipped"):
            print(f"\n{s.get('name', side)} large scans: {large['skipped']}")
        if large.get("died"):
            print(f"\n{s.get('name', side)} large scans: {large['died']}")
    if not args.skip_large:
        print(f"\nlarge scans: {args.large_messages} messages of {args.large_size / 1e6:.0f} MB (multipart/mixed, a base64 "
              f"attachment), {args.large_concurrency} sessions; graph-relay delivers them through drafts and upload sessions "
              f"into a graph-emulator process, Postfix into smtp-sink")
    print_single(results, args)
    print_handshakes(results.get("handshakes"), args)
    print_callgrind(results.get("callgrind"), args)
    auth = results.get("relay", {}).get("auth")
    if auth:
        print_auth(auth, args)
    pm = results.get("postfix", {}).get("main", {})
    if pm.get("cpu_by_process"):
        print("\npostfix CPU by process (s, median round): " +
              ", ".join(f"{k} {v:.2f}" for k, v in sorted(pm["cpu_by_process"].items(), key=lambda kv: -kv[1])))
    print("\nmachine: " + "; ".join(f"{k}: {v}" for k, v in info.items()))
    print(f"command: {args.command_line}")


def print_single(results: dict, args):
    sides = [results.get(k, {}) for k in ("relay", "postfix")]
    if args.skip_single or not any(s.get("single") for s in sides):
        return
    print(f"\none session at a time ({args.rounds} round(s) of {args.single_messages} messages, median round):")
    rates = []
    for s in sides:
        single = s.get("single")
        if not single:
            continue
        load = single.get("load", {})
        rate = load.get("accepted_per_s")
        rates.append(rate)
        every = " ".join(f"{r['load'].get('accepted_per_s', 0):.0f}" for r in s.get("single_rounds", []))
        lat = load.get("latency_ms", {})
        print(f"  {s['name']}: {fmt(rate, '{:.0f}')} msg/s (rounds {every}), end-of-DATA -> 250 p50 "
              f"{fmt(lat.get('p50'), '{:.2f}')} ms, p99 {fmt(lat.get('p99'), '{:.2f}')} ms, CPU per message "
              f"{fmt(single.get('cpu_ms_per_msg'), '{:.2f}')} ms")
    if len(rates) == 2 and all(rates):
        print(f"  accepted rate, graph-relay / postfix: {rates[0] / rates[1]:.2f}x (target >= 1.5x)")


def print_handshakes(by_key: dict | None, args):
    if not by_key:
        return
    for key_type, handshakes in by_key.items():
        print(f"\nTLS handshakes, {key_type} certificate (openssl s_time -new, {args.handshake_seconds:.0f} s per round, "
              f"the same certificate and key):")
        if handshakes.get("skipped"):
            print(f"  skipped: {handshakes['skipped']}")
            continue
        rounds = lambda key: " ".join(fmt(r, "{:.0f}") for r in handshakes.get(key, []))  # noqa: E731
        relay, server = handshakes.get("relay_median"), handshakes.get("server_median")
        print(f"  graph-relay, implicit TLS: {fmt(relay, '{:.0f}')}/s (rounds {rounds('relay_per_s')})")
        print(f"  openssl s_server:          {fmt(server, '{:.0f}')}/s (rounds {rounds('server_per_s')})")
        if relay and server:
            print(f"  graph-relay / s_server: {100 * relay / server:.0f} % (target >= 90 %)")


def print_callgrind(callgrind: dict | None, args):
    if not callgrind:
        return
    print(f"\ninstructions per accepted message (callgrind, {args.callgrind_messages} messages per round, "
          f"one session, a connection each, delivery waiting):")
    if callgrind.get("skipped"):
        print(f"  skipped: {callgrind['skipped']}")
        return
    rounds = " ".join(fmt(v / 1e6 if v else None, "{:.3f}") for v in callgrind.get("per_message", []))
    median = callgrind.get("median")
    print(f"  graph-relay: {fmt(median / 1e6 if median else None, '{:.3f}')} M (rounds {rounds})")


def print_auth(auth: dict, args):
    print(f"\nauthenticated sessions (graph-relay only; Postfix has no SASL here): {args.auth_sessions} sessions, "
          f"{args.auth_concurrency} at a time, each a new connection, STARTTLS, AUTH PLAIN (scrypt ln=15 hash), "
          f"one {args.size}-byte message, QUIT")
    if auth.get("skipped"):
        print(f"  skipped: {auth['skipped']}")
        return
    labels = {"cache_off": "authCacheTime: 0s (a full scrypt per login)", "cache_on": "authCacheTime: 10m (default)",
              "brute_force": f"default, while {args.auth_attackers} sessions brute-force from 127.0.0.2"}
    for key, label in labels.items():
        e = auth.get(key)
        if not e:
            continue
        load = e["load"]
        if e.get("skipped"):
            print(f"  {label}: {e['skipped']}")
            continue
        lat = load.get("latency_ms", {})
        line = (f"  {label}: {load.get('accepted_per_s', 0):.1f} sessions/s, relay CPU "
                f"{e['cpu_s'] / max(load.get('accepted', 1), 1) * 1000:.1f} ms/session, end-of-DATA p50 {lat.get('p50')} ms")
        if e.get("attacker"):
            line += f"; attacker: {', '.join(f'{k} {v}' for k, v in e['attacker'].items())}"
        print(line)
    on, attacked = (auth.get("cache_on") or {}).get("load", {}), (auth.get("brute_force") or {}).get("load", {})
    if on.get("accepted_per_s") and attacked.get("accepted_per_s"):
        print(f"  legitimate rate under brute force: {attacked['accepted_per_s'] / on['accepted_per_s']:.2f}x of undisturbed "
              f"(target: slowed by at most 2x, i.e. >= 0.50x)")


def build_load_generator(args, workdir: str) -> str | None:
    """Compiles smtpload.c into the work directory; None (smtpload.py for everything) when asked
    (--load-generator python) or when there is no C compiler."""
    if args.load_generator == "python":
        return None
    binary = os.path.join(workdir, "smtpload")
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        log("no C compiler (cc): the load generator is smtpload.py for every round")
        return None
    r = subprocess.run([compiler, "-O2", "-o", binary, SMTPLOAD_C], capture_output=True, text=True)
    if r.returncode != 0:
        log(f"smtpload.c did not compile; the load generator is smtpload.py:\n{r.stderr.strip()[-800:]}")
        return None
    return binary


def machine_info(args) -> dict:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    fs = "?"
    try:
        fs = subprocess.run(["df", "-T", args.workdir], capture_output=True, text=True).stdout.splitlines()[-1].split()[1]
    except (OSError, IndexError):
        pass
    load = os.getloadavg()
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
            "work dir filesystem": fs, "load average at start": f"{load[0]:.2f}",
            "python": platform.python_version()}


HANDSHAKE_KEYS = {"p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                  "rsa2048": ["-newkey", "rsa:2048"]}


def make_tls(workdir: str, key_type: str = "p256") -> tuple[str, str]:
    cert, key = os.path.join(workdir, "tls-cert.pem"), os.path.join(workdir, "tls-key.pem")
    r = subprocess.run(["openssl", "req", "-x509", *HANDSHAKE_KEYS[key_type],
                        "-nodes", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-days", "2", "-keyout", key, "-out", cert], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench: cannot create a test certificate with openssl: {r.stderr.strip()}")
    os.chmod(key, 0o644)   # Postfix's smtpd (user postfix) reads it; a throw-away key
    os.chmod(workdir, 0o755)
    return cert, key


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description="graph-relay vs Postfix SMTP benchmark (make bench)")
    p.add_argument("--messages", "-m", type=int, default=3000, help="messages per round (default 3000)")
    p.add_argument("--concurrency", "-c", type=int, default=20, help="concurrent SMTP sessions (default 20)")
    p.add_argument("--size", "-s", default="10KB", help="message size (default 10KB = 10000 bytes)")
    p.add_argument("--per-session", type=int, default=1, help="messages per connection (default 1, like a device)")
    p.add_argument("--rounds", type=int, default=5, help="measured rounds per side; the median is shown (default 5)")
    p.add_argument("--single-messages", type=int, default=1000,
                   help="messages per round of the one-session series (default 1000)")
    p.add_argument("--skip-single", action="store_true", help="no one-session series")
    p.add_argument("--load-generator", choices=["c", "python"], default="c",
                   help="plain-SMTP rounds driven by smtpload.c (compiled here; default) or smtpload.py "
                        "(STARTTLS and scans always use smtpload.py)")
    p.add_argument("--handshake-seconds", type=float, default=5,
                   help="length of each TLS handshake round, openssl s_time -new (default 5)")
    p.add_argument("--callgrind-messages", type=int, default=50,
                   help="messages per callgrind round (instructions per accepted message; default 50)")
    p.add_argument("--skip-callgrind", action="store_true", help="no callgrind case")
    p.add_argument("--handshake-keys", type=lambda text: [k for k in text.split(",") if k], default=["p256", "rsa2048"],
                   help="certificate key types of the TLS handshake case, comma-separated: p256, rsa2048 (default both)")
    p.add_argument("--skip-handshakes", action="store_true",
                   help="no TLS handshake case (graph-relay's implicit TLS against openssl s_server)")
    p.add_argument("--warmup", type=int, default=200, help="unmeasured messages first (default 200)")
    p.add_argument("--starttls", action="store_true", help="every session uses STARTTLS (self-signed cert)")
    p.add_argument("--large-size", default="30MB", help="size of each large scan (default 30MB)")
    p.add_argument("--large-messages", type=int, default=20, help="large scans relayed (default 20)")
    p.add_argument("--large-concurrency", type=int, default=4, help="sessions sending the large scans (default 4)")
    p.add_argument("--skip-large", action="store_true", help="no large-message case")
    p.add_argument("--auth-sessions", type=int, default=600,
                   help="authenticated sessions (STARTTLS, AUTH, one message) per AUTH case (default 600)")
    p.add_argument("--auth-concurrency", type=int, default=4, help="concurrent authenticated sessions (default 4)")
    p.add_argument("--auth-attackers", type=int, default=8, help="concurrent brute-force sessions (default 8)")
    p.add_argument("--skip-auth", action="store_true", help="no authenticated-session case")
    p.add_argument("--skip-relay", action="store_true", help="Postfix only")
    p.add_argument("--skip-postfix", action="store_true", help="graph-relay only")
    p.add_argument("--relay-bin", help="graph-relay binary (default: $GRAPH_RELAY_BIN, else build release)")
    p.add_argument("--relay-cmd", help="run this instead of '<bin> serve --config {config}' "
                   "(e.g. a stand-in for testing the harness); {config} is replaced by the config path")
    p.add_argument("--relay-template", default=os.path.join(HERE, "graph-relay.yaml.template"))
    p.add_argument("--relay-rate", type=int, default=10000,
                   help="scheduler.messagesPerMinute (default 10000, the configuration's maximum)")
    p.add_argument("--relay-concurrency", type=int, default=4, help="scheduler.concurrencyPerMailbox (default 4)")
    p.add_argument("--relay-log-level", default="info", help="logging.level (default info)")
    p.add_argument("--relay-delivered-pattern",
                   default=os.environ.get("BENCH_RELAY_DELIVERED_PATTERN", DELIVERED_PATTERN),
                   help="regex matching the relay's one log line per delivered message (default "
                        f"'{DELIVERED_PATTERN}'; '' to watch only the spool draining)")
    p.add_argument("--sender", default="relay@bench.example",
                   help="envelope sender and From: (default relay@bench.example, the route's mailbox, "
                        "so the emulator's send-as check passes)")
    p.add_argument("--spool-exclude", default="failed,bounced,corrupt",
                   help="spool subdirectories that do not hold queued messages (default failed,bounced,corrupt)")
    p.add_argument("--recipient", default="rcpt@bench.example", help="envelope recipient and To:")
    p.add_argument("--workdir", help="parent of the temporary directory (default /var/tmp: a real disk, "
                   "so fsync costs what it costs)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (configs, logs, spools)")
    p.add_argument("--json-out", help="also write every figure as JSON to this file")
    p.add_argument("--load-timeout", type=float, default=120, help="bound for one load run (s)")
    p.add_argument("--command-timeout", type=float, default=30, help="wait for one SMTP reply (s)")
    p.add_argument("--drain-timeout", type=float, default=60, help="wait for end-to-end delivery (s)")
    p.add_argument("--large-timeout", type=float, default=600, help="bound for the large scans (s)")
    p.add_argument("--start-timeout", type=float, default=60, help="wait for a server's greeting (s)")
    p.add_argument("--sample-interval", type=float, default=0.25,
                   help="RSS sampling interval (s; PSS and the process list every second)")
    a = p.parse_args(argv)
    a.size = parse_size(a.size)
    a.large_size = parse_size(a.large_size)
    a.spool_exclude = [x for x in a.spool_exclude.split(",") if x]
    a.relay_delivered_pattern = a.relay_delivered_pattern or None
    a.command_line = os.environ.get("BENCH_COMMAND") or " ".join(shlex.quote(x) for x in [sys.argv[0], *argv])
    if a.messages < 1 or a.concurrency < 1 or a.rounds < 1:
        p.error("--messages, --concurrency and --rounds must be at least 1")
    unknown = [k for k in a.handshake_keys if k not in HANDSHAKE_KEYS]
    if unknown or not a.handshake_keys:
        p.error(f"--handshake-keys takes {', '.join(HANDSHAKE_KEYS)} (comma-separated), not {','.join(unknown) or 'nothing'}")
    return a


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    base = args.workdir or "/var/tmp"
    workdir = tempfile.mkdtemp(prefix="graph-relay-bench.", dir=base)
    os.chmod(workdir, 0o755)
    args.workdir = workdir
    signal.signal(signal.SIGTERM, _terminate)
    atexit.register(run_cleanups)

    def remove_workdir():
        if args.keep:
            log(f"kept {workdir}")
        else:
            subprocess.run([*sudo, "rm", "-rf", workdir], capture_output=True)
    on_cleanup(remove_workdir)

    args.load_binary = build_load_generator(args, workdir)
    info = machine_info(args)
    info["load generator"] = ("smtpload.c (plain SMTP), smtpload.py (STARTTLS, scans)" if args.load_binary
                              else "smtpload.py")
    b0 = machine_busy_seconds()
    time.sleep(2)
    busy = (machine_busy_seconds() - b0) / 2
    info["busy before start"] = f"{busy:.2f} cores"
    if busy > 0.25:
        log(f"WARNING: other processes keep {busy:.2f} of {os.cpu_count()} cores busy: figures will be "
            f"low and noisy (see \"other processes' CPU\" per round)")
    tls = make_tls(workdir) if args.starttls else None
    results: dict = {"machine": info, "args": {k: v for k, v in vars(args).items()}}
    started = time.monotonic()
    try:
        if not args.skip_relay:
            results["relay"] = relay_side(args, workdir, tls)
        if not args.skip_postfix:
            results["postfix"] = postfix_side(args, workdir, sudo, tls)
        if not args.skip_handshakes and not args.skip_relay:
            command, _ = relay_command(args)
            if command is not None:
                results["handshakes"] = tls_handshakes(args, workdir, command)
        if not args.skip_callgrind and not args.skip_relay:
            command, _ = relay_command(args)
            if command is not None:
                results["callgrind"] = callgrind_case(args, workdir, command)
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); cleaning up")
        run_cleanups()
        return 130
    results["duration_s"] = round(time.monotonic() - started, 1)
    run_cleanups()
    print_table(results, args, info)
    print(f"duration: {results['duration_s']:.0f} s")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=2, default=str)
        log(f"wrote {args.json_out}")
    incomplete = [results[k]["name"] for k in ("relay", "postfix")
                  if k in results and (results[k].get("skipped") or results[k].get("died"))]
    if incomplete:
        print(f"bench: incomplete, not measured: {', '.join(incomplete)} (reason above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
