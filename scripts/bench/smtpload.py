#!/usr/bin/env python3
"""SMTP load generator for `make bench` (Python 3.11+ standard library only).

Drives N concurrent SMTP sessions against one loopback host:port and sends M messages of S bytes
in total, optionally upgrading each session with STARTTLS. Measures, per message, the time from
the end of DATA (the final CRLF.CRLF written and flushed) to the server's reply, and reports

  * accepted messages per second (accepted / wall time of the load phase),
  * p50 / p99 / max of that end-of-DATA -> 250 time,
  * every failure by stage and reply code (e.g. "DATA-end 451", "MAIL 421", "connect refused").

Safety: only loopback targets (127.0.0.0/8, ::1, localhost) are accepted; the run is bounded by
the message count and by --timeout (whole run) and --command-timeout (each reply), after which it
stops by itself and reports what it has.

Use as a module (`run_load(LoadSpec(...))`) or from the command line:

    python3 smtpload.py --port 2525 --messages 2000 --concurrency 20 --size 10KB [--starttls] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ipaddress
import json
import os
import random
import re
import socket
import ssl
import sys
import time
from dataclasses import dataclass, field

CRLF = b"\r\n"


# --------------------------------------------------------------------------------------------
# Specification and result
# --------------------------------------------------------------------------------------------

@dataclass
class LoadSpec:
    host: str = "127.0.0.1"
    port: int = 25
    messages: int = 1000
    concurrency: int = 20
    size: int = 10_000              # bytes of each message (header + body, before dot-stuffing)
    per_session: int = 1            # messages sent over one connection before QUIT
    starttls: bool = False
    timeout: float = 120.0          # the whole run
    command_timeout: float = 30.0   # one reply
    sender: str = "bench@bench.example"
    recipient: str = "rcpt@bench.example"
    helo: str = "loadgen.bench.local"
    tag: str = "bench"              # goes into Subject / Message-ID
    attachment: bool = False        # a scan: multipart/mixed, a short text and a base64 "PDF"
    auth_user: str | None = None    # AUTH PLAIN after (STARTTLS and) EHLO, like a printer
    auth_password: str = ""
    source: str | None = None       # local address to connect from (e.g. 127.0.0.2), loopback only


@dataclass
class LoadResult:
    spec: dict
    attempted: int = 0
    accepted: int = 0
    errors: dict = field(default_factory=dict)
    latencies: list = field(default_factory=list)   # seconds, end of DATA -> 250
    start: float = 0.0                              # time.monotonic() at start (CLOCK_MONOTONIC)
    end: float = 0.0                                # after the last session finished
    last_accept: float = 0.0
    timed_out: bool = False
    server_size_limit: int | None = None            # SIZE advertised in EHLO, if any
    first_error_text: dict = field(default_factory=dict)
    cpu_seconds: float = 0.0                        # this load generator's own CPU
    sample_reply: str | None = None                 # text of the first end-of-DATA 250

    @property
    def elapsed(self) -> float:
        return max(self.end - self.start, 1e-9)

    def summary(self) -> dict:
        lat = sorted(self.latencies)
        return {
            "spec": self.spec,
            "attempted": self.attempted,
            "accepted": self.accepted,
            "errors": dict(sorted(self.errors.items())),
            "error_examples": self.first_error_text,
            "elapsed_s": round(self.elapsed, 4),
            "accepted_per_s": round(self.accepted / self.elapsed, 2) if self.accepted else 0.0,
            "latency_ms": {
                "p50": _ms(percentile(lat, 50)),
                "p99": _ms(percentile(lat, 99)),
                "max": _ms(lat[-1] if lat else None),
                "mean": _ms(sum(lat) / len(lat) if lat else None),
            },
            "start_monotonic": self.start,
            "end_monotonic": self.end,
            "last_accept_monotonic": self.last_accept,
            "timed_out": self.timed_out,
            "server_size_limit": self.server_size_limit,
            "loadgen_cpu_s": round(self.cpu_seconds, 3),
            "sample_reply": self.sample_reply,
        }


def _ms(v):
    return None if v is None else round(v * 1000.0, 3)


def percentile(sorted_values: list, p: float):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil(n * p / 100), at least 1
    return sorted_values[int(min(rank, len(sorted_values))) - 1]


# --------------------------------------------------------------------------------------------
# Parsing helpers
# --------------------------------------------------------------------------------------------

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KIB|MIB|GIB)?\s*$", re.IGNORECASE)
_UNITS = {None: 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3,
          "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}


def parse_size(text: str | int) -> int:
    """'10KB' -> 10000, '30MB' -> 30000000, '1MiB' -> 1048576, '4096' -> 4096 (like the relay's config)."""
    if isinstance(text, int):
        return text
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError(f"'{text}' is not a size; use bytes or a unit: 10KB, 30MB, 1MiB")
    unit = m.group(2).upper() if m.group(2) else None
    return int(float(m.group(1)) * _UNITS[unit])


def require_loopback(host: str) -> None:
    """Refuse anything but a loopback target: this tool must never load another machine."""
    if host == "localhost":
        return
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise SystemExit(f"smtpload: target '{host}' is not a loopback address (use 127.0.0.1, ::1 or localhost)")
    if not addr.is_loopback:
        raise SystemExit(f"smtpload: refusing non-loopback target {host}: benchmarks only run against 127.0.0.0/8 or ::1")


# --------------------------------------------------------------------------------------------
# Message construction
# --------------------------------------------------------------------------------------------

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def make_body(nbytes: int) -> bytes:
    """Deterministic base64-looking text of about nbytes, 76 characters + CRLF per line (never a
    leading dot, so no dot-stuffing is needed)."""
    line_len = 76
    lines = []
    produced = 0
    i = 0
    while produced < nbytes:
        n = min(line_len, max(1, nbytes - produced - 2))
        line = bytes(_ALPHABET[(i * 7 + j) % 64] for j in range(n))
        lines.append(line + CRLF)
        produced += n + 2
        i += 1
    return b"".join(lines)


class MessageFactory:
    """Builds messages of the requested total size; the body is shared, only the header varies."""

    def __init__(self, spec: LoadSpec):
        self.spec = spec
        sample = self.header(0)
        body_len = max(16, spec.size - len(sample) - 2)
        if body_len > 64 * 1024 * 1024:
            raise ValueError("message too large for the in-memory body (max 64 MiB)")
        # Build one 76-character line pattern and repeat it: fast even for 30 MB.
        self.body = _attachment_body(body_len) if spec.attachment else _repeat_body(body_len)

    def header(self, n: int) -> bytes:
        s = self.spec
        pid = os.getpid()
        return (
            f"From: Bench Sender <{s.sender}>\r\n"
            f"To: <{s.recipient}>\r\n"
            f"Subject: {s.tag} message {n}\r\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
            f"Message-ID: <{s.tag}.{pid}.{n}.{time.monotonic_ns()}@loadgen.bench.local>\r\n"
            f"MIME-Version: 1.0\r\n"
            + ('Content-Type: multipart/mixed; boundary="=_scan_="\r\n' if s.attachment
               else "Content-Type: text/plain; charset=us-ascii\r\n")
        ).encode()

    def message(self, n: int) -> tuple[bytes, bytes]:
        """(header + empty line, body) — body ends with CRLF."""
        return self.header(n) + CRLF, self.body


def _attachment_body(nbytes: int) -> bytes:
    """A scan-to-email body of exactly nbytes: a short text part and a base64 attachment of
    pseudo-random bytes (like a compressed PDF) in 76-character lines."""
    head = (b"--=_scan_=\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nScanned document attached.\r\n"
            b"--=_scan_=\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"scan.pdf\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n")
    tail = b"--=_scan_=--\r\n"
    room = max(nbytes - len(head) - len(tail), 0)
    lines, rest = divmod(room, 78)              # 57 bytes of data = 76 characters + CRLF
    unit_lines = 64
    unit = base64.b64encode(random.Random(7).randbytes(57 * unit_lines))
    unit = b"".join(unit[i:i + 76] + b"\r\n" for i in range(0, len(unit), 76))
    reps, extra = divmod(lines, unit_lines)
    encoded = unit * reps + unit[:extra * 78]
    if rest >= 6:
        # A shorter last line of whole base64 groups; blanks (skipped by decoders) fill it up.
        encoded += b"QUJD" * ((rest - 2) // 4) + b" " * ((rest - 2) % 4) + b"\r\n"
    elif encoded:
        encoded = encoded[:-2] + b" " * rest + b"\r\n"
    else:
        head += b" " * rest
    return head + encoded + tail


def _repeat_body(nbytes: int) -> bytes:
    unit = make_body(78 * 64)             # 64 distinct lines
    reps, rest = divmod(nbytes, len(unit))
    body = unit * reps
    if rest:
        body += make_body(rest) if rest > 2 else CRLF[:rest]
    if not body.endswith(CRLF):
        body = body[:-2] + CRLF if len(body) >= 2 else CRLF
    return body


# --------------------------------------------------------------------------------------------
# SMTP client
# --------------------------------------------------------------------------------------------

class SMTPFailure(Exception):
    def __init__(self, stage: str, code: str, text: str = ""):
        super().__init__(f"{stage} {code} {text}".strip())
        self.stage, self.code, self.text = stage, code, text

    @property
    def key(self) -> str:
        return f"{self.stage} {self.code}"


class Watchdog:
    """Enforces --command-timeout for every session with one timer for all of them: a session
    waiting longer than that for a reply is aborted and reports a timeout. (A timeout context per
    reply — a timer armed and cancelled seven times per message — cost the load generator a fifth
    of its CPU, which the servers under test should get.)"""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.sessions: set = set()
        self.task: asyncio.Task | None = None

    def start(self):
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self):
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self):
        period = min(0.5, max(0.05, self.timeout / 4))
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for session in list(self.sessions):
                since = session.waiting_since
                if since is not None and now - since > self.timeout and session.writer is not None:
                    session.timed_out = True
                    session.writer.transport.abort()


class Session:
    def __init__(self, spec: LoadSpec, result: LoadResult, tls_context: ssl.SSLContext | None,
                 watchdog: Watchdog | None = None):
        self.spec, self.result, self.tls_context = spec, result, tls_context
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.extensions: dict[str, str] = {}
        self.watchdog = watchdog
        self.waiting_since: float | None = None     # when the current wait for a reply began
        self.timed_out = False

    async def reply(self, stage: str) -> tuple[int, str]:
        lines = []
        self.waiting_since = time.monotonic()
        try:
            return await self._reply(stage, lines)
        finally:
            self.waiting_since = None

    async def _reply(self, stage: str, lines: list) -> tuple[int, str]:
        while True:
            try:
                if self.watchdog is None:
                    async with asyncio.timeout(self.spec.command_timeout):
                        line = await self.reader.readline()
                else:
                    line = await self.reader.readline()
            except TimeoutError:
                raise SMTPFailure(stage, "timeout", f"no reply within {self.spec.command_timeout}s")
            except (ConnectionError, OSError) as e:
                if self.timed_out:
                    raise SMTPFailure(stage, "timeout", f"no reply within {self.spec.command_timeout}s")
                raise SMTPFailure(stage, "connection-error", str(e))
            if not line:
                if self.timed_out:
                    raise SMTPFailure(stage, "timeout", f"no reply within {self.spec.command_timeout}s")
                raise SMTPFailure(stage, "closed", "server closed the connection")
            if len(line) < 4 or not line[:3].isdigit():
                raise SMTPFailure(stage, "bad-reply", line[:80].decode("latin-1").strip())
            lines.append(line[4:].decode("latin-1").rstrip("\r\n"))
            if line[3:4] != b"-":
                return int(line[:3]), "\n".join(lines)

    async def command(self, stage: str, cmd: bytes, expect: int) -> str:
        self.writer.write(cmd + CRLF)
        code, text = await self.reply(stage)
        if code != expect:
            raise SMTPFailure(stage, str(code), text.split("\n")[-1][:200])
        return text

    async def ehlo(self):
        text = await self.command("EHLO", b"EHLO " + self.spec.helo.encode(), 250)
        self.extensions = {}
        for line in text.split("\n")[1:]:
            parts = line.split(None, 1)
            if parts:
                self.extensions[parts[0].upper()] = parts[1] if len(parts) > 1 else ""
        if "SIZE" in self.extensions and self.extensions["SIZE"].strip().isdigit():
            self.result.server_size_limit = int(self.extensions["SIZE"])

    async def open(self):
        s = self.spec
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(s.host, s.port, limit=1 << 16,
                                        local_addr=(s.source, 0) if s.source else None), s.command_timeout)
        except ConnectionRefusedError:
            raise SMTPFailure("connect", "refused")
        except asyncio.TimeoutError:
            raise SMTPFailure("connect", "timeout")
        except OSError as e:
            raise SMTPFailure("connect", "error", str(e))
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code, text = await self.reply("greeting")
        if code != 220:
            raise SMTPFailure("greeting", str(code), text[:200])
        await self.ehlo()
        if s.starttls:
            if "STARTTLS" not in self.extensions:
                raise SMTPFailure("STARTTLS", "not-offered")
            await self.command("STARTTLS", b"STARTTLS", 220)
            try:
                await asyncio.wait_for(
                    self.writer.start_tls(self.tls_context, server_hostname=None), s.command_timeout)
            except (ssl.SSLError, OSError, asyncio.TimeoutError) as e:
                raise SMTPFailure("STARTTLS", "handshake", str(e)[:200])
            await self.ehlo()
        if s.auth_user is not None:
            token = base64.b64encode(b"\0" + s.auth_user.encode() + b"\0" + s.auth_password.encode())
            await self.command("AUTH", b"AUTH PLAIN " + token, 235)

    async def send(self, factory: MessageFactory, n: int) -> float:
        """One transaction; returns the end-of-DATA -> 250 time in seconds."""
        head, body = factory.message(n)
        size = len(head) + len(body)
        mail = b"MAIL FROM:<" + self.spec.sender.encode() + b">"
        if "SIZE" in self.extensions:
            mail += b" SIZE=" + str(size).encode()
        await self.command("MAIL", mail, 250)
        await self.command("RCPT", b"RCPT TO:<" + self.spec.recipient.encode() + b">", 250)
        await self.command("DATA", b"DATA", 354)
        w = self.writer
        try:
            w.write(head)
            chunk = 1 << 20
            async with asyncio.timeout(self.spec.command_timeout):
                for off in range(0, len(body), chunk):
                    w.write(body[off:off + chunk])
                    await w.drain()
                w.write(b".\r\n")
                await w.drain()
        except TimeoutError:
            raise SMTPFailure("DATA-body", "timeout", "server did not read the message")
        except (ConnectionError, OSError) as e:
            raise SMTPFailure("DATA-body", "connection-error", str(e)[:200])
        t0 = time.monotonic()
        code, text = await self.reply("DATA-end")
        t1 = time.monotonic()
        if code != 250:
            raise SMTPFailure("DATA-end", str(code), text.split("\n")[-1][:200])
        if self.result.sample_reply is None:
            self.result.sample_reply = f"250 {text[:200]}"
        return t1 - t0

    async def close(self, polite: bool):
        if self.writer is None:
            return
        try:
            if polite:
                self.writer.write(b"QUIT\r\n")
                await asyncio.wait_for(self.reply("QUIT"), 5)
        except Exception:
            pass
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 5)
        except Exception:
            pass


