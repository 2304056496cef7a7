"""Real containers through Debian's runc on a busybox root filesystem."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from wharfie.errors import InvalidInput
from wharfie.fs.mounts import mounts_under
from wharfie.runtime import (
    Bind,
    CommandNotExecutable,
    CommandNotFound,
    ProcessConfig,
    RuntimeUnavailable,
    find_runtime,
    run,
    state_dir,
)
from wharfie.runtime.spec import DEFAULT_CAPABILITIES, DEFAULT_PATH, make_spec, safe_rlimits
from wharfie.runtime.user import ExecUser

from .conftest import runc_containers

# Linux capability numbers of Docker's 14 defaults (linux/capability.h).
CAP_NUMBERS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_FSETID": 4,
               "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
               "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13, "CAP_SYS_CHROOT": 18,
               "CAP_MKNOD": 27, "CAP_AUDIT_WRITE": 29, "CAP_SETFCAP": 31}
DOCKER_CAPS = 0xA80425FB  # CapEff of root in `docker run busybox`


def sh(wroot: Path, rootfs: Path, script: str, **kw) -> tuple[int, str, str]:
    out: list[bytes] = []
    err: list[bytes] = []
    code = run(wroot, rootfs, ProcessConfig(args=["sh", "-c", script], **kw),
               stdout=out.append, stderr=err.append)
    return code, b"".join(out).decode(), b"".join(err).decode()


def status_field(text: str, name: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in text.splitlines()
                if line.startswith(name + ":"))


def test_exit_status_and_separate_streams(wroot, rootfs):
    assert sh(wroot, rootfs, "echo out; echo err >&2; exit 3") == (3, "out\n", "err\n")
    assert sh(wroot, rootfs, "true")[0] == 0


def test_pid_1_hostname_and_env(wroot, rootfs):
    code, out, _ = sh(wroot, rootfs, "echo $$; hostname; cat /etc/hostname; env | sort",
                      env=["A=1", "PATH=/bin"], hostname="box1")
    lines = out.splitlines()
    assert code == 0 and lines[:3] == ["1", "box1", "box1"]
    assert {"A=1", "PATH=/bin", "HOSTNAME=box1", "HOME=/root"} <= set(lines)
    _, out, _ = sh(wroot, rootfs, "echo $PATH")
    assert out.strip() == DEFAULT_PATH


def test_cwd_is_created_and_must_be_absolute(wroot, rootfs):
    assert sh(wroot, rootfs, "pwd", cwd="/work/dir")[1] == "/work/dir\n"
    assert (rootfs / "work" / "dir").is_dir()
    with pytest.raises(InvalidInput, match="absolute"):
        sh(wroot, rootfs, "pwd", cwd="rel")


def test_user_and_groups_from_image(wroot, rootfs):
    with open(rootfs / "etc" / "group", "a") as f:
        f.write("staff:x:50:app\n")
    assert sh(wroot, rootfs, "id", user="app")[1] == \
        "uid=1000(app) gid=1000(app) groups=50(staff),1000(app)\n"
    assert sh(wroot, rootfs, "id", user="1234:5678")[1] == "uid=1234 gid=5678 groups=5678\n"
    assert sh(wroot, rootfs, "echo $HOME", user="app")[1] == "/home/app\n"


def test_docker_default_capabilities(wroot, rootfs):
    assert sum(1 << CAP_NUMBERS[c] for c in DEFAULT_CAPABILITIES) == DOCKER_CAPS
    _, out, _ = sh(wroot, rootfs, "cat /proc/self/status")
    assert int(status_field(out, "CapEff"), 16) == DOCKER_CAPS
    assert int(status_field(out, "CapBnd"), 16) == DOCKER_CAPS
    assert status_field(out, "NoNewPrivs") == "0"
    _, out, _ = sh(wroot, rootfs, "cat /proc/self/status", user="app")
    assert int(status_field(out, "CapEff"), 16) == 0
    assert int(status_field(out, "CapBnd"), 16) == DOCKER_CAPS


def interfaces(proc_net_dev: str) -> set[str]:
    return {line.split(":")[0].strip() for line in proc_net_dev.splitlines()[2:]}


def test_network_none_sees_only_lo_and_host_sees_host(wroot, rootfs):
    assert interfaces(sh(wroot, rootfs, "cat /proc/net/dev", network="none")[1]) == {"lo"}
    host = interfaces(Path("/proc/net/dev").read_text())
    assert interfaces(sh(wroot, rootfs, "cat /proc/net/dev", network="host")[1]) == host
    with pytest.raises(InvalidInput, match="not supported"):
        sh(wroot, rootfs, "true", network="bridge")


def test_etc_files_from_host_read_only(wroot, rootfs):
    code, out, _ = sh(wroot, rootfs, "cat /etc/resolv.conf; echo x >> /etc/resolv.conf")
    assert code != 0
    assert out == Path("/etc/resolv.conf").read_text()
    # mount points runc had to create are gone afterwards: no trace in the layer
    assert not (rootfs / "etc" / "resolv.conf").exists()
    assert not (rootfs / "etc" / "hostname").exists()


def test_proc_dev_sys(wroot, rootfs):
    code, out, _ = sh(wroot, rootfs,
                      "ls /dev; touch /sys/x 2>/dev/null && echo sys-rw; "
                      "echo hi > /dev/shm/f && cat /dev/shm/f; grep ' /dev/pts ' /proc/mounts")
    assert code == 0
    names = set(out.split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue"} <= names
    assert "sys-rw" not in names and "hi" in names and "devpts" in out


def limits(text: str) -> dict[str, str]:
    """/proc/<pid>/limits: name -> hard limit."""
    out = {}
    for line in text.splitlines()[1:]:
        name, hard = line[:26].strip(), line[47:68].strip()
        out[name] = hard
    return out


def as_number(v: str) -> float:
    return float("inf") if v == "unlimited" else float(v)


def test_rlimits_are_never_raised(wroot, rootfs):
    host = limits(Path("/proc/self/limits").read_text())
    huge = {"RLIMIT_NOFILE": (2**40, 2**40), "RLIMIT_NPROC": (2**40, 2**40),
            "RLIMIT_MEMLOCK": (2**40, 2**40)}
    code, out, err = sh(wroot, rootfs, "cat /proc/self/limits", rlimits=huge)
    assert code == 0, err
    inside = limits(out)
    for name, hard in inside.items():
        assert as_number(hard) <= as_number(host[name]), name
    assert as_number(inside["Max locked memory"]) == as_number(host["Max locked memory"])
    # runc's default lowers RLIMIT_NOFILE to 1024 where that is a lowering
    _, out, _ = sh(wroot, rootfs, "ulimit -Hn; ulimit -Sn")
    expect = min(1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    assert out.split() == [str(expect), str(expect)]


def test_safe_rlimits_clamps_to_hard_limits():
    hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
    (lim,) = safe_rlimits({"RLIMIT_MEMLOCK": (2**50, 2**50)})
    assert lim["hard"] == hard and lim["soft"] == hard
    with pytest.raises(InvalidInput):
        safe_rlimits({"RLIMIT_BOGUS": (1, 1)})


def test_bind_mounts(wroot, rootfs, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "f").write_text("data")
    code, out, _ = sh(wroot, rootfs, "echo made > /data/new; cat /cfg/f; echo x > /cfg/g",
                      binds=[Bind(rw, "/data"), Bind(ro, "/cfg", readonly=True)])
    assert code != 0 and out == "data"
    assert (rw / "new").read_text() == "made\n"
    assert not (ro / "g").exists()


def test_missing_and_unexecutable_commands(wroot, rootfs):
    err: list[bytes] = []
    with pytest.raises(CommandNotFound, match="nope") as e:
        run(wroot, rootfs, ProcessConfig(args=["nope"]), stderr=err.append)
    assert e.value.exit_code == 127
    assert err == []  # runc's own report is turned into the exception, not printed
    with pytest.raises(CommandNotExecutable) as e:
        run(wroot, rootfs, ProcessConfig(args=["/etc/passwd"]), stderr=err.append)
    assert e.value.exit_code == 126
    assert sh(wroot, rootfs, "nope")[0] == 127  # a shell reports it the usual way


def test_interrupt_kills_and_cleans_up(wroot, rootfs):
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from wharfie.runtime import ProcessConfig, run
        try:
            run(Path({str(wroot)!r}), Path({str(rootfs)!r}),
                ProcessConfig(args=["sh", "-c", "echo started; sleep 600"]),
                stdout=sys.stdout.buffer)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"started\n"
        assert len(runc_containers(wroot)) == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
        assert proc.stdout.read() == b"interrupted\n"
    finally:
        proc.kill()
        proc.wait()
    assert runc_containers(wroot) == []


def runc_runs(wroot: Path) -> list[int]:
    """PIDs of the ``runc run`` processes on ``wroot``'s runtime state (not another test's)."""
    want = ["--root", str(state_dir(wroot) / "runc")]
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().decode().split("\0")
        except (OSError, ValueError):
            continue
        if argv[1:3] == want and "run" in argv:
            pids.append(int(proc.name))
    return pids


def test_a_container_runc_did_not_remove_is_deleted(wroot, rootfs):
    """``runc run`` killed (the OOM killer, say) leaves its container running, with its
    state: the run still ends with no container left (wroot checks with runc itself)."""
    def kill_runc(data: bytes) -> None:
        if data == b"started\n":
            [pid] = runc_runs(wroot)
            os.kill(pid, signal.SIGKILL)

    code = run(wroot, rootfs, ProcessConfig(args=["sh", "-c", "echo started; sleep 600"]),
               stdout=kill_runc)
    assert code == -signal.SIGKILL
    assert runc_containers(wroot) == []


def test_sink_error_stops_container_and_propagates(wroot, rootfs):
    def sink(data: bytes) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        run(wroot, rootfs, ProcessConfig(args=["sh", "-c", "echo x; sleep 600"]), stdout=sink)
    assert runc_containers(wroot) == []


def test_stale_containers_of_dead_processes_are_swept(wroot, rootfs):
    dead = subprocess.Popen(["true"])
    dead.wait()
    rt = find_runtime(state_dir(wroot))
    cfg = make_spec(rootfs, ProcessConfig(args=["sleep", "600"]), ExecUser(0, 0, [0]), {})
    bundles = []
    for tag in ("0123456789ab", "ba9876543210"):
        cid = f"wharfie-{dead.pid}-{tag}"
        bundle = state_dir(wroot) / "bundles" / cid
        bundle.mkdir(parents=True)
        (bundle / "config.json").write_text(json.dumps(cfg))
        subprocess.run(rt._cmd("run", "-d", "--bundle", str(bundle), cid), check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        bundles.append(bundle)
    shutil.rmtree(bundles[1])  # known to the runtime only: found by its state directory
    assert len(runc_containers(wroot)) == 2
    assert sh(wroot, rootfs, "true")[0] == 0
    assert runc_containers(wroot) == []
    assert not bundles[0].exists()


def test_a_runc_killed_while_starting_leaves_no_mount_after_the_sweep(wroot, rootfs):
    # runc bind-mounts its own binary into the container's state directory while it
    # starts; killed then, it leaves the mount, and ``runc delete`` cannot remove the
    # directory (it exits 0 all the same)
    dead = subprocess.Popen(["true"])
    dead.wait()
    state = state_dir(wroot) / "runc" / f"wharfie-{dead.pid}-0123456789ab"
    state.mkdir(parents=True)
    binary = state / "runc.Xk2s9a"
    binary.touch()
    subprocess.run(["mount", "--bind", "-o", "ro", shutil.which("runc"), str(binary)],
                   check=True)
    try:
        assert mounts_under(state) == [binary]
        assert sh(wroot, rootfs, "true")[0] == 0  # a run sweeps first
        assert mounts_under(state) == [] and not state.exists()
    finally:
        for target in mounts_under(state):
            subprocess.run(["umount", "-l", str(target)], check=False)


def test_broken_and_missing_runtimes_are_refused_clearly(wroot, rootfs, monkeypatch, tmp_path):
    assert os.path.exists("/usr/bin/crun"), "crun is in scripts/install-system-deps.sh"
    monkeypatch.setenv("WHARFIE_RUNTIME", "crun")
    with pytest.raises(RuntimeUnavailable, match="crun does not work on this host: .*cgroup"):
        sh(wroot, rootfs, "true")
    monkeypatch.setenv("WHARFIE_RUNTIME", "/no/such/runtime")
    with pytest.raises(RuntimeUnavailable, match="not found"):
        sh(wroot, rootfs, "true")
    monkeypatch.delenv("WHARFIE_RUNTIME")
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(RuntimeUnavailable, match="no OCI runtime found"):
        sh(wroot, rootfs, "true")


def test_runs_are_quick(wroot, rootfs):
    start = time.monotonic()
    for _ in range(5):
        assert sh(wroot, rootfs, "true")[0] == 0
    assert time.monotonic() - start < 5


def test_killed_by_signal_exits_128_plus_signal(wroot, rootfs):
    result: dict[str, int] = {}
    t = threading.Thread(target=lambda: result.setdefault(
        "code", run(wroot, rootfs, ProcessConfig(args=["sleep", "600"]))))
    t.start()
    try:
        deadline = time.monotonic() + 20
        while not [c for c in runc_containers(wroot) if c["status"] == "running"]:
            assert time.monotonic() < deadline, "container never started"
            time.sleep(0.05)
        (c,) = runc_containers(wroot)
        subprocess.run(["runc", "--root", str(wroot / "runtime" / "runc"), "kill", c["id"],
                        "KILL"], check=True)
    finally:
        t.join(30)
    assert result == {"code": 128 + signal.SIGKILL}
