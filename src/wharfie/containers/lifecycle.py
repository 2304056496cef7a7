"""Docker's container lifecycle without a daemon: create, start, stop, kill, wait, restart,
rm, prune, exec, pause, rename. Running containers are watched by their monitor
(``wharfie.containers.monitor``); these functions only read its state and send signals.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal as signals
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wharfie.containers.devices import parse_device, spec_devices
from wharfie.containers.launch import command_for, resolve_image
from wharfie.containers.monitor import runc_cmd, spawn
from wharfie.containers.network import free_port, host_address, parse_expose, parse_publish
from wharfie.containers.resources import Limits
from wharfie.containers.store import Container, ContainerStore, container_event
from wharfie.containers.volumes import Volumes, remove_anonymous
from wharfie.errors import Conflict, InvalidInput, NotFound, WharfieError
from wharfie.images.imagestore import ImageStore
from wharfie.runtime import find_runtime, state_dir
from wharfie.runtime.errors import ContainerError
from wharfie.runtime.spec import merge_env, parse_host

RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")
LOG_DRIVERS = ("json-file", "local", "none")
DOCKER_LOG_DRIVERS = ("syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs",
                      "gcplogs", "logentries")


@dataclass
class CreateOptions:
    """``docker create``/``run``'s options, as parsed from the command line."""

    args: list[str] = field(default_factory=list)
    entrypoint: str | None = None
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    network: str = "default"
    publish: list[str] = field(default_factory=list)
    publish_all: bool = False
    expose: list[str] = field(default_factory=list)
    extra_hosts: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    remove: bool = False
    tty: bool = False
    interactive: bool = False
    read_only: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    init: bool = False
    stop_signal: str | None = None
    stop_timeout: int | None = None
    restart: str = "no"
    shm_size: int = 64 << 20
    limits: Limits = field(default_factory=Limits)
    pid: str = ""
    ipc: str = ""
    devices: list[str] = field(default_factory=list)
    log_driver: str = "json-file"
    platform: str | None = None  # the image's, when it has to be pulled


def parse_restart(value: str) -> dict:
    name, _, count = value.partition(":")
    if name not in RESTART_POLICIES or (count and (name != "on-failure" or not count.isdigit())):
        raise InvalidInput(f"invalid restart policy: {value}")
    return {"Name": "" if name == "no" else name, "MaximumRetryCount": int(count or 0)}


def parse_signal(value: str) -> int:
    """``TERM``, ``SIGTERM`` or ``15``."""
    if value.isdigit():
        return int(value)
    name = value.upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    sig = getattr(signals.Signals, name, None) if name in signals.Signals.__members__ else None
    if sig is None:
        raise InvalidInput(f"Invalid signal: {value}")
    return int(sig)