def _record_error(result: LoadResult, failure: SMTPFailure):
    result.errors[failure.key] = result.errors.get(failure.key, 0) + 1
    result.first_error_text.setdefault(failure.key, failure.text[:200])


async def _worker(spec, result, factory, counter, tls_context, deadline, watchdog=None):
    while True:
        if time.monotonic() >= deadline:
            return
        if counter[0] >= spec.messages:
            return
        session = Session(spec, result, tls_context, watchdog)
        if watchdog is not None:
            watchdog.sessions.add(session)
        polite = True
        try:
            await session.open()
            sent_here = 0
            while sent_here < spec.per_session and counter[0] < spec.messages:
                if time.monotonic() >= deadline:
                    return
                n = counter[0]
                counter[0] += 1
                result.attempted += 1
                sent_here += 1
                try:
                    latency = await session.send(factory, n)
                except SMTPFailure as f:
                    _record_error(result, f)
                    if f.stage in ("DATA-body",) or f.code in ("closed", "timeout", "connection-error", "bad-reply", "421"):
                        polite = False
                        break
                    # A refused transaction: reset and go on with the next message in this session.
                    try:
                        await session.command("RSET", b"RSET", 250)
                    except SMTPFailure as f2:
                        _record_error(result, f2)
                        polite = False
                        break
                    continue
                result.accepted += 1
                result.latencies.append(latency)
                result.last_accept = time.monotonic()
        except SMTPFailure as f:
            # The session never got to a transaction: it costs one message (so a dead server
            # ends the run), unless other workers have used up the count meanwhile.
            polite = False
            if counter[0] < spec.messages:
                counter[0] += 1
                result.attempted += 1
                _record_error(result, f)
            await asyncio.sleep(0.05)   # do not spin on a dead server
        finally:
            await session.close(polite)
            if watchdog is not None:
                watchdog.sessions.discard(session)


