"""Runs graph-relay (or any stand-in taking the same arguments) for the benchmark.

    relay = RelayInstance(directory, command=[BIN, "serve", "--config", "{config}"], port=P, ...)
    relay.start()            # renders the config template, starts, waits for the 220 greeting
    relay.spool_count()      # queued files in the spool (None when the spool is not observable)
    relay.delivered_count()  # log lines matching --relay-delivered-pattern (None without one)
    relay.stop()             # SIGTERM, then SIGKILL after a grace period
"""

from __future__ import annotations

import os
import re
import signal
import string
import subprocess

from postfix_instance import wait_for_greeting


class RelayStartError(RuntimeError):
    pass


class RelayInstance:
    def __init__(self, directory: str, command: list[str], template: str, port: int,
                 variables: dict[str, str], spool_exclude: list[str],
                 delivered_pattern: str | None = None, start_timeout: float = 60,
                 cwd: str | None = None):
        self.dir = os.path.abspath(directory)
        self.config_path = os.path.join(self.dir, "graph-relay.yaml")
        self.spool_dir = os.path.join(self.dir, "spool")
        self.log_path = os.path.join(self.dir, "relay.log")
        self.command = [c.replace("{config}", self.config_path) for c in command]
        self.template, self.port = template, port
        self.variables = variables
        self.spool_exclude = set(spool_exclude)
        self.delivered_re = re.compile(delivered_pattern) if delivered_pattern else None
        self.start_timeout = start_timeout
        self.cwd = cwd or self.dir     # relative commands (--relay-cmd) resolve from here
        self.proc: subprocess.Popen | None = None
        self._log_offset = 0
        self._delivered = 0
        self._log_file = None

    def render_config(self) -> str:
        with open(self.template) as f:
            text = f.read()
        values = {"PORT": str(self.port), "SPOOL_DIR": self.spool_dir, **self.variables}
        try:
            rendered = string.Template(text).substitute(values)
        except KeyError as e:
            raise RelayStartError(f"config template {self.template} uses unknown field {e}")
        os.makedirs(self.dir, exist_ok=True)
        # Private (0600): graph-relay warns about a configuration other users can read.
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(rendered)
        os.chmod(self.config_path, 0o600)
        return rendered

    def start(self, implicit_tls: bool = False):
        self.render_config()
        os.makedirs(self.spool_dir, exist_ok=True)
        self._log_file = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(self.command, stdout=self._log_file, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.cwd)
        except OSError as e:
            raise RelayStartError(f"cannot run {self.command[0]}: {e}")
        greeting = wait_for_greeting(self.port, self.start_timeout, lambda: self.proc.poll() is None,
                                     implicit_tls=implicit_tls)
        if greeting is None:
            status = self.proc.poll()
            self.stop()
            what = (f"exited with status {status}" if status is not None
                    else f"did not greet on 127.0.0.1:{self.port} within {self.start_timeout:.0f}s")
            raise RelayStartError(f"{os.path.basename(self.command[0])} {what}; last output:\n"
                                  f"{self.log_tail()}")
        return greeting

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 12) -> str:
        try:
            with open(self.log_path, "r", errors="replace") as f:
                lines = f.readlines()[-n:]
            return "".join("    " + line for line in lines) or "    (no output)"
        except OSError:
            return "    (no log)"

    def spool_count(self) -> int | None:
        """Files of queued messages: those in spool/queue/ when it exists (graph-relay's layout,
        docs/spool.md; an empty .eml without a .json is a slot, made ahead for a message to come,
        and not counted), else every regular file under spool/ outside the spool_exclude
        directories (failed, ...). None when there is no spool directory."""
        queue = os.path.join(self.spool_dir, "queue")
        if os.path.isdir(queue):
            try:
                entries = [e for e in os.scandir(queue) if e.is_file()]
                metadata = {e.name[:-len(".json")] for e in entries if e.name.endswith(".json")}
                return sum(1 for e in entries
                           if not (e.name.endswith(".eml") and e.name[:-len(".eml")] not in metadata
                                   and e.stat().st_size == 0))
            except OSError:
                return None
        if not os.path.isdir(self.spool_dir):
            return None
        n = 0
        for root, dirs, files in os.walk(self.spool_dir):
            dirs[:] = [d for d in dirs if d not in self.spool_exclude]
            n += len(files)
        return n

    def delivered_count(self) -> int | None:
        """Log lines matching the delivered pattern so far (read incrementally)."""
        if self.delivered_re is None:
            return None
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                data = f.read()
        except OSError:
            return None
        end = data.rfind(b"\n") + 1          # only complete lines
        if end:
            for line in data[:end].decode("utf-8", "replace").splitlines():
                if self.delivered_re.search(line):
                    self._delivered += 1
            self._log_offset += end
        return self._delivered

    def stop(self, grace: float = 15):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
