"""``wharfie stats``: a container's resource use, from its cgroups (``runc events --stats``)
and its network namespace, computed as the docker CLI computes its columns."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from wharfie.containers.lifecycle import runc
from wharfie.containers.store import Container


@dataclass(frozen=True)
class Sample:
    """One reading of a running container's counters."""

    cpu_ns: int  # CPU time its processes used
    system_ns: int  # CPU time the whole host has counted (/proc/stat), for the percentage
    memory: int  # usage less the inactive page cache, as docker shows it
    memory_limit: int
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    pids: int


@dataclass(frozen=True)
class ContainerStats:
    """What a ``docker stats`` row shows for one container (zeros when it is not running)."""

    container: Container
    cpu_percent: float = 0.0
    memory: int = 0
    memory_limit: int = 0
    net_rx: int = 0
    net_tx: int = 0
    block_read: int = 0
    block_write: int = 0
    pids: int = 0

    @property
    def memory_percent(self) -> float:
        return 100.0 * self.memory / self.memory_limit if self.memory_limit else 0.0


def _system_ns() -> int:
    """The host's total CPU time in ns: the first line of /proc/stat, as dockerd reads it."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _host_memory() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _network(pid: int, own_netns: bool) -> tuple[int, int]:
    """Bytes received and sent by the container's interfaces (loopback aside); a container
    on the host's network has none of its own, as docker shows it."""
    if not own_netns:
        return 0, 0
    rx = tx = 0
    try:
        lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    except OSError:
        return 0, 0
    for line in lines:
        name, _, counters = line.partition(":")
        if name.strip() != "lo":
            values = counters.split()
            rx, tx = rx + int(values[0]), tx + int(values[8])
    return rx, tx


def sample(root: Path, c: Container) -> Sample | None:
    """The container's counters now; None once it is not running."""
    res = runc(root, "events", "--stats", c.id, check=False)
    if res.returncode != 0:
        return None
    data = json.loads(res.stdout).get("data", {})
    memory = data.get("memory", {})
    raw = memory.get("raw", {})
    usage = memory.get("usage", {})
    inactive = raw.get("total_inactive_file", raw.get("inactive_file", 0))
    limit = usage.get("limit", 0)
    host = _host_memory()
    io = data.get("blkio", {}).get("ioServiceBytesRecursive") or []
    network = (c.host_config.get("NetworkMode") or "default") not in ("host",)
    rx, tx = _network(c.state.pid, network)
    return Sample(
        cpu_ns=data.get("cpu", {}).get("usage", {}).get("total", 0), system_ns=_system_ns(),
        memory=max(usage.get("usage", 0) - inactive, 0),
        memory_limit=min(limit, host) if limit and host else limit or host,
        net_rx=rx, net_tx=tx,
        block_read=sum(e.get("value", 0) for e in io if e.get("op", "").lower() == "read"),
        block_write=sum(e.get("value", 0) for e in io if e.get("op", "").lower() == "write"),
        pids=data.get("pids", {}).get("current", 0))


def stats(root: Path, containers: list[Container], interval: float = 0.5) -> list[ContainerStats]:
    """One row per container: two readings ``interval`` apart give the CPU percentage
    (docker's: the container's share of the host's CPU time, times the online CPUs)."""
    first = {c.id: sample(root, c) for c in containers if c.running}
    if first:
        time.sleep(interval)
    cpus = os.cpu_count() or 1
    out = []
    for c in containers:
        before, now = first.get(c.id), sample(root, c) if c.id in first else None
        if before is None or now is None:
            out.append(ContainerStats(c))
            continue
        system = now.system_ns - before.system_ns
        cpu = (now.cpu_ns - before.cpu_ns) / system * cpus * 100.0 if system > 0 else 0.0
        out.append(ContainerStats(c, max(cpu, 0.0), now.memory, now.memory_limit, now.net_rx,
                                  now.net_tx, now.block_read, now.block_write, now.pids))
    return out
