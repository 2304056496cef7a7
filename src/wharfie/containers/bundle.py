"""The OCI bundle of a container: runtime.spec's Docker defaults plus what ``docker run``'s
flags change (hostname, capabilities, read-only root, privileged, --init, tmpfs, volumes,
the network namespace) and the /etc files Docker writes for each container.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from wharfie.containers.devices import spec_devices
from wharfie.containers.resources import Limits
from wharfie.containers.store import Container
from wharfie.errors import InvalidInput
from wharfie.fs import inroot as rfs
from wharfie.runtime.spec import (
    DEFAULT_CAPABILITIES,
    DEFAULT_RLIMITS,
    Bind,
    ProcessConfig,
    bind_mount,
    make_spec,
)
from wharfie.runtime.user import resolve_user

# by bit number (linux/capability.h), for reading /proc/self/status's CapBnd
ALL_CAPABILITIES = [f"CAP_{n}" for n in [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
    "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
    "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
    "PERFMON", "BPF", "CHECKPOINT_RESTORE"
]]
INIT_BINARY = "/usr/bin/docker-init"  # Debian's docker.io ships tini under docker's name
INIT_PATH = "/sbin/docker-init"
SLIRP_GUEST_IP = "10.0.2.100"
SLIRP_DNS = "10.0.2.3"


def held_capabilities() -> list[str]:
    """The capabilities wharfie itself may pass on (its bounding set): "all" for
    --privileged, since a daemonless runtime cannot grant one it lacks (runc would fail
    with "unable to apply caps" on hosts without, say, CAP_SYS_RESOURCE)."""
    with open("/proc/self/status") as f:
        bnd = int(next(ln for ln in f if ln.startswith("CapBnd:")).split()[1], 16)
    return [c for bit, c in enumerate(ALL_CAPABILITIES) if bnd >> bit & 1]


def capabilities(add: list[str], drop: list[str], privileged: bool) -> list[str]:
    """Docker's rule: start from the defaults (all with ALL or --privileged), add, then drop."""
    def canon(name: str) -> str:
        name = name.upper()
        return name if name in ("ALL",) or name.startswith("CAP_") else f"CAP_{name}"

    add, drop = [canon(a) for a in add], [canon(d) for d in drop]
    for name in add + drop:
        if name != "ALL" and name not in ALL_CAPABILITIES:
            raise InvalidInput(f"unknown capability: \"{name}\"")
    if privileged or "ALL" in add:
        caps = held_capabilities()
    else:
        caps = list(DEFAULT_CAPABILITIES) + [a for a in add if a not in DEFAULT_CAPABILITIES]
    if "ALL" in drop:
        return [a for a in add if a != "ALL"] if not privileged else []
    return [c for c in caps if c not in drop]


def etc_files(home: Path, c: Container) -> dict[str, Path]:
    """/etc/hostname, /etc/hosts and /etc/resolv.conf for the container, as Docker writes them."""
    hc, hostname = c.host_config, c.config.get("Hostname") or c.id[:12]
    network = hc.get("NetworkMode", "default")
    (home / "hostname").write_text(hostname + "\n")
    extra = "".join(f"{ip}\t{name}\n" for name, _, ip in
                    (h.partition(":") for h in hc.get("ExtraHosts") or []))
    if network == "host":
        base = Path("/etc/hosts").read_text(errors="replace").rstrip("\n") + "\n"
    else:
        base = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                "ff02::2\tip6-allrouters\n")
        ip = SLIRP_GUEST_IP if network == "default" else "127.0.0.1"
        base += f"{ip}\t{hostname}\n"
    (home / "hosts").write_text(base + extra)
    dns = hc.get("Dns") or []
    if dns:
        resolv = "".join(f"nameserver {d}\n" for d in dns)
    elif network == "default":
        resolv = f"nameserver {SLIRP_DNS}\n"
    else:
        try:
            resolv = Path("/etc/resolv.conf").read_text(errors="replace")
        except OSError:
            resolv = ""
    (home / "resolv.conf").write_text(resolv)
    return {f"/etc/{n}": home / n for n in ("hostname", "hosts", "resolv.conf")}


