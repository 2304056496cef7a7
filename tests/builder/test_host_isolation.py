"""What a running container exposes to the host's other users, and what a killed build
leaves behind: real builds and runs through the CLI, runc and overlayfs."""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

NOBODY = {"user": 65534, "group": 65534, "extra_groups": []}  # dropped before the exec
WAIT_FOR_GO = "while [ ! -e /tmp/go ]; do sleep 0.1; done"


def mounts_under(root: Path) -> dict[str, str]:
    """Mount points under ``root`` and their filesystem types."""
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4]: line.split(" - ")[1].split()[0] for line in f
                if line.split()[4].startswith(str(root) + "/")}


@pytest.fixture
def cleanup(root):
    """Kill what a test started and unmount what it left, even when the test fails."""
    procs: list[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    state = root / "runtime" / "runc"
    listed = subprocess.run(["runc", "--root", str(state), "list", "-q"],
                            capture_output=True, text=True).stdout.split()
    for cid in listed:
        subprocess.run(["runc", "--root", str(state), "delete", "--force", cid],
                       capture_output=True)
    for target in sorted(mounts_under(root), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=True)


def start(root: Path, procs: list, *args: str) -> subprocess.Popen:
    """``wharfie ARGS`` in the background, in a process group of its own."""
    proc = subprocess.Popen([sys.executable, "-m", "wharfie", *args],
                            env={**os.environ, "WHARFIE_ROOT": str(root)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    procs.append(proc)
    return proc


def wait_for(predicate, what: str, proc: subprocess.Popen, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before {what}: "
                                 f"{proc.stderr.read().decode(errors='replace')}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return found


def running_rootfs(root: Path, prefix: str) -> list[Path]:
    """The mounted root filesystems of active snapshots named ``prefix*``."""
    return [p for p in root.glob(f"snapshots/overlay/active/{prefix}*/merged")
            if os.path.ismount(p)]


def as_nobody(root: Path, *argv: str) -> str:
    """Run ``argv`` as nobody with the root as its working directory (entered as root):
    what it printed, or EACCES if it could not be executed."""
    try:
        res = subprocess.run(argv, cwd=root, capture_output=True, text=True, **NOBODY)
    except PermissionError:
        return "EACCES"
    return res.stdout + res.stderr


def context(tmp_path: Path, dockerfile: str, name: str = "ctx") -> Path:
    ctx = tmp_path / name
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


@pytest.fixture
def suid_image(wharfie, root, tmp_path, busybox_rootfs_tar):
    """busybox plus /bin/suid-id: the host's ``id``, setuid root (it runs on the host)."""
    tar = tmp_path / "suid.tar"
    with tarfile.open(busybox_rootfs_tar) as src, tarfile.open(tar, "w") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        data = Path("/usr/bin/id").read_bytes()
        info = tarfile.TarInfo("bin/suid-id")
        info.size, info.mode, info.uid, info.gid = len(data), 0o4755, 0, 0
        dst.addfile(info, io.BytesIO(data))
    root.mkdir(mode=0o755)  # as an older wharfie left it
    os.chmod(root, 0o755)
    wharfie("import", str(tar), "suid:test")
    return "suid:test"


@pytest.mark.parametrize("how", ["run", "build"])
def test_other_users_cannot_reach_a_running_container(suid_image, wharfie, root, tmp_path,
                                                      cleanup, how):
    if how == "run":
        proc = start(root, cleanup, "run", "--rm", suid_image, "sh", "-c", WAIT_FOR_GO)
        prefix = "ctr-"
    else:
        ctx = context(tmp_path, f"FROM {suid_image}\nRUN {WAIT_FOR_GO}\n")
        proc = start(root, cleanup, "build", "--progress", "plain", str(ctx))
        prefix = "build-"
    [rootfs] = wait_for(lambda: running_rootfs(root, prefix), "the container", proc)
    inside = rootfs.relative_to(root)
    assert (rootfs / "bin" / "suid-id").stat().st_mode & stat.S_ISUID

    # nobody, standing in the root (as if every parent were open to all), gets nowhere
    assert as_nobody(root, f"./{inside}/bin/suid-id", "-u") == "EACCES"
    for path in (".", "snapshots", inside.parent.parent, inside.parent):
        assert "Permission denied" in as_nobody(root, "stat", f"{path}/."), path
    assert stat.S_IMODE(root.stat().st_mode) == 0o700  # tightened, though it existed
    for d in (inside.parent, inside.parent.parent):
        assert stat.S_IMODE((root / d).stat().st_mode) == 0o700, d

    (rootfs / "tmp" / "go").touch()
    assert proc.wait(60) == 0, proc.stderr.read().decode(errors="replace")
    # the runc bundles: a container's under containers/, a RUN step's under runtime/bundles
    bundles = root / ("containers" if how == "run" else "runtime/bundles")
    assert stat.S_IMODE(bundles.stat().st_mode) == 0o700
    # setuid binaries still work in containers: the root filesystem is not mounted nosuid
    mounts = wharfie("run", "--rm", suid_image, "cat", "/proc/mounts").stdout.decode()
    assert "nosuid" not in next(m for m in mounts.splitlines() if m.split()[1] == "/")


def test_a_new_root_is_private_whatever_the_umask(root, busybox_rootfs_tar):
    env = {**os.environ, "WHARFIE_ROOT": str(root)}
    subprocess.run([sys.executable, "-m", "wharfie", "import", str(busybox_rootfs_tar),
                    "busybox:local"], env=env, check=True, capture_output=True,
                   preexec_fn=lambda: os.umask(0))
    subprocess.run([sys.executable, "-m", "wharfie", "run", "--rm", "busybox:local", "true"],
                   env=env, check=True, capture_output=True, preexec_fn=lambda: os.umask(0))
    for d in ("", "snapshots", "snapshots/overlay", "snapshots/overlay/active",
              "snapshots/overlay/layers", "snapshots/overlay/tmp", "containers"):
        assert stat.S_IMODE((root / d).stat().st_mode) == 0o700, d


def test_a_build_killed_mid_run_is_swept_at_the_next_start_a_live_one_is_not(
        wharfie, root, tmp_path, busybox_rootfs_tar, cleanup):
    wharfie("import", str(busybox_rootfs_tar), "busybox:local")
    secret = tmp_path / "token"
    secret.write_text("hunter2-never-on-disk")
    killed_ctx = context(tmp_path, "FROM busybox:local\nRUN --mount=type=secret,id=tok "
                         "sh -c 'echo killed-started; sleep 600'\n", "killed")
    live_ctx = context(tmp_path, f"FROM busybox:local\nRUN --mount=type=secret,id=tok "
                       f"sh -c '{WAIT_FOR_GO}; cat /run/secrets/tok > /seen'\n", "live")

    killed = start(root, cleanup, "build", "--progress", "plain", "--secret",
                   f"id=tok,src={secret}", str(killed_ctx))
    [killed_rootfs] = wait_for(lambda: running_rootfs(root, "build-"), "the RUN", killed)
    while b"killed-started" not in (line := killed.stderr.readline()):
        assert line, "the build ended before its RUN started"
    [killed_secret] = wait_for(lambda: list(root.glob("build/tmp/mounts-*/**/secret-0")),
                               "the killed RUN's secret", killed)
    os.killpg(killed.pid, signal.SIGKILL)  # wharfie, runc and the container: no cleanup
    killed.wait()
    # the scenario: the killed build's mount, snapshot and secret are still there
    assert str(killed_rootfs) in mounts_under(root) and killed_secret.exists()

    # the next build's start removes them
    live = start(root, cleanup, "build", "--progress", "plain", "--secret",
                 f"id=tok,src={secret}", "-t", "live:1", str(live_ctx))
    [live_rootfs] = wait_for(lambda: [p for p in running_rootfs(root, "build-")
                                      if p != killed_rootfs], "the live RUN", live)
    assert str(killed_rootfs) not in mounts_under(root)
    assert not killed_rootfs.parent.exists() and not killed_secret.exists()
    assert not killed_secret.parent.exists()

    # and a start while that build runs leaves it alone
    [live_secret] = wait_for(lambda: list(root.glob("build/tmp/mounts-*/**/secret-0")),
                             "the live RUN's secret", live)
    wharfie("build", "-q", str(context(tmp_path, "FROM busybox:local\nRUN true\n", "next")))
    # the live build lost nothing: its step finishes and sees its secret
    assert os.path.ismount(live_rootfs) and live_secret.read_text() == secret.read_text()
    assert mounts_under(root)[str(live_secret.parent)] == "tmpfs"  # never on the disk
    (live_rootfs / "tmp" / "go").touch()
    assert live.wait(60) == 0, live.stderr.read().decode(errors="replace")
    assert wharfie("run", "--rm", "live:1", "cat", "/seen").stdout == secret.read_bytes()
    assert mounts_under(root) == {} and list(root.glob("build/tmp/mounts-*")) == []
    assert list(root.glob("snapshots/*/active/*")) == []


@pytest.mark.parametrize("first", [["volume", "create", "v1"], ["images"], ["ps", "-a"],
                                   ["system", "df"]])
def test_a_root_made_by_any_command_is_private(tmp_path, first):
    """Whatever command makes the root first (a volume, a listing), it is 0700: nothing in it
    is reachable by other users, whatever the umask made inside."""
    root = tmp_path / "fresh-root"
    subprocess.run([sys.executable, "-m", "wharfie", "--root", str(root), *first], check=True,
                   capture_output=True, preexec_fn=lambda: os.umask(0))
    if first[0] == "volume":
        assert root.is_dir()
    if root.exists():
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