def _mount_specs(root: Path, opts: CreateOptions) -> list[dict]:
    """-v, --mount and --tmpfs as one list of {Type, Source, Target, RW, Name, Options}."""
    vols = Volumes(root)
    out: list[dict] = []
    for spec in opts.volumes:
        parts = spec.split(":")
        mode = parts.pop() if len(parts) == 3 or (len(parts) == 2 and parts[1] in ("ro", "rw")) \
            else "rw"
        if mode not in ("ro", "rw") or not 1 <= len(parts) <= 2:
            raise InvalidInput(f"invalid volume specification: '{spec}'")
        if len(parts) == 1:  # an anonymous volume
            src, target = "", parts[0]
        else:
            src, target = parts
        if not target.startswith("/"):
            raise InvalidInput(f"invalid mount config: '{target}' is not an absolute path")
        if src.startswith("/"):
            Path(src).mkdir(parents=True, exist_ok=True)  # as Docker does for -v
            out.append({"Type": "bind", "Source": src, "Target": target, "RW": mode == "rw"})
        else:
            v = vols.create(src or None)
            out.append({"Type": "volume", "Name": v.name, "Source": str(v.mountpoint),
                        "Target": target, "RW": mode == "rw"})
    for spec in opts.mounts:
        kv: dict[str, str] = {}
        for item in spec.split(","):
            k, eq, v = item.partition("=")
            kv[k.strip().lower()] = v if eq else "true"
        typ = kv.get("type", "volume")
        target = kv.get("target") or kv.get("destination") or kv.get("dst")
        src = kv.get("source") or kv.get("src") or ""
        ro = kv.get("readonly", kv.get("ro", "false")) in ("true", "1")
        if not target:
            raise InvalidInput(f"invalid argument \"{spec}\" for \"--mount\" flag: "
                               "target is required")
        if typ == "bind":
            if not Path(src).exists():
                raise InvalidInput(f"invalid mount config for type \"bind\": bind source path "
                                   f"does not exist: {src}")
            out.append({"Type": "bind", "Source": src, "Target": target, "RW": not ro})
        elif typ == "volume":
            v = vols.create(src or None)
            out.append({"Type": "volume", "Name": v.name, "Source": str(v.mountpoint),
                        "Target": target, "RW": not ro})
        elif typ == "tmpfs":
            o = [f"size={kv['tmpfs-size']}"] if "tmpfs-size" in kv else []
            o += [f"mode={kv['tmpfs-mode']}"] if "tmpfs-mode" in kv else []
            out.append({"Type": "tmpfs", "Source": "", "Target": target, "RW": True,
                        "Options": o})
        else:
            raise InvalidInput(f"invalid argument \"{spec}\" for \"--mount\" flag: "
                               f"unknown mount type \"{typ}\"")
    for spec in opts.tmpfs:
        target, _, o = spec.partition(":")
        out.append({"Type": "tmpfs", "Source": "", "Target": target, "RW": True,
                    "Options": [x for x in o.split(",") if x]})
    return out


def _port_bindings(publish: list[str], exposed: dict | None = None) -> dict[str, list[dict]]:
    """-p bindings (a free host port where none is given), and with ``exposed`` (-P) one
    for each exposed TCP or UDP port that -p does not bind."""
    out: dict[str, list[dict]] = {}
    for spec in publish:
        for b in parse_publish(spec):
            port = b.host_port or free_port(b.proto)
            out.setdefault(f"{b.container_port}/{b.proto}", []).append(
                {"HostIp": b.host_ip, "HostPort": str(port)})
    for key in exposed or {}:
        proto = key.partition("/")[2] or "tcp"
        if key not in out and proto in ("tcp", "udp"):  # slirp4netns forwards no SCTP
            out[key] = [{"HostIp": "", "HostPort": str(free_port(proto))}]
    return out


def _exposed_ports(image_ports: dict | None, expose: list[str]) -> dict | None:
    """The image's ExposedPorts and --expose's, as docker merges them."""
    out = dict(image_ports or {})
    for spec in expose:
        out.update({key: {} for key in parse_expose(spec)})
    return out or None


def _namespace_mode(flag: str, kind: str, value: str) -> str:
    """--pid/--ipc: the host's namespace or a private one (docker's other modes, sharing a
    container's, are not supported)."""
    if value not in ("", "host", "private"):
        raise InvalidInput(f"--{flag}: invalid {kind} mode")
    return value


def _log_config(driver: str) -> dict:
    if driver in DOCKER_LOG_DRIVERS:
        raise InvalidInput(f"logging driver {driver!r} is not supported: use "
                           "json-file, local or none")
    if driver not in LOG_DRIVERS:
        raise InvalidInput(f"logger: no log driver named '{driver}' is registered")
    return {"Type": driver, "Config": {}}


