"""The per-container monitor (podman's conmon, in Python): one small process per running
container, detached from whoever started it, that

- creates and starts the container with ``runc create`` / ``runc start``, having made
  itself a child subreaper so the container's init becomes its child;
- copies the container's stdout and stderr into the json-file log (and, while a
  ``wharfie run`` is attached, to its terminal too);
- waits for the init to exit, records the exit code in ``state.json``, cleans up runc's
  state, the bundle and slirp4netns, and applies ``--restart`` and ``--rm``.

It reports to the process that spawned it on a pipe: ``started``, ``error CODE MESSAGE``
or ``exit CODE``; that process may die at any time without the monitor noticing.
Run as ``python -m wharfie.containers.monitor ROOT ID REPORT_FD``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from wharfie.containers.bundle import write_bundle
from wharfie.containers.logs import LogWriter, log_file
from wharfie.containers.network import PortBinding, Slirp
from wharfie.containers.store import (
    Container,
    ContainerStore,
    boot_id,
    container_event,
    process_start,
)
from wharfie.containers.volumes import remove_anonymous
from wharfie.errors import WharfieError
from wharfie.fs import inroot as rfs
from wharfie.runtime import find_runtime, state_dir
from wharfie.runtime.runc import Runtime, _classify, _times_of

PR_SET_CHILD_SUBREAPER = 36


def _restore_times(times: dict[Path, tuple[int, int]]) -> None:
    """Set (atime, mtime) back on the directories of ``times`` (from ``_times_of``)."""
    for host, ns in times.items():
        with contextlib.suppress(OSError):
            os.utime(host, ns=ns, follow_symlinks=False)


def runc_cmd(rt: Runtime, *args: str) -> list[str]:
    return [rt.path, "--root", str(rt.state_dir / rt.name), *args]


def spawn(root: Path, cid: str, *, attach: bool = False, stdin: bool = False) -> int:
    """Start the monitor of container ``cid``, detached; the read end of its report pipe.

    ``attach``: the monitor also copies the output to our stdout/stderr (and gives the
    container our stdin with ``stdin``) until we go away."""
    r, w = os.pipe()
    os.set_inheritable(r, False)
    devnull = subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "wharfie.containers.monitor", str(root), cid, str(w),
         "attach" if attach else "detach"],
        pass_fds=(w,), start_new_session=True,
        stdin=None if stdin else devnull, stdout=None if attach else devnull,
        stderr=None if attach else devnull)
    os.close(w)
    proc.wait()  # the monitor forks away at once
    return r


class Monitor:
    def __init__(self, root: Path, cid: str, report: int, attached: bool) -> None:
        self.root, self.report_fd, self.attached = root, report, attached
        self.store = ContainerStore(root)
        self.c: Container = self.store.get(cid)
        self.home = self.store.home(cid)
        self.rt = find_runtime(state_dir(root))
        self.state = self.store.read_state(cid)
        self.state.monitor = (os.getpid(), process_start(os.getpid()) or 0, boot_id())
        self.log = LogWriter(log_file(self.home, cid, self.c.host_config))
        self.tee = {"stdout": 1 if attached else None, "stderr": 2 if attached else None}
        from wharfie import snapshots

        self.snap = snapshots.for_root(root)  # one instance: it holds a --rm snapshot's lock

    def say(self, msg: str) -> None:
        if self.report_fd < 0:
            return
        try:
            os.write(self.report_fd, msg.encode() + b"\n")
        except OSError:  # whoever started us is gone: carry on without them
            os.close(self.report_fd)
            self.report_fd = -1

    def save(self) -> None:
        self.store.write_state(self.c.id, self.state)

    def event(self, action: str, **extra: str) -> None:
        """Record ``action`` under the container's current name (it may be renamed while
        it runs)."""
        with contextlib.suppress(WharfieError, OSError, ValueError):
            self.c = self.store.get(self.c.id)
        container_event(self.root, self.c, action, **extra)

    def main(self) -> None:
        policy = self.c.host_config.get("RestartPolicy") or {}
        first = True
        while True:
            try:
                code = self.run_once(first)
            except WharfieError as e:
                self.state.status = "created" if first else "exited"
                self.state.exit_code, self.state.error = e.exit_code or 125, e.message
                self.state.finished_at = time.time()
                self.save()
                self.say(f"error {self.state.exit_code} {e.message}")
                break
            first = False
            if not self.restart(policy, code):
                break
            self.state.status, self.state.restart_count = "restarting", \
                self.state.restart_count + 1
            self.save()
            time.sleep(min(0.1 * 2 ** self.state.restart_count, 5))
        if self.c.host_config.get("AutoRemove"):  # --rm: gone before anyone hears the end
            self.snap.remove(self.c.snapshot)
            self.store.delete(self.c)
            remove_anonymous(self.root, self.c)
            self.event("destroy")
        if self.state.status == "exited":
            self.say(f"exit {self.state.exit_code}")

    def restart(self, policy: dict, code: int) -> bool:
        name = policy.get("Name") or "no"
        if (self.home / "stopped").exists():  # docker stop / kill: never restarted
            return False
        if name == "on-failure":
            limit = int(policy.get("MaximumRetryCount") or 0)
            return code != 0 and (limit == 0 or self.state.restart_count < limit)
        return name in ("always", "unless-stopped")

    def run_once(self, first: bool) -> int:
        snap = self.snap
        if self.c.snapshot in snap.active_keys():
            rootfs = snap.path(self.c.snapshot)
        else:
            rootfs = snap.prepare(self.c.snapshot, self.c.chain,
                                  volatile=bool(self.c.host_config.get("AutoRemove")))
        bundle, stubs = write_bundle(self.home, self.c, rootfs)
        self.state.stub_paths = stubs
        # runc's mount points (/etc/hosts, ...) touch their parents: docker keeps them in an
        # init layer, so give the parents their times back or ``diff`` shows ``C /etc``
        parents = _times_of(rootfs, {os.path.dirname(d) for d in stubs})
        subprocess.run(runc_cmd(self.rt, "delete", "--force", self.c.id), capture_output=True)
        (self.home / "stopped").unlink(missing_ok=True)
        tty = bool(self.c.config.get("Tty"))
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        sockets = Path(tempfile.mkdtemp(prefix="wharfie-"))  # short: a socket path's limit
        console = ConsoleSocket(sockets / "console.sock") if tty else None
        pidfile, log = self.home / "init.pid", bundle / "log.json"
        pidfile.unlink(missing_ok=True)
        slirp: Slirp | None = None
        pumps: list[threading.Thread] = []
        try:
            res = subprocess.run(
                runc_cmd(self.rt, "--log", str(log), "--log-format", "json", "create",
                         "--bundle", str(bundle), "--pid-file", str(pidfile),
                         *(["--console-socket", str(console.path)] if console else []),
                         self.c.id),
                stdin=0 if self.attached and self.c.config.get("OpenStdin") and first
                else subprocess.DEVNULL, stdout=out_w, stderr=err_w)
            os.close(out_w)
            os.close(err_w)
            for stream, fd in (("stdout", out_r), ("stderr", err_r)):
                pumps.append(threading.Thread(target=self.pump, args=(stream, fd),
                                              daemon=True))
                pumps[-1].start()
            if res.returncode != 0:
                raise _classify(start_error(log) or f"runc create exited {res.returncode}")
            _restore_times(parents)
            if console is not None:
                master = console.receive()
                pumps.append(threading.Thread(target=self.pump, args=("stdout", master),
                                              daemon=True))
                pumps[-1].start()
                if self.attached and self.c.config.get("OpenStdin") and first:
                    threading.Thread(target=_copy_fd, args=(0, master), daemon=True).start()
            pid = int(pidfile.read_text())
            if self.c.host_config.get("NetworkMode", "default") == "default":
                slirp = Slirp(pid, sockets / "slirp.sock")
                for b in ports(self.c):
                    slirp.forward(b)
            res = subprocess.run(runc_cmd(self.rt, "--log", str(log), "--log-format", "json",
                                          "start", self.c.id), capture_output=True)
            if res.returncode != 0:
                raise _classify(start_error(log) or res.stderr.decode().strip())
            self.state.status, self.state.pid, self.state.error = "running", pid, ""
            self.state.started_at, self.state.finished_at = time.time(), None
            self.save()
            self.event("start")
            if first:
                self.say("started")
            code = self.reap(pid)
        finally:
            subprocess.run(runc_cmd(self.rt, "delete", "--force", self.c.id),
                           capture_output=True)
            for t in pumps:
                t.join(timeout=10)
            if slirp is not None:
                slirp.close()
            for dest in sorted(stubs, key=len, reverse=True):
                with contextlib.suppress(OSError, WharfieError):
                    rfs.remove_stub(rootfs, dest)
            _restore_times(parents)
            shutil.rmtree(bundle, ignore_errors=True)
            shutil.rmtree(sockets, ignore_errors=True)
        self.state.status, self.state.exit_code, self.state.pid = "exited", code, 0
        self.state.finished_at = time.time()
        self.save()
        self.event("die", exitCode=str(code))
        return code

    def reap(self, pid: int) -> int:
        """Wait for the container's init (our child, as subreaper); reap any other orphan."""
        while True:
            try:
                wpid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return 255
            if wpid == pid:
                code = os.waitstatus_to_exitcode(status)
                return 128 - code if code < 0 else code

    def pump(self, stream: str, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            if self.state.status != "running" and chunk.startswith(b"runc "):
                continue  # runc's own start failure: reported as wharfie's error instead
            self.log.write(stream, chunk)
            tee = self.tee[stream]
            if tee is not None:
                try:
                    os.write(tee, chunk)
                except OSError:  # the attached terminal went away
                    self.tee[stream] = None
        os.close(fd)


class ConsoleSocket:
    """The socket runc hands a ``terminal: true`` container's pty master to."""

    def __init__(self, path: Path) -> None:
        import socket

        path.unlink(missing_ok=True)
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)

    def receive(self) -> int:
        import fcntl
        import socket
        import termios

        self.sock.settimeout(30)
        conn, _ = self.sock.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        self.sock.close()
        self.path.unlink(missing_ok=True)
        master = fds[0]
        with contextlib.suppress(OSError):  # the attached terminal's size, if there is one
            fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(1, termios.TIOCGWINSZ, b"\0" * 8))
        return master