async def run_load_async(spec: LoadSpec) -> LoadResult:
    require_loopback(spec.host)
    if spec.source:
        require_loopback(spec.source)
    if spec.messages < 0 or spec.concurrency < 1 or spec.per_session < 1:
        raise ValueError("messages >= 0, concurrency >= 1 and per_session >= 1 required")
    result = LoadResult(spec=dict(spec.__dict__))
    factory = MessageFactory(spec)
    tls_context = None
    if spec.starttls:
        tls_context = ssl.create_default_context()
        tls_context.check_hostname = False
        tls_context.verify_mode = ssl.CERT_NONE     # loopback benchmark against a self-signed cert
    counter = [0]
    cpu0 = time.process_time()
    result.start = time.monotonic()
    deadline = result.start + spec.timeout
    watchdog = Watchdog(spec.command_timeout)
    watchdog.start()
    workers = [asyncio.create_task(_worker(spec, result, factory, counter, tls_context, deadline, watchdog))
               for _ in range(min(spec.concurrency, max(1, spec.messages)))]
    try:
        await asyncio.wait_for(asyncio.gather(*workers), spec.timeout + spec.command_timeout + 10)
    except asyncio.TimeoutError:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    await watchdog.stop()
    result.end = time.monotonic()
    result.timed_out = result.end >= deadline and result.attempted < spec.messages
    if result.timed_out:
        result.errors["run timeout (not attempted)"] = spec.messages - result.attempted
    result.cpu_seconds = time.process_time() - cpu0
    return result


def run_load(spec: LoadSpec) -> LoadResult:
    return asyncio.run(run_load_async(spec))


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--messages", "-m", type=int, default=1000, help="total messages (default 1000)")
    p.add_argument("--concurrency", "-c", type=int, default=20, help="concurrent sessions (default 20)")
    p.add_argument("--size", "-s", default="10KB", help="message size, e.g. 10KB, 30MB (default 10KB)")
    p.add_argument("--per-session", type=int, default=1,
                   help="messages per connection before QUIT (default 1, like a device)")
    p.add_argument("--starttls", action="store_true", help="upgrade every session with STARTTLS")
    p.add_argument("--timeout", type=float, default=120.0, help="bound for the whole run in seconds (default 120)")
    p.add_argument("--command-timeout", type=float, default=30.0, help="wait for one reply (default 30)")
    p.add_argument("--tag", default="bench")
    p.add_argument("--sender", default="bench@bench.example", help="envelope sender and From:")
    p.add_argument("--recipient", default="rcpt@bench.example", help="envelope recipient and To:")
    p.add_argument("--attachment", action="store_true",
                   help="messages are scans: multipart/mixed with a base64 attachment filling the size")
    p.add_argument("--auth-user", help="AUTH PLAIN as this user after EHLO (with --starttls: after STARTTLS)")
    p.add_argument("--auth-password", default="", help="the password for --auth-user")
    p.add_argument("--source", help="connect from this loopback address (e.g. 127.0.0.2)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    a = p.parse_args(argv)
    spec = LoadSpec(host=a.host, port=a.port, messages=a.messages, concurrency=a.concurrency,
                    size=parse_size(a.size), per_session=a.per_session, starttls=a.starttls,
                    timeout=a.timeout, command_timeout=a.command_timeout, tag=a.tag,
                    sender=a.sender, recipient=a.recipient, attachment=a.attachment,
                    auth_user=a.auth_user, auth_password=a.auth_password, source=a.source)
    result = run_load(spec)
    s = result.summary()
    if a.json:
        print(json.dumps(s))
    else:
        lat = s["latency_ms"]
        print(f"accepted {s['accepted']}/{spec.messages} in {s['elapsed_s']:.2f}s = {s['accepted_per_s']:.1f} msg/s; "
              f"end-of-DATA->250 p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms")
        for k, v in s["errors"].items():
            print(f"  error {k}: {v}  ({s['error_examples'].get(k, '')})")
    return 0 if s["accepted"] == spec.messages else 1


if __name__ == "__main__":
    sys.exit(main())