def create(root: Path, images: ImageStore, image_name: str, opts: CreateOptions) -> Container:
    """A new container of ``image_name`` (already in the store): its snapshot and record."""
    from wharfie import snapshots

    image = resolve_image(images, image_name)
    config = image.config.config
    argv = command_for(config, opts.args, opts.entrypoint)
    if opts.network not in ("default", "bridge", "host", "none"):
        raise InvalidInput(f"network {opts.network} not found")
    network = "default" if opts.network == "bridge" else opts.network
    exposed = _exposed_ports(config.get("ExposedPorts"), opts.expose)
    publish_all = opts.publish_all and network not in ("host", "none")
    if network in ("host", "none") and opts.publish:
        opts.publish = []  # docker: published ports are discarded in these modes
    pid_mode = _namespace_mode("pid", "PID", opts.pid)
    ipc_mode = _namespace_mode("ipc", "IPC", opts.ipc) or "private"
    devices = [parse_device(d) for d in opts.devices]
    spec_devices(devices)  # each must name a device node on this host
    log_config = _log_config(opts.log_driver)
    if opts.hostname and network == "host":
        raise InvalidInput("conflicting options: hostname and the network mode")
    hostname = opts.hostname or (os.uname().nodename if network == "host" else None)
    restart = parse_restart(opts.restart)
    if restart["Name"] and opts.remove:
        raise InvalidInput("Conflicting options: --restart and --rm")
    if opts.stop_signal:
        parse_signal(opts.stop_signal)
    extra_hosts = []
    gateway = host_address() if network == "default" and any(
        h.endswith("host-gateway") for h in opts.extra_hosts) else "127.0.0.1"
    for h in opts.extra_hosts:
        name, ip = parse_host(h, gateway)
        extra_hosts.append(f"{name}:{ip}")
    snap = snapshots.for_root(root)
    with images.content.lock(shared=True):
        chain = snapshots.unpack_image(snap, image)
    labels = {**(config.get("Labels") or {}), **opts.labels}
    cfg = {
        "Hostname": hostname or "", "Domainname": "", "User": opts.user if opts.user is not
        None else (config.get("User") or ""), "AttachStdin": opts.interactive,
        "Tty": opts.tty, "OpenStdin": opts.interactive,
        "Env": merge_env(list(config.get("Env") or []), opts.env),
        "Cmd": list(opts.args) if opts.args else (None if opts.entrypoint is not None
                                                  else config.get("Cmd")),
        "Image": image_name, "Volumes": config.get("Volumes"),
        "WorkingDir": opts.workdir or config.get("WorkingDir") or "",
        "Entrypoint": ([opts.entrypoint] if opts.entrypoint else None)
        if opts.entrypoint is not None else config.get("Entrypoint"),
        "Labels": labels, "ExposedPorts": exposed,
    }
    if opts.stop_signal or config.get("StopSignal"):
        cfg["StopSignal"] = opts.stop_signal or config.get("StopSignal")
    if opts.stop_timeout is not None:
        cfg["StopTimeout"] = opts.stop_timeout
    mounts = _mount_specs(root, opts)
    host_config = {
        "Binds": list(opts.volumes) or None, "NetworkMode": network,
        "PortBindings": _port_bindings(opts.publish, exposed if publish_all else None),
        "PublishAllPorts": opts.publish_all, "RestartPolicy": restart,
        "AutoRemove": opts.remove, "CapAdd": opts.cap_add or None,
        "CapDrop": opts.cap_drop or None, "Dns": opts.dns, "ExtraHosts": extra_hosts or None,
        "Privileged": opts.privileged, "ReadonlyRootfs": opts.read_only, "Init": opts.init,
        "ShmSize": opts.shm_size, "Tmpfs": {t.partition(":")[0]: t.partition(":")[2]
                                            for t in opts.tmpfs} or None,
        "Mounts": [m for m in mounts if m["Type"] != "bind" or m["Source"] not in
                   {v.split(":")[0] for v in opts.volumes}] or None,
        "WharfieMounts": mounts, **opts.limits.host_config(), "PidMode": pid_mode,
        "IpcMode": ipc_mode, "Devices": devices, "LogConfig": log_config,
    }
    c = ContainerStore(root).create(name=opts.name, image=image_name, image_id=str(image.id),
                                    command=argv, chain=str(chain) if chain else None,
                                    config=cfg, host_config=host_config)
    if not opts.remove:  # a --rm container's snapshot is made (volatile) by its monitor
        snap.prepare(c.snapshot, chain)
    container_event(root, c, "create")
    return c


