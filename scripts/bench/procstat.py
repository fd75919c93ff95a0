"""CPU time and memory of a process tree, read from /proc (Linux, standard library only).

CPU accounting survives short-lived children: a process's own utime+stime plus cutime+cstime (the
CPU of children it has reaped). Summing that over the root and every live descendant gives a total
that only grows, so the difference of two snapshots is the CPU the tree used in between even when
workers (Postfix's smtpd, cleanup, smtp...) exit in the meantime.

Memory: VmHWM (peak RSS of one process over its life, from the kernel), and a sampler thread
that records the largest total VmRSS (and PSS when readable) over the tree while a phase runs.
"""

from __future__ import annotations

import os
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str | None:
    try:
        with open(path, "r") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def stat_fields(pid: int) -> tuple[str, list[str]] | None:
    """(comm, fields after comm) of /proc/PID/stat; fields[0] is the state (field 3)."""
    text = _read(f"/proc/{pid}/stat")
    if text is None:
        return None
    lp, rp = text.find("("), text.rfind(")")
    return text[lp + 1:rp], text[rp + 2:].split()


def all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def tree(root: int) -> dict[int, str]:
    """{pid: comm} for root and all its live descendants."""
    parent: dict[int, int] = {}
    comm: dict[int, str] = {}
    for pid in all_pids():
        st = stat_fields(pid)
        if st is None:
            continue
        comm[pid] = st[0]
        parent[pid] = int(st[1][1])
    if root not in comm:
        return {}
    children: dict[int, list[int]] = {}
    for pid, pp in parent.items():
        children.setdefault(pp, []).append(pid)
    out, todo = {}, [root]
    while todo:
        p = todo.pop()
        out[p] = comm.get(p, "?")
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid: int) -> float | None:
    """utime + stime + cutime + cstime of one process, in seconds."""
    st = stat_fields(pid)
    if st is None:
        return None
    f = st[1]
    # fields after comm: [0]=state ... utime is field 14 overall -> index 11 here
    return (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / CLK_TCK


def tree_cpu(roots: list[int]) -> tuple[float, dict[str, float]]:
    """Total CPU seconds of the trees under roots, and a breakdown by process name."""
    total = 0.0
    by_name: dict[str, float] = {}
    seen = set()
    for root in roots:
        for pid, name in tree(root).items():
            if pid in seen:
                continue
            seen.add(pid)
            c = cpu_seconds(pid)
            if c is None:
                continue
            total += c
            by_name[name] = by_name.get(name, 0.0) + c
    return total, by_name


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores; /proc/stat, idle and iowait excluded)."""
    text = _read("/proc/stat") or ""
    for line in text.splitlines():
        if line.startswith("cpu "):
            v = [int(x) for x in line.split()[1:]]
            # user nice system idle iowait irq softirq steal guest guest_nice
            return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / CLK_TCK
    return 0.0


def status_kb(pid: int, key: str) -> int | None:
    text = _read(f"/proc/{pid}/status")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def pss_kb(pid: int) -> int | None:
    text = _read(f"/proc/{pid}/smaps_rollup")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def rss_kb(pid: int) -> int | None:
    """Current resident set size from /proc/PID/statm (cheaper than parsing status)."""
    text = _read(f"/proc/{pid}/statm")
    if text is None:
        return None
    try:
        return int(text.split()[1]) * PAGE_KB
    except (IndexError, ValueError):
        return None


class MemorySampler:
    """Samples total VmRSS of the trees under roots every `interval` seconds, and total PSS
    (smaps_rollup: costly, the kernel walks the page tables) and the process list every
    `slow_interval` seconds. The sampler runs in the harness and takes CPU from the server being
    measured, so it is kept cheap: about 1-3 % of a core for Postfix's ~80 processes."""

    def __init__(self, roots: list[int], interval: float = 0.25, pss: bool = True,
                 slow_interval: float = 1.0):
        self.roots, self.interval, self.want_pss = roots, interval, pss
        self.slow_interval = slow_interval
        self.peak_rss_kb = 0
        self.peak_pss_kb: int | None = 0 if pss else None
        self.peak_processes = 0
        self.max_single_hwm_kb = 0
        self._pids: list[int] = []
        self._last_slow = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _refresh(self):
        pids = set()
        for root in self.roots:
            pids.update(tree(root).keys())
        self._pids = sorted(pids)
        self.peak_processes = max(self.peak_processes, len(pids))
        for pid in self._pids:
            h = status_kb(pid, "VmHWM")
            if h is not None and h > self.max_single_hwm_kb:
                self.max_single_hwm_kb = h
        if self.peak_pss_kb is not None:
            pss = 0
            for pid in self._pids:
                p = pss_kb(pid)
                if p is not None:
                    pss += p
                elif rss_kb(pid) is not None:
                    self.peak_pss_kb = None    # alive but smaps_rollup unreadable (permissions)
                    break
            else:
                self.peak_pss_kb = max(self.peak_pss_kb, pss)

    def sample(self, slow: bool | None = None):
        now = time.monotonic()
        if slow or (slow is None and now - self._last_slow >= self.slow_interval):
            self._last_slow = now
            self._refresh()
        rss = 0
        for pid in self._pids:
            r = rss_kb(pid)
            if r is not None:
                rss += r
        self.peak_rss_kb = max(self.peak_rss_kb, rss)

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self.sample(slow=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self.sample(slow=True)
        return False
