"""Drive an OCI runtime (Debian's runc): one bundle, one ``runc run``, nothing left behind.

Each container gets a unique ID ``wharfie-<pid>-<random>``, a bundle directory
and runc state under ``<wharfie root>/runtime``. Whatever happens (exit, error,
Ctrl-C) the container is gone afterwards (``runc run`` removes it when its process
ends, ``runc delete --force`` otherwise) and its bundle removed; a later run also sweeps
containers whose wharfie process died.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import BinaryIO

from wharfie.errors import InvalidInput
from wharfie.fs import inroot as rfs
from wharfie.fs.mounts import detach, mounts_under
from wharfie.fs.private import private_dir
from wharfie.runtime.errors import (
    CommandNotExecutable,
    CommandNotFound,
    ContainerError,
    RuntimeUnavailable,
)
from wharfie.runtime.spec import ProcessConfig, make_spec
from wharfie.runtime.user import resolve_user

# Where output goes: None inherits our fd, an int is an fd passed through, a callable or a
# binary file receives chunks as they arrive.
Sink = Callable[[bytes], None] | BinaryIO | int | None

RUNTIMES = ("runc", "crun")
START_FAILED = b"runc run failed: "  # runc's own report on stderr, also in its log


class Runtime:
    """One OCI runtime binary with its state under ``state_dir``."""

    def __init__(self, name: str, path: str, state_dir: Path) -> None:
        self.name, self.path, self.state_dir = name, path, Path(state_dir)

    def _cmd(self, *args: str) -> list[str]:
        return [self.path, "--root", str(self.state_dir / self.name), *args]

    def known(self) -> set[str]:
        """IDs of the containers the runtime keeps state for under our root. Each has a
        directory there, which is what ``runc list`` reads: no runtime process needed."""
        try:
            return {e.name for e in os.scandir(self.state_dir / self.name) if e.is_dir()}
        except FileNotFoundError:
            return set()

    def delete(self, container_id: str) -> None:
        """Kill and remove a container; quiet if it is already gone."""
        res = subprocess.run(self._cmd("delete", "--force", container_id), capture_output=True)
        if res.returncode != 0 and b"does not exist" not in res.stderr \
                and b"not found" not in res.stderr:
            raise ContainerError(
                f"{self.name} delete {container_id} failed: {res.stderr.decode().strip()}")

    def sweep(self) -> None:
        """Delete containers (and bundles) left by wharfie processes that no longer exist."""
        bundles = self.state_dir / "bundles"
        ids = self.known()
        if bundles.is_dir():
            ids |= {p.name for p in bundles.iterdir()}
        for cid in ids:
            owner = _owner_pid(cid)
            if owner is None or _alive(owner):
                continue
            self.delete(cid)
            self._remove_state(cid)
            shutil.rmtree(bundles / cid, ignore_errors=True)

    def _remove_state(self, cid: str) -> None:
        """What ``runc delete`` left of a dead process's container. A runc killed while it
        started leaves its own binary bind-mounted in the state directory, which runc
        cannot then remove (it says so, and exits 0)."""
        state = self.state_dir / self.name / cid
        if not state.exists():
            return
        try:
            for target in mounts_under(state):
                detach(target)
            shutil.rmtree(state)
        except OSError as e:
            raise ContainerError(f"cannot remove what container {cid} left: {e}") from None

    def run(self, rootfs: Path, cfg: ProcessConfig, *, stdin: BinaryIO | int | None = None,
            stdout: Sink = None, stderr: Sink = None, tag: str | None = None,
            cancel: threading.Event | None = None) -> int:
        """Run ``cfg`` in ``rootfs`` to completion and return its exit status.

        Setting ``cancel`` kills the container (within 0.25 s); the status is then 137.

        Raises CommandNotFound (127) / CommandNotExecutable (126) when the command cannot
        start and ContainerError (125) for other runtime failures. ``stdin`` None means
        /dev/null, as ``docker run`` without ``-i``. ``tag`` (12 hex digits) makes the
        runtime's container ID ``container_id(os.getpid(), tag)``, so others can find it.
        """
        rootfs = Path(rootfs).resolve()
        if not rootfs.is_dir():
            raise InvalidInput(f"root filesystem {rootfs} is not a directory")
        if not cfg.cwd.startswith("/"):
            raise InvalidInput(
                f"the working directory '{cfg.cwd}' is invalid, it needs to be an absolute path")
        self.sweep()
        user = resolve_user(rootfs, cfg.user, primary_in_groups=cfg.primary_in_groups)
        rfs.makedirs(rootfs, cfg.cwd)
        cid = container_id(os.getpid(), tag or os.urandom(6).hex())
        bundle = private_dir(self.state_dir / "bundles") / cid
        bundle.mkdir(mode=0o700)
        stubs: list[str] = []
        parents: dict[Path, tuple[int, int]] = {}
        try:
            spec = make_spec(rootfs, cfg, user, _etc_files(bundle, cfg))
            stubs = [m["destination"] for m in spec["mounts"]
                     if not rfs.exists(rootfs, m["destination"])
                     and not (cfg.keep_mount_dirs and _is_dir_mount(m))]
            parents = _times_of(rootfs, {os.path.dirname(d) for d in stubs})
            (bundle / "config.json").write_text(json.dumps(spec))  # compact: the C encoder
            return self._run_bundle(cid, bundle, cfg.tty, stdin, stdout, stderr, cancel)
        finally:
            shutil.rmtree(bundle, ignore_errors=True)
            for dest in sorted(stubs, key=len, reverse=True):
                rfs.remove_stub(rootfs, dest)
            # Creating and removing the stubs touched their parents (/etc for /etc/hosts):
            # give them back their times, so a RUN layer does not carry /etc for nothing.
            for host, times in parents.items():
                with contextlib.suppress(OSError):
                    os.utime(host, ns=times, follow_symlinks=False)

    def _run_bundle(self, cid: str, bundle: Path, tty: bool, stdin, stdout: Sink,
                    stderr: Sink, cancel: threading.Event | None) -> int:
        log = bundle / "log.json"
        cmd = self._cmd("--log", str(log), "--log-format", "json", "run", "--bundle",
                        str(bundle), cid)
        if tty:
            stdout = stderr = None  # the terminal is runc's pty, passed straight through
        out_fd, err_fd = _pipe_or_fd(stdout), _pipe_or_fd(stderr)
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL if stdin is None else stdin,
                stdout=out_fd, stderr=err_fd)
        except OSError as e:
            raise RuntimeUnavailable(f"cannot execute {self.path}: {e.strerror}") from None
        pumps: list[_Pump] = []
        if cancel is not None:
            threading.Thread(target=self._kill_on, args=(cancel, proc, cid), daemon=True).start()
        try:
            if out_fd == subprocess.PIPE:
                pumps.append(_Pump(proc.stdout, _writer(stdout), lambda: self.delete(cid)))
            if err_fd == subprocess.PIPE:
                pumps.append(_Pump(proc.stderr, _writer(stderr), lambda: self.delete(cid),
                                   hold=START_FAILED))
            proc.wait()
            for p in pumps:
                p.join()
        except BaseException:
            self.delete(cid)
            proc.wait()
            for p in pumps:
                p.join()
            raise
        finally:
            # ``runc run`` removes a container whose process ended; one it did not remove
            # (runc killed, a start that failed half-way) still has its state directory
            if (self.state_dir / self.name / cid).exists():
                self.delete(cid)
        for p in pumps:
            if p.error is not None:  # a sink failed: the container was stopped for it
                raise p.error
        held = b"".join(b"".join(p.held) for p in pumps)
        failure = _start_failure(log, self.name)
        if proc.returncode != 0 and failure:
            raise _classify(failure)
        if held:  # it was the container's own output after all
            _writer(stderr)(held)
        return proc.returncode

    def _kill_on(self, cancel: threading.Event, proc: subprocess.Popen, cid: str) -> None:
        """Kill the container once ``cancel`` is set, however early: until runc has created
        it, there is nothing to delete yet, so try again until runc is gone."""
        while proc.poll() is None:
            if cancel.wait(0.25):
                self.delete(cid)
                time.sleep(0.05)


def _is_dir_mount(mount: dict) -> bool:
    """A mount whose point runc makes as a directory (a bind of a file gets a file)."""
    src = mount.get("source", "")
    return mount.get("type") != "bind" or not os.path.exists(src) or os.path.isdir(src)


def _times_of(rootfs: Path, dirs: set[str]) -> dict[Path, tuple[int, int]]:
    """(atime, mtime) in ns of the directories of ``dirs`` that exist, by host path."""
    out = {}
    for d in dirs:
        host = rfs.resolve(rootfs, d)
        with contextlib.suppress(OSError):
            st = os.lstat(host)
            if stat.S_ISDIR(st.st_mode):
                out[host] = (st.st_atime_ns, st.st_mtime_ns)
    return out


def _pipe_or_fd(sink: Sink):
    if sink is None or isinstance(sink, int):
        return sink
    return subprocess.PIPE


def _writer(sink: Sink) -> Callable[[bytes], None]:
    if callable(sink):
        return sink

    def write(data: bytes) -> None:
        sink.write(data)  # type: ignore[union-attr]
        sink.flush()  # type: ignore[union-attr]

    return write


class _Pump:
    """Copies a pipe to a sink as data arrives, on its own thread.

    A chunk starting with ``hold`` (runc's start-failure report) is kept back until the
    run's outcome is known. If the sink fails, ``on_error`` stops the container, the
    pipe is drained to its end and the error is kept for the caller to raise.
    """

    def __init__(self, stream, write: Callable[[bytes], None], on_error: Callable[[], None],
                 hold: bytes | None = None) -> None:
        self.held: list[bytes] = []
        self.error: BaseException | None = None
        self._stream, self._write, self._on_error, self._hold = stream, write, on_error, hold
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        fd = self._stream.fileno()
        while chunk := os.read(fd, 65536):
            if self.error is not None:
                continue
            if self._hold is not None and (self.held or chunk.startswith(self._hold)):
                self.held.append(chunk)
                continue
            try:
                self._write(chunk)
            except BaseException as e:  # handed to the caller's thread in join()
                self.error = e
                try:
                    self._on_error()
                except BaseException as stop_error:
                    e.add_note(f"stopping the container failed too: {stop_error}")
        self._stream.close()

    def join(self) -> None:
        self._thread.join()


def _start_failure(log: Path, runtime: str) -> str | None:
    """The runtime's own fatal error, if it logged one (then the container never ran).

    runc prefixes its fatal errors with ``runc run failed:``; any other error it logs
    (a cgroup cleanup warning, say) does not mean the container's exit status is its own.
    """
    try:
        lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return None
    errors = []
    for line in lines:
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            msg = str(entry.get("msg", ""))
            if entry.get("level") in ("error", "fatal") and (
                    runtime != "runc" or msg.startswith(START_FAILED.decode())):
                errors.append(msg)
    return errors[-1] if errors else None


def _classify(msg: str) -> ContainerError:
    for prefix in ("runc run failed: ", "unable to start container process: "):
        msg = msg.removeprefix(prefix)
    if "exec:" in msg or "exec " in msg:
        if "not found" in msg or "no such file or directory" in msg:
            return CommandNotFound(f"failed to start container: {msg}")
        if "permission denied" in msg or "is a directory" in msg:
            return CommandNotExecutable(f"failed to start container: {msg}")
    return ContainerError(f"failed to start container: {msg}")


def _etc_files(bundle: Path, cfg: ProcessConfig) -> dict[str, Path]:
    """/etc/hostname, /etc/hosts and /etc/resolv.conf to bind read-only, as Docker does."""
    files = {"/etc/hostname": bundle / "hostname"}
    files["/etc/hostname"].write_text(cfg.hostname + "\n")
    host_hosts = Path("/etc/hosts")
    if cfg.network == "host" and host_hosts.is_file() and not cfg.extra_hosts:
        files["/etc/hosts"] = host_hosts
    else:
        if cfg.network == "host" and host_hosts.is_file():
            text = host_hosts.read_text(errors="replace").rstrip("\n") + "\n"
        else:
            text = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                    f"127.0.0.1\t{cfg.hostname}\n")
        hosts = bundle / "hosts"
        hosts.write_text(text + "".join(f"{ip}\t{name}\n" for name, ip in cfg.extra_hosts))
        files["/etc/hosts"] = hosts
    if Path("/etc/resolv.conf").is_file():
        files["/etc/resolv.conf"] = Path("/etc/resolv.conf")
    return files


def container_id(owner_pid: int, tag: str) -> str:
    """The runtime's ID of a container run by process ``owner_pid``."""
    if len(tag) != 12 or any(ch not in "0123456789abcdef" for ch in tag):
        raise InvalidInput(f"container tag {tag!r} is not 12 hex digits")
    return f"wharfie-{owner_pid}-{tag}"


def _owner_pid(cid: str) -> int | None:
    parts = cid.split("-")
    if len(parts) == 3 and parts[0] == "wharfie" and parts[1].isdigit():
        return int(parts[1])
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- detection ---------------------------------------------------------------------------

@cache
def _probe(path: str) -> str | None:
    """Run ``true`` from the host's /usr in a throwaway container; the error text if it fails."""
    with tempfile.TemporaryDirectory(prefix="wharfie-probe-") as tmp:
        root = Path(tmp) / "rootfs"
        root.mkdir()
        mounts = [{"destination": "/proc", "type": "proc", "source": "proc"}]
        for d in ("/usr", "/bin", "/lib", "/lib64", "/sbin"):
            p = Path(d)
            if p.is_symlink():
                (root / d[1:]).symlink_to(os.readlink(p))
            elif p.is_dir():
                mounts.append({"destination": d, "type": "bind", "source": d,
                               "options": ["rbind", "ro"]})
        spec = {
            "ociVersion": "1.0.2",
            "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                        "env": ["PATH=/usr/bin:/bin"]},
            "root": {"path": str(root)}, "hostname": "probe", "mounts": mounts,
            "linux": {"namespaces": [{"type": t} for t in ("pid", "mount", "ipc", "uts")]},
        }
        (Path(tmp) / "config.json").write_text(json.dumps(spec))
        cid = f"wharfie-probe-{os.getpid()}-{os.urandom(4).hex()}"
        state = Path(tmp) / "state"
        res = subprocess.run([path, "--root", str(state), "run", "--bundle", tmp, cid],
                             capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
        subprocess.run([path, "--root", str(state), "delete", "--force", cid],
                       capture_output=True)
        if res.returncode == 0:
            return None
        return (res.stderr.decode(errors="replace").strip().splitlines() or ["exit status "
                f"{res.returncode}"])[-1]


def _usable(name: str, path: str) -> None:
    """Refuse a runtime that cannot run a trivial container here, saying why."""
    err = _probe(path)
    if err is not None:
        hint = " (Debian's crun 1.8 does not support this host's cgroup setup)" \
            if name == "crun" else ""
        raise RuntimeUnavailable(
            f"the OCI runtime {path} does not work on this host: {err}{hint}; "
            "install runc (apt-get install runc) or set WHARFIE_RUNTIME")


def find_runtime(state_dir: Path, wanted: str | None = None) -> Runtime:
    """The runtime to use: ``wanted`` or $WHARFIE_RUNTIME if set, else runc, else crun.

    runc is trusted without a probe (it is what we test against); any other runtime is
    probed once per process and refused with its own error if it cannot run a container.
    """
    wanted = wanted or os.environ.get("WHARFIE_RUNTIME") or None
    if wanted:
        path = shutil.which(wanted)
        if path is None:
            raise RuntimeUnavailable(f"OCI runtime {wanted!r} not found")
        name = Path(path).name
        _usable(name, path)
        return Runtime(name, path, state_dir)
    if path := shutil.which("runc"):
        return Runtime("runc", path, state_dir)
    if path := shutil.which("crun"):
        _usable("crun", path)
        return Runtime("crun", path, state_dir)
    raise RuntimeUnavailable(
        "no OCI runtime found: install runc (apt-get install runc) or set WHARFIE_RUNTIME")