def start(root: Path, c: Container, *, attach: bool = False) -> int | None:
    """Start ``c`` under a new monitor. Without ``attach`` return once it runs; with it,
    return the read end of the monitor's report pipe (see ``wait_report``)."""
    if c.running:
        return None
    if c.status == "paused":
        raise Conflict("cannot start a paused container, try unpause instead")
    fd = spawn(root, c.id, attach=attach, stdin=attach and bool(c.config.get("OpenStdin")))
    reader = os.fdopen(fd, "rb", buffering=0)
    first = _report_line(reader)
    if first.startswith("error "):
        _, code, msg = first.split(" ", 2)
        reader.close()
        raise ContainerError(msg, exit_code=int(code))
    if first != "started":  # the monitor died before it could say
        reader.close()
        raise ContainerError(f"the monitor of {c.id[:12]} failed to start it")
    if attach:
        return reader.detach() if hasattr(reader, "detach") else os.dup(reader.fileno())
    reader.close()
    return None


def _report_line(reader) -> str:
    line = b""
    while not line.endswith(b"\n"):
        chunk = reader.read(1)
        if not chunk:
            break
        line += chunk
    return line.decode(errors="replace").strip()


def wait_report(fd: int) -> int | None:
    """The exit code the monitor reports on ``fd`` (None if it went away without one)."""
    with os.fdopen(fd, "rb", buffering=0) as reader:
        while True:
            line = _report_line(reader)
            if not line:
                return None
            if line.startswith("exit "):
                return int(line.split()[1])