def _copy_fd(src: int, dst: int) -> None:
    while True:
        try:
            chunk = os.read(src, 65536)
            if not chunk:
                return
            os.write(dst, chunk)
        except OSError:
            return


def start_error(log: Path) -> str | None:
    """runc's last error in its JSON log, without its ``runc create failed:`` prefix."""
    import json

    msg = None
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("level") in ("error", "fatal"):
                    msg = str(entry.get("msg", ""))
    if msg:
        for prefix in ("runc create failed: ", "runc start failed: "):
            msg = msg.removeprefix(prefix)
    return msg


def ports(c: Container) -> list[PortBinding]:
    out = []
    for key, bindings in (c.host_config.get("PortBindings") or {}).items():
        port, _, proto = key.partition("/")
        for b in bindings:
            out.append(PortBinding(b.get("HostIp", ""), int(b["HostPort"]), int(port),
                                   proto or "tcp"))
    return out


def main(argv: list[str]) -> None:
    root, cid, report, mode = Path(argv[1]), argv[2], int(argv[3]), argv[4]
    if os.fork():
        os._exit(0)
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        Monitor(root, cid, report, mode == "attach").main()
    except WharfieError as e:  # before the container could start (no runtime, say)
        with contextlib.suppress(OSError):
            os.write(report, f"error {e.exit_code or 125} {e.message}\n".encode())
    except BaseException as e:  # noqa: BLE001 - nobody else will hear of it
        with contextlib.suppress(OSError):
            os.write(report, f"error 125 monitor failed: {e!r}\n".encode())
        raise


if __name__ == "__main__":
    main(sys.argv)
