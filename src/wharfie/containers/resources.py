"""A container's resource limits (``run -m --memory-swap --cpus -c --pids-limit --ulimit``,
``update``): parsed and checked as dockerd checks them, kept in docker's HostConfig fields,
and applied through the OCI spec's cgroup settings (or ``runc update`` while it runs)."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field

from wharfie.errors import InvalidInput
from wharfie.units import parse_size

MIN_MEMORY = 6 << 20  # dockerd refuses less: "Minimum memory limit allowed is 6MB"
CPU_PERIOD = 100_000  # µs, the CFS period docker uses for --cpus


@dataclass
class Limits:
    """Docker's HostConfig resource fields; 0 (or None for swap) means not set."""

    memory: int = 0
    memory_swap: int | None = None  # memory + swap; -1 unlimited
    nano_cpus: int = 0
    cpu_shares: int = 0
    pids_limit: int = 0
    ulimits: list[dict] = field(default_factory=list)  # [{"Name", "Soft", "Hard"}]

    @classmethod
    def parse(cls, *, memory: str | None = None, memory_swap: str | None = None,
              cpus: str | None = None, cpu_shares: int | None = None,
              pids_limit: int | None = None, ulimits: list[str] = ()) -> Limits:
        out = cls(memory=parse_size(memory, binary=True) if memory else 0,
                  cpu_shares=cpu_shares or 0, pids_limit=pids_limit or 0,
                  ulimits=[parse_ulimit(u) for u in ulimits])
        if memory_swap:
            out.memory_swap = -1 if memory_swap == "-1" else parse_size(memory_swap, binary=True)
        if cpus:
            try:
                out.nano_cpus = round(float(cpus) * 1e9)
            except ValueError:
                raise InvalidInput(f"invalid argument {cpus!r} for \"--cpus\" flag") from None
        out.check()
        return out

    def check(self) -> None:
        """dockerd's checks, with its messages."""
        if self.memory and self.memory < MIN_MEMORY:
            raise InvalidInput("Minimum memory limit allowed is 6MB")
        if self.memory_swap not in (None, -1) and self.memory_swap > 0:
            if not self.memory:
                raise InvalidInput("You should always set the Memory limit when using "
                                   "Memoryswap limit, see usage")
            if self.memory_swap < self.memory:
                raise InvalidInput("Minimum memoryswap limit should be larger than memory "
                                   "limit, see usage")
        cpus = os.cpu_count() or 1
        if self.nano_cpus < 0 or self.nano_cpus > cpus * 1_000_000_000:
            raise InvalidInput(f"Range of CPUs is from 0.01 to {cpus}.00, as there are only "
                               f"{cpus} CPUs available")
        if self.cpu_shares < 0:
            raise InvalidInput("invalid CPU shares: must be positive")

    def host_config(self) -> dict:
        """As dockerd records them: swap twice the memory when only memory is set."""
        swap = self.memory_swap or (2 * self.memory if self.memory else 0)
        return {"Memory": self.memory, "MemorySwap": swap,
                "NanoCpus": self.nano_cpus, "CpuShares": self.cpu_shares,
                "PidsLimit": self.pids_limit or None, "Ulimits": self.ulimits or None}

    @classmethod
    def of(cls, host_config: dict) -> Limits:
        return cls(memory=host_config.get("Memory") or 0,
                   memory_swap=host_config.get("MemorySwap") or None,
                   nano_cpus=host_config.get("NanoCpus") or 0,
                   cpu_shares=host_config.get("CpuShares") or 0,
                   pids_limit=host_config.get("PidsLimit") or 0,
                   ulimits=list(host_config.get("Ulimits") or []))

    def merged(self, update: Limits) -> Limits:
        """These limits with what ``update`` sets (``docker update``)."""
        return Limits(memory=update.memory or self.memory,
                      memory_swap=update.memory_swap if update.memory_swap is not None
                      else self.memory_swap,
                      nano_cpus=update.nano_cpus or self.nano_cpus,
                      cpu_shares=update.cpu_shares or self.cpu_shares,
                      pids_limit=update.pids_limit or self.pids_limit, ulimits=self.ulimits)

    def oci_resources(self) -> dict:
        """``linux.resources`` entries (besides devices). Without --memory-swap, swap is as
        large as the memory (memsw = 2x), as docker sets it."""
        out: dict = {}
        if self.memory:
            swap = self.memory_swap if self.memory_swap else 2 * self.memory
            out["memory"] = {"limit": self.memory, "swap": swap}
        if self.nano_cpus or self.cpu_shares:
            cpu: dict = {}
            if self.nano_cpus:
                cpu.update(period=CPU_PERIOD, quota=self.nano_cpus * CPU_PERIOD // 1_000_000_000)
            if self.cpu_shares:
                cpu["shares"] = self.cpu_shares
            out["cpu"] = cpu
        if self.pids_limit:
            out["pids"] = {"limit": self.pids_limit}
        return out

    def rlimits(self) -> dict[str, tuple[int, int]]:
        return {f"RLIMIT_{u['Name'].upper()}": (u["Soft"], u["Hard"]) for u in self.ulimits}

    def runc_update_args(self) -> list[str]:
        res = self.oci_resources()
        args = []
        if "memory" in res:
            args += ["--memory", str(res["memory"]["limit"]),
                     "--memory-swap", str(res["memory"]["swap"])]
        if "cpu" in res:
            for key, flag in (("period", "--cpu-period"), ("quota", "--cpu-quota"),
                              ("shares", "--cpu-share")):
                if key in res["cpu"]:
                    args += [flag, str(res["cpu"][key])]
        if "pids" in res:
            args += ["--pids-limit", str(res["pids"]["limit"])]
        return args


def parse_ulimit(spec: str) -> dict:
    """``nofile=1024[:2048]`` as docker reads it. wharfie cannot raise a hard limit above its
    own (this host's root lacks CAP_SYS_RESOURCE), so that is refused here, in one line."""
    name, eq, values = spec.partition("=")
    res = getattr(resource, f"RLIMIT_{name.upper()}", None)
    soft_text, _, hard_text = values.partition(":")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if hard_text else soft
    except ValueError:
        raise InvalidInput(f"invalid ulimit argument: {spec}") from None
    if not eq or res is None or not name.islower():
        raise InvalidInput(f"invalid ulimit type: {name}")
    if soft > hard:
        raise InvalidInput(f"ulimit soft limit must be less than or equal to hard limit: "
                           f"{soft} > {hard}")
    own = resource.getrlimit(res)[1]
    if own != resource.RLIM_INFINITY and hard > own:
        raise InvalidInput(f"ulimit {name}: hard limit {hard} is above wharfie's own ({own}), "
                           "which it cannot raise")
    return {"Name": name, "Hard": hard, "Soft": soft}