def runc(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    rt = find_runtime(state_dir(root))
    res = subprocess.run(runc_cmd(rt, *args), capture_output=True)
    if check and res.returncode != 0:
        raise ContainerError(res.stderr.decode(errors="replace").strip())
    return res


def _require_running(c: Container) -> None:
    if not c.running:
        raise Conflict(f"container {c.id} is not running")


def kill(root: Path, c: Container, sig: str | int = "KILL") -> None:
    """Send ``sig`` to the container's init; a kill never restarts it."""
    _require_running(c)
    num = parse_signal(sig) if isinstance(sig, str) else sig
    if num in (signals.SIGKILL, signals.SIGTERM, signals.SIGINT):
        (ContainerStore(root).home(c.id) / "stopped").touch()
    res = runc(root, "kill", c.id, str(num), check=False)
    if res.returncode != 0 and c.running:
        raise ContainerError(res.stderr.decode(errors="replace").strip())
    container_event(root, c, "kill", signal=str(num))


def wait(root: Path, c: Container, timeout: float | None = None) -> int:
    """Block until ``c`` is not running; its exit code."""
    store = ContainerStore(root)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            cur = store.get(c.id)
        except NotFound:
            return c.exit_code
        c = cur
        if c.status in ("exited", "created"):
            return c.exit_code
        if deadline is not None and time.monotonic() > deadline:
            raise WharfieError(f"timed out waiting for {c.id[:12]}")
        time.sleep(0.05)


@contextlib.contextmanager
def forwarding_signals(root: Path, cid: str, enabled: bool = True, *,
                       started: bool = True) -> Iterator[Callable[[], None]]:
    """While in the block, SIGINT and SIGTERM sent to us go to the container's init
    (docker's --sig-proxy); only the main thread can catch signals. For a container not
    ``started`` yet, they are held until the block calls the function it is given."""
    import threading

    pending: list[int] = []

    def now_started() -> None:
        nonlocal started
        started = True
        for sig in pending:
            runc(root, "kill", cid, str(sig), check=False)

    if not enabled or threading.current_thread() is not threading.main_thread():
        yield now_started
        return

    def forward(sig: int, _frame: object) -> None:
        if started:
            runc(root, "kill", cid, str(sig), check=False)
        else:
            pending.append(sig)

    saved = {s: signals.signal(s, forward) for s in (signals.SIGINT, signals.SIGTERM)}
    try:
        yield now_started
    finally:
        for s, handler in saved.items():
            signals.signal(s, handler)


def attach(root: Path, c: Container, write: Callable[[str, bytes], None], *,
           sig_proxy: bool = True) -> int:
    """``docker attach`` to a running container's output: each chunk it writes from now
    on goes to ``write(stream, data)`` (from its json-file log, as the monitor writes
    it) until it exits; its exit code. With ``--log-driver none`` there is nothing to
    follow: refused in one line rather than showing nothing."""
    from wharfie.containers.logs import read_logs, readable_log

    _require_running(c)
    if c.status == "paused":
        raise Conflict("You cannot attach to a paused container, unpause it first")
    store = ContainerStore(root)
    try:
        log = readable_log(store.home(c.id), c.id, c.host_config)
    except WharfieError:
        raise WharfieError("attach follows the container's log, and --log-driver none "
                           "keeps none") from None

    def stopped() -> bool:
        try:
            return not store.get(c.id).running
        except NotFound:  # --rm: removed once it exited
            return True

    container_event(root, c, "attach")
    with forwarding_signals(root, c.id, sig_proxy):
        for e in read_logs(log, tail=0, follow=True, done=stopped):
            write(e.stream, e.data)
    return wait(root, c)


def stop(root: Path, c: Container, timeout: int | None = None,
         sig: str | None = None) -> None:
    """Docker's stop: the stop signal, then SIGKILL after ``timeout`` seconds (default 10)."""
    if not c.running:
        return
    (ContainerStore(root).home(c.id) / "stopped").touch()
    if c.status == "paused":
        runc(root, "resume", c.id, check=False)
    timeout = c.config.get("StopTimeout", 10) if timeout is None else timeout
    num = parse_signal(sig or c.config.get("StopSignal") or "TERM")
    runc(root, "kill", c.id, str(num), check=False)
    container_event(root, c, "kill", signal=str(num))
    try:
        wait(root, c, timeout=max(timeout, 0))
    except WharfieError:
        runc(root, "kill", c.id, "KILL", check=False)
        container_event(root, c, "kill", signal=str(int(signals.SIGKILL)))
        wait(root, c)
    container_event(root, c, "stop")


def restart(root: Path, c: Container, timeout: int | None = None) -> None:
    stop(root, c, timeout)
    start(root, ContainerStore(root).get(c.id))
    container_event(root, c, "restart")


def pause(root: Path, c: Container) -> None:
    _require_running(c)
    if c.status == "paused":
        raise Conflict(f"container {c.id} is already paused")
    runc(root, "pause", c.id)
    _set_status(root, c, "paused")
    container_event(root, c, "pause")


def unpause(root: Path, c: Container) -> None:
    if c.status != "paused":
        raise Conflict(f"container {c.id} is not paused")
    runc(root, "resume", c.id)
    _set_status(root, c, "running")
    container_event(root, c, "unpause")


def _set_status(root: Path, c: Container, status: str) -> None:
    store = ContainerStore(root)
    state = store.read_state(c.id)
    state.status = status
    store.write_state(c.id, state)


def remove(root: Path, c: Container, *, force: bool = False, volumes: bool = False) -> None:
    """Delete a container's snapshot and record; a running one only with ``force``,
    which kills it first (its ``wharfie run`` then exits 137, as with ``docker rm -f``)."""
    from wharfie import snapshots

    if c.running:
        if not force:
            raise Conflict(f"cannot remove container \"/{c.name}\": container is running: "
                           "stop the container before removing or force remove")
        (ContainerStore(root).home(c.id) / "stopped").touch()
        runc(root, "kill", c.id, "KILL", check=False)
        wait(root, c, timeout=30)
        container_event(root, c, "kill", signal=str(int(signals.SIGKILL)))
        if c.host_config.get("AutoRemove"):  # its monitor removes it
            deadline = time.monotonic() + 10
            while ContainerStore(root)._path(c.id).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            return
    snapshots.for_root(root).remove(c.snapshot)
    ContainerStore(root).delete(c)
    if volumes:
        remove_anonymous(root, c)
    container_event(root, c, "destroy")


def prune(root: Path) -> tuple[list[str], int]:
    """``container prune``: remove every container that is not running; their IDs and the
    bytes their changes held (as ``system df`` sizes them)."""
    from wharfie.containers.launch import container_usage

    gone, freed = [], 0
    for u in container_usage(root):
        if not u.container.running:
            remove(root, u.container)
            gone.append(u.container.id)
            freed += u.size
    return gone, freed


@dataclass
class ExecOptions:
    args: list[str]
    user: str | None = None
    workdir: str | None = None
    env: list[str] = field(default_factory=list)
    tty: bool = False
    interactive: bool = False
    detach: bool = False
    privileged: bool = False


def exec_(root: Path, c: Container, opts: ExecOptions) -> int:
    """Run a process in a running container (``runc exec``); its exit code."""
    from wharfie import snapshots
    from wharfie.runtime.runc import _classify
    from wharfie.runtime.user import resolve_user

    _require_running(c)
    if c.status == "paused":
        raise Conflict(f"container {c.id} is paused, unpause the container before exec")
    if not opts.args:
        raise InvalidInput("exec requires at least 1 argument")
    rt = find_runtime(state_dir(root))
    cmd = runc_cmd(rt, "exec")
    if opts.tty:
        cmd.append("--tty")
    if opts.detach:
        cmd.append("--detach")
    if opts.user is not None:
        user = resolve_user(snapshots.for_root(root).path(c.snapshot), opts.user)
        cmd += ["--user", f"{user.uid}:{user.gid}"]
        cmd += [a for g in user.additional_gids for a in ("--additional-gids", str(g))]
    if opts.workdir:
        cmd += ["--cwd", opts.workdir]
    for e in opts.env:
        cmd += ["--env", e]
    exec_id = secrets.token_hex(32)
    action = f": {' '.join(opts.args)}"  # docker's "exec_create: CMD ARGS"
    container_event(root, c, "exec_create" + action, execID=exec_id)
    container_event(root, c, "exec_start" + action, execID=exec_id)
    res = subprocess.run([*cmd, c.id, *opts.args],
                         stdin=None if opts.interactive or opts.tty else subprocess.DEVNULL,
                         stderr=subprocess.PIPE if not opts.tty else None)
    err = (res.stderr or b"").decode(errors="replace")
    if res.returncode == 255 and "exec failed" in err:
        msg = err.strip().splitlines()[-1].split("exec failed: ", 1)[-1]
        raise _classify(msg)
    if err:
        os.write(2, err.encode())
    if not opts.detach:
        container_event(root, c, "exec_die", execID=exec_id, exitCode=str(res.returncode))
    return res.returncode


def rename(root: Path, c: Container, name: str) -> None:
    old = c.name
    ContainerStore(root).rename(c, name)
    container_event(root, c, "rename", oldName=f"/{old}")


def update(root: Path, c: Container, limits: Limits, restart: str | None = None) -> None:
    """``docker update``: new limits (and restart policy), applied at once to a running
    container (``runc update``) and kept for its next start."""
    merged = Limits.of(c.host_config).merged(limits)
    merged.check()
    if restart is not None:
        policy = parse_restart(restart)
        if policy["Name"] and c.host_config.get("AutoRemove"):
            raise InvalidInput("Restart policy cannot be updated because AutoRemove is enabled "
                               "for the container")
        c.host_config["RestartPolicy"] = policy
    if c.running and (args := merged.runc_update_args()):
        runc(root, "update", *args, c.id)
    c.host_config.update(merged.host_config())
    ContainerStore(root).save(c)


def top(root: Path, c: Container, ps_args: list[str]) -> str:
    """``ps`` output limited to the container's processes (from ``runc ps``)."""
    _require_running(c)
    res = runc(root, "ps", c.id, *(ps_args or ["-ef"]))
    return res.stdout.decode()