def mounts_of(c: Container) -> list[dict]:
    """Volumes, binds and tmpfs mounts of the container as OCI mounts."""
    out = []
    for m in c.host_config.get("WharfieMounts") or []:
        if m["Type"] == "tmpfs":
            opts = ["nosuid", "nodev", "noexec"] + list(m.get("Options") or [])
            out.append({"destination": m["Target"], "type": "tmpfs", "source": "tmpfs",
                        "options": opts})
        else:
            out.append(Bind(Path(m["Source"]), m["Target"], not m.get("RW", True)).mount())
    return out


def process_config(c: Container) -> ProcessConfig:
    cfg, hc = c.config, c.host_config
    network = hc.get("NetworkMode", "default")
    return ProcessConfig(args=list(c.command), env=list(cfg.get("Env") or []),
                         cwd=cfg.get("WorkingDir") or "/", user=cfg.get("User") or "",
                         network="host" if network == "host" else "none",
                         hostname=cfg.get("Hostname") or c.id[:12], tty=bool(cfg.get("Tty")),
                         shm_size=int(hc.get("ShmSize") or 64 << 20),
                         rlimits={**DEFAULT_RLIMITS, **Limits.of(hc).rlimits()})


def share_host_namespaces(spec: dict, hc: dict) -> None:
    """--pid host / --ipc host: no namespace of that kind, so the host's is used; with the
    host's IPC namespace /dev/shm is the host's too, as docker mounts it."""
    host = {kind for kind, mode in (("pid", hc.get("PidMode")), ("ipc", hc.get("IpcMode")))
            if mode == "host"}
    linux = spec["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] not in host]
    if "ipc" in host:
        spec["mounts"] = [bind_mount("/dev/shm", "/dev/shm", False)
                          if m["destination"] == "/dev/shm" else m for m in spec["mounts"]]


def add_devices(spec: dict, hc: dict) -> None:
    """--device: the nodes runc makes in the container and the cgroup rules allowing them."""
    nodes, rules = spec_devices(hc.get("Devices") or [])
    linux = spec["linux"]
    linux.setdefault("devices", []).extend(nodes)
    linux["resources"]["devices"] = linux["resources"].get("devices", []) + rules


def write_bundle(home: Path, c: Container, rootfs: Path) -> tuple[Path, list[str]]:
    """Write ``home/bundle/config.json``; the bundle and the mount points runc will create
    in the root (to remove after the container ends, so ``diff`` does not see them)."""
    hc = c.host_config
    cfg = process_config(c)
    if not cfg.cwd.startswith("/"):
        raise InvalidInput(
            f"the working directory '{cfg.cwd}' is invalid, it needs to be an absolute path")
    user = resolve_user(rootfs, cfg.user)
    if not rfs.exists(rootfs, cfg.cwd):
        rfs.makedirs(rootfs, cfg.cwd)
    spec = make_spec(rootfs, cfg, user, etc_files(home, c))
    spec["mounts"] += mounts_of(c)
    proc, linux = spec["process"], spec["linux"]
    linux["resources"].update(Limits.of(hc).oci_resources())
    caps = capabilities(hc.get("CapAdd") or [], hc.get("CapDrop") or [],
                        bool(hc.get("Privileged")))
    proc["capabilities"] = {"bounding": caps, **({"effective": caps, "permitted": caps}
                                                 if user.uid == 0 else {})}
    if hc.get("Privileged"):
        linux["maskedPaths"], linux["readonlyPaths"] = [], []
        linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
        for m in spec["mounts"]:
            if m["destination"] in ("/sys", "/sys/fs/cgroup"):
                m["options"] = [o for o in m["options"] if o != "ro"]
    spec["root"]["readonly"] = bool(hc.get("ReadonlyRootfs"))
    share_host_namespaces(spec, hc)
    add_devices(spec, hc)
    if hc.get("Init"):
        if not Path(INIT_BINARY).exists():
            raise InvalidInput(f"--init needs {INIT_BINARY} (apt-get install tini docker.io)")
        spec["mounts"].append({"destination": INIT_PATH, "type": "bind",
                               "source": INIT_BINARY, "options": ["rbind", "ro"]})
        proc["args"] = [INIT_PATH, "--", *proc["args"]]
    stubs = [m["destination"] for m in spec["mounts"] if not rfs.exists(rootfs, m["destination"])]
    bundle = home / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    bundle.mkdir(mode=0o700)
    (bundle / "config.json").write_text(json.dumps(spec, indent=1))
    return bundle, stubs
