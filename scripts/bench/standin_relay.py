#!/usr/bin/env python3
"""A STAND-IN for graph-relay, only to test the benchmark harness itself. Never a measured result.

    python3 standin_relay.py serve --config FILE [--delivery-delay SECONDS]

Reads from the generated config only the listener address, smtp.maxMessageSize and
spool.directory (a few regular expressions, no YAML parser). Speaks minimal ESMTP; before
answering 250 it streams the message to spool/tmp/, fsyncs it, renames it into spool/queue/ and
fsyncs the directory. A background "delivery" task then removes queued files (after
--delivery-delay each; --log-deliveries prints a line for each), so the harness's spool-drain
and log-counting measurements have something to observe.
Messages over maxMessageSize get 552, as the relay would. AUTH PLAIN (with an initial response)
accepts the password 'standin-password' and refuses any other with 535.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import re
import sys

STANDIN_PASSWORD = b"standin-password"   # AUTH PLAIN accepts any user with this password
UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}


def parse_config(path: str):
    text = open(path).read()
    addr = re.search(r'address:\s*"?([0-9.]+):(\d+)"?', text)
    size = re.search(r"maxMessageSize:\s*([0-9.]+)\s*([A-Za-z]*)", text)
    spool = re.search(r"spool:\s*\{\s*directory:\s*([^,}\s]+)", text)
    if not addr or not spool:
        sys.exit(f"standin: cannot find listener address / spool directory in {path}")
    limit = int(float(size.group(1)) * UNITS[size.group(2).upper()]) if size else 3_000_000
    return addr.group(1), int(addr.group(2)), limit, spool.group(1)


class Spool:
    def __init__(self, directory: str, delay: float, log_deliveries: bool = False):
        self.tmp = os.path.join(directory, "tmp")
        self.queue = os.path.join(directory, "queue")
        os.makedirs(self.tmp, exist_ok=True)
        os.makedirs(self.queue, exist_ok=True)
        self.delay = delay
        self.log_deliveries = log_deliveries
        self.ids = itertools.count(1)
        self.pending: asyncio.Queue[str] = asyncio.Queue()

    def commit(self, tmp_path: str, qid: str) -> None:
        final = os.path.join(self.queue, qid)
        os.rename(tmp_path, final)
        fd = os.open(self.queue, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.pending.put_nowait(final)

    async def deliver_forever(self):
        while True:
            path = await self.pending.get()
            if self.delay:
                await asyncio.sleep(self.delay)
            try:
                os.unlink(path)
            except OSError:
                pass
            if self.log_deliveries:
                print(f"standin: delivered {os.path.basename(path)}", flush=True)


async def session(reader, writer, limit: int, spool: Spool):
    def send(line: str):
        writer.write(line.encode() + b"\r\n")

    send("220 standin.bench.local ESMTP stand-in (not graph-relay)")
    in_tx = False
    try:
        while True:
            line = await asyncio.wait_for(reader.readline(), 60)
            if not line:
                return
            cmd = line.decode("latin-1").strip()
            verb = cmd[:4].upper()
            if verb == "EHLO":
                writer.write(f"250-standin.bench.local\r\n250-SIZE {limit}\r\n250-8BITMIME\r\n250 PIPELINING\r\n".encode())
            elif verb == "HELO":
                send("250 standin.bench.local")
            elif verb == "MAIL":
                m = re.search(r"SIZE=(\d+)", cmd, re.IGNORECASE)
                if m and int(m.group(1)) > limit:
                    send("552 5.3.4 Message size exceeds fixed limit")
                else:
                    in_tx = True
                    send("250 2.1.0 Ok")
            elif verb == "RCPT":
                send("250 2.1.5 Ok" if in_tx else "503 5.5.1 need MAIL")
            elif verb == "DATA":
                if not in_tx:
                    send("503 5.5.1 need RCPT")
                    continue
                send("354 End data with <CR><LF>.<CR><LF>")
                await writer.drain()
                qid = f"{os.getpid()}-{next(spool.ids)}"
                tmp = os.path.join(spool.tmp, qid)
                size = 0
                too_big = False
                with open(tmp, "wb") as f:
                    while True:
                        data = await asyncio.wait_for(reader.readline(), 60)
                        if not data:
                            return
                        if data == b".\r\n":
                            break
                        size += len(data)
                        if size > limit:
                            too_big = True
                        elif not too_big:
                            f.write(data[1:] if data.startswith(b"..") else data)
                    f.flush()
                    if not too_big:
                        await asyncio.to_thread(os.fsync, f.fileno())
                if too_big:
                    os.unlink(tmp)
                    send("552 5.3.4 Message size exceeds fixed limit")
                else:
                    await asyncio.to_thread(spool.commit, tmp, qid)
                    send(f"250 2.0.0 Ok: queued as {qid}")
                in_tx = False
            elif verb == "RSET":
                in_tx = False
                send("250 2.0.0 Ok")
            elif verb == "QUIT":
                send("221 2.0.0 Bye")
                await writer.drain()
                return
            elif verb == "NOOP":
                send("250 2.0.0 Ok")
            elif verb == "AUTH":
                # AUTH PLAIN with an initial response; the one password is STANDIN_PASSWORD.
                parts = cmd.split()
                try:
                    fields = base64.b64decode(parts[2], validate=True).split(b"\0") if len(parts) == 3 else []
                except ValueError:
                    fields = []
                ok = len(fields) == 3 and fields[2] == STANDIN_PASSWORD
                send("235 2.7.0 Authentication successful" if ok else "535 5.7.8 Authentication credentials invalid")
            else:
                send("502 5.5.2 Command not recognized")
            await writer.drain()
    except (asyncio.TimeoutError, ConnectionError):
        return
    finally:
        writer.close()


async def main_async(config: str, delay: float, log_deliveries: bool):
    host, port, limit, spool_dir = parse_config(config)
    if host != "127.0.0.1":
        sys.exit("standin: listens on 127.0.0.1 only")
    spool = Spool(spool_dir, delay, log_deliveries)
    server = await asyncio.start_server(lambda r, w: session(r, w, limit, spool), host, port,
                                        limit=1 << 20, backlog=256)
    print(f"standin: listening on {host}:{port}, maxMessageSize {limit}, spool {spool_dir}", flush=True)
    async with server:
        await asyncio.gather(server.serve_forever(), spool.deliver_forever())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["serve"])
    p.add_argument("--config", required=True)
    p.add_argument("--delivery-delay", type=float, default=0.002)
    p.add_argument("--log-deliveries", action="store_true", help="print one line per delivered message")
    a = p.parse_args()
    try:
        asyncio.run(main_async(a.config, a.delivery_delay, a.log_deliveries))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
