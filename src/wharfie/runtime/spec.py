"""The OCI runtime spec (config.json) for one process, with Docker's defaults.

Defaults follow moby's oci/defaults.go and daemon/oci_linux.go: the mounts,
masked and read-only paths, the 14 default capabilities, no seccomp filter of
our own and ``noNewPrivileges`` off. Two facts of real hosts shape it: rlimits
are only ever lowered (raising one needs CAP_SYS_RESOURCE, which many hosts
lack: that is why ``podman run`` fails on them), and networking is the host's
or none (no bridge without a daemon).
"""

from __future__ import annotations

import ipaddress
import resource
from dataclasses import dataclass, field
from pathlib import Path

from wharfie.errors import InvalidInput
from wharfie.runtime.user import ExecUser

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEFAULT_CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]

MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

# runc's `runc spec` default; applied only as far as it lowers the current limits.
DEFAULT_RLIMITS: dict[str, tuple[int, int]] = {"RLIMIT_NOFILE": (1024, 1024)}

NETWORKS = ("host", "none")
RLIM_INFINITY_U64 = 2**64 - 1


@dataclass(frozen=True)
class Bind:
    """A host path bind-mounted into the container (``-v HOST:CTR[:ro]``)."""

    source: Path
    destination: str
    readonly: bool = False

    def mount(self) -> dict:
        return bind_mount(self.source, self.destination, self.readonly)


@dataclass(frozen=True)
class Tmpfs:
    """A fresh tmpfs (``RUN --mount=type=tmpfs``): in memory, gone with the process."""

    destination: str
    size: int | None = None

    def mount(self) -> dict:  # BuildKit's options: nosuid, and the size limit if given
        return _mount(self.destination, "tmpfs", "tmpfs",
                      ["nosuid"] + ([f"size={self.size}"] if self.size else []))


@dataclass
class ProcessConfig:
    """What to run and how: the part of a container the caller chooses."""

    args: list[str]
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    user: str = ""
    network: str = "host"
    hostname: str = "wharfie"
    binds: list[Bind | Tmpfs] = field(default_factory=list)
    tty: bool = False
    rlimits: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_RLIMITS))
    extra_hosts: list[tuple[str, str]] = field(default_factory=list)  # --add-host: name, IP
    shm_size: int = 64 << 20  # --shm-size: Docker's default /dev/shm is 64 MiB
    # directories made as mount points (/dev, /proc, /sys...) stay: docker's RUN layers
    # record them; files made for mounts (/etc/hosts) go either way
    keep_mount_dirs: bool = False
    primary_in_groups: bool = True  # docker run's; a build's RUN takes /etc/group's alone


def merge_env(base: list[str], override: list[str]) -> list[str]:
    """Docker's ReplaceOrAppendEnvValues: later ``K=V`` replace earlier ones in place."""
    out: dict[str, str] = {}
    for item in [*base, *override]:
        key = item.partition("=")[0]
        out[key] = item
    return list(out.values())


def process_env(cfg: ProcessConfig, user: ExecUser) -> list[str]:
    """The environment as Docker builds it: PATH and HOSTNAME first, TERM for a TTY, HOME."""
    defaults = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={cfg.hostname}"]
    if cfg.tty:
        defaults.append("TERM=xterm")
    env = merge_env(defaults, cfg.env)
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={user.home}")
    return env


def _rlimit_value(v: int) -> int:
    return RLIM_INFINITY_U64 if v == resource.RLIM_INFINITY or v < 0 else v


def safe_rlimits(wanted: dict[str, tuple[int, int]]) -> list[dict]:
    """``wanted`` (soft, hard) clamped to this process's hard limits: never raise one."""
    out = []
    for name, (soft, hard) in sorted(wanted.items()):
        res = getattr(resource, name, None)
        if not isinstance(res, int):
            raise InvalidInput(f"unknown rlimit {name}")
        cur_hard = _rlimit_value(resource.getrlimit(res)[1])
        hard = min(_rlimit_value(hard), cur_hard)
        soft = min(_rlimit_value(soft), hard)
        out.append({"type": name, "soft": soft, "hard": hard})
    return out


def _mount(dest: str, typ: str, source: str, options: list[str]) -> dict:
    return {"destination": dest, "type": typ, "source": source, "options": options}


def default_mounts(shm_size: int = 64 << 20) -> list[dict]:
    """/proc, /dev and friends, read-only /sys and cgroups, as Docker mounts them."""
    return [
        _mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        _mount("/dev/pts", "devpts", "devpts",
               ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", ["ro", "nosuid", "noexec", "nodev"]),
        _mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        _mount("/dev/shm", "tmpfs", "shm",
               ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]),
    ]


def parse_host(spec: str, gateway: str = "127.0.0.1") -> tuple[str, str]:
    """``--add-host NAME:IP`` or ``NAME=IP`` (an IPv6 address may be in brackets).

    ``host-gateway`` is Docker's name for the host as its containers reach it: ``gateway``,
    which is 127.0.0.1 for a container that shares the host's network (a build's RUN)."""
    sep = "=" if "=" in spec else ":"
    name, _, ip = spec.partition(sep)
    ip = gateway if ip == "host-gateway" else ip.strip("[]")
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise InvalidInput(f"invalid --add-host {spec!r}: want NAME:IP or "
                           "NAME:host-gateway") from None
    if not name or any(c.isspace() for c in name):
        raise InvalidInput(f"invalid --add-host {spec!r}: bad host name")
    return name, ip


def bind_mount(source: Path | str, dest: str, readonly: bool) -> dict:
    return _mount(dest, "bind", str(source),
                  ["rbind", "rprivate", *(["ro"] if readonly else ["rw"])])


def make_spec(rootfs: Path, cfg: ProcessConfig, user: ExecUser,
              etc_files: dict[str, Path]) -> dict:
    """config.json for running ``cfg`` as ``user`` in ``rootfs``.

    ``etc_files`` maps /etc/hosts, /etc/resolv.conf and /etc/hostname to host files
    that are bind-mounted read-only, as Docker does.
    """
    if cfg.network not in NETWORKS:
        raise InvalidInput(f"network {cfg.network!r} is not supported: use host or none")
    if not cfg.args:
        raise InvalidInput("no command specified")
    caps: dict[str, list[str]] = {"bounding": list(DEFAULT_CAPABILITIES)}
    if user.uid == 0:  # as execve does: a non-root process starts with empty sets
        caps["effective"] = list(DEFAULT_CAPABILITIES)
        caps["permitted"] = list(DEFAULT_CAPABILITIES)
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if cfg.network == "none":
        namespaces.append({"type": "network"})
    mounts = default_mounts(cfg.shm_size)
    mounts += [bind_mount(src, dest, True) for dest, src in sorted(etc_files.items())]
    mounts += [b.mount() for b in cfg.binds]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": cfg.tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": list(cfg.args),
            "env": process_env(cfg, user),
            "cwd": cfg.cwd or "/",
            "capabilities": caps,
            "rlimits": safe_rlimits(cfg.rlimits),
            "noNewPrivileges": False,
        },
        "root": {"path": str(rootfs), "readonly": False},
        "hostname": cfg.hostname,
        "mounts": mounts,
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }
