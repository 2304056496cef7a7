"""``wharfie run``, ``ps``, ``rm`` and ``export`` on a busybox image, through the real CLI and runc."""

from __future__ import annotations

import io
import json
import os
import pty
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from tests.conftest import cached


def runc_list(root) -> list[dict]:
    res = subprocess.run(["runc", "--root", str(root / "runtime" / "runc"), "list",
                          "--format", "json"], capture_output=True, check=True)
    return json.loads(res.stdout or b"null") or []


@pytest.fixture
def image(wharfie, root, busybox_rootfs_tar):
    """busybox:test (CMD echo hello, ENV FOO=bar) and ep:test (ENTRYPOINT, CMD, WORKDIR, USER)."""
    tar = str(busybox_rootfs_tar)
    wharfie("import", "-c", 'CMD ["echo", "hello"]', "-c", "ENV FOO=bar", tar, "busybox:test")
    wharfie("import", "-c", 'ENTRYPOINT ["echo", "ep"]', "-c", 'CMD ["c1"]', "-c", "WORKDIR /srv",
            "-c", "USER app", tar, "ep:test")
    yield "busybox:test"
    left = runc_list(root)
    for c in left:
        subprocess.run(["runc", "--root", str(root / "runtime" / "runc"), "delete", "--force",
                        c["id"]], capture_output=True)
    for active in root.glob("snapshots/*/active/*"):
        subprocess.run(["umount", "-l", str(active / "merged")], capture_output=True)
    assert left == [], "runc containers left behind"


def out(res) -> str:
    return res.stdout.decode()


def test_cmd_env_and_exit_status(wharfie, image):
    assert out(wharfie("run", "--rm", image)) == "hello\n"
    res = wharfie("run", "--rm", image, "sh", "-c", "echo $FOO $$; echo e >&2; exit 7",
                  check=False)
    assert (res.returncode, out(res), res.stderr) == (7, "bar 1\n", b"e\n")


def test_only_rm_containers_skip_the_sync_at_unmount(wharfie, image):
    def root_mount(*flags: str) -> str:
        mounts = out(wharfie("run", *flags, image, "cat", "/proc/mounts"))
        return next(line for line in mounts.splitlines() if line.split()[1] == "/")

    assert "volatile" in root_mount("--rm")  # thrown away at exit: need not reach the disk
    assert "volatile" not in root_mount("--name", "kept")  # kept: docker start, export


def test_entrypoint_cmd_workdir_user_rules(wharfie, image):
    assert out(wharfie("run", "--rm", "ep:test")) == "ep c1\n"
    assert out(wharfie("run", "--rm", "ep:test", "x", "y")) == "ep x y\n"
    assert out(wharfie("run", "--rm", "--entrypoint", "pwd", "ep:test")) == "/srv\n"
    assert out(wharfie("run", "--rm", "--entrypoint", "id", "ep:test")) == \
        "uid=1000(app) gid=1000(app) groups=1000(app)\n"
    assert out(wharfie("run", "--rm", "-u", "1234:5678", "-w", "/tmp", "--entrypoint", "sh",
                       "ep:test", "-c", "id; pwd")) == "uid=1234 gid=5678 groups=5678\n/tmp\n"


def test_env_flags(wharfie, image, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\n\nFROM_FILE=1\nFOO=file\n")
    res = wharfie("run", "--rm", "--env-file", str(env_file), "-e", "FOO=flag", "-e", "HOSTV",
                  "-e", "UNSET_VAR", image, "env", env={"HOSTV": "from-host"})
    env = set(out(res).splitlines())
    assert {"FOO=flag", "FROM_FILE=1", "HOSTV=from-host", "HOME=/root"} <= env
    assert not any(e.startswith("UNSET_VAR") for e in env)


def test_network_none_and_volumes(wharfie, image, tmp_path):
    res = wharfie("run", "--rm", "--network", "none", image, "cat", "/proc/net/dev")
    assert [line.split(":")[0].strip() for line in out(res).splitlines()[2:]] == ["lo"]
    data = tmp_path / "data"
    res = wharfie("run", "--rm", "-v", f"{data}:/data", "-v", f"{tmp_path}:/ro:ro", image,
                  "sh", "-c", "echo hi > /data/f; touch /ro/x", check=False)
    assert res.returncode == 1
    assert (data / "f").read_text() == "hi\n"
    assert not (tmp_path / "x").exists()


def test_docker_exit_codes(wharfie, image):
    res = wharfie("run", "--rm", image, "nope", check=False)
    assert res.returncode == 127
    assert res.stderr.decode().startswith("wharfie: error: failed to start container: exec: ")
    assert b"Traceback" not in res.stderr
    assert wharfie("run", "--rm", image, "/etc/passwd", check=False).returncode == 126
    for args in (["-u", "nosuch", image, "true"], ["--pull", "never", "nosuchimage"],
                 ["-w", "rel", image, "true"], ["-v", "rel/x:/x", image, "true"]):
        res = wharfie("run", "--rm", *args, check=False)
        assert res.returncode == 125, args
        assert res.stderr.startswith(b"wharfie: error: ") and b"Traceback" not in res.stderr


def test_broken_runtime_is_a_clear_error(wharfie, image):
    res = wharfie("run", "--rm", image, "true", check=False, env={"WHARFIE_RUNTIME": "crun"})
    assert res.returncode == 125
    msg = res.stderr.decode()
    assert msg.startswith("wharfie: error: the OCI runtime ") and "does not work" in msg
    assert "install runc" in msg and "Traceback" not in msg


def test_kept_container_ps_export_rm(wharfie, image, root):
    wharfie("run", "--name", "keep", image, "sh", "-c", "echo data > /made; rm /bin/vi")
    ps = out(wharfie("ps", "-a"))
    assert "keep" in ps and "Exited (0)" in ps
    assert out(wharfie("ps")).splitlines()[1:] == []  # nothing running
    with tarfile.open(fileobj=io.BytesIO(wharfie("export", "keep").stdout)) as tar:
        names = tar.getnames()
        assert tar.extractfile("made").read() == b"data\n"
    assert "bin/vi" not in names and "bin/sh" in names
    assert not any(".wh." in n for n in names)
    assert wharfie("run", "--name", "keep", image, "true", check=False).returncode == 125
    wharfie("rm", "keep")
    assert out(wharfie("ps", "-a", "-q")) == ""
    assert list(root.glob("snapshots/*/active/*")) == []


def test_rm_flag_leaves_nothing(wharfie, image, root):
    wharfie("run", "--rm", image, "touch", "/x")
    assert out(wharfie("ps", "-a", "-q")) == ""
    assert list(root.glob("snapshots/*/active/*")) == []
    assert not (root / "runtime" / "bundles").exists() or \
        not any((root / "runtime" / "bundles").iterdir())


def test_export_image_is_its_rootfs(wharfie, image, tmp_path, busybox_rootfs_tar):
    dest = tmp_path / "img.tar"
    wharfie("export", "-o", str(dest), image)
    with tarfile.open(dest) as got, tarfile.open(busybox_rootfs_tar) as want:
        want_names = {n.removeprefix("./") for n in want.getnames()} - {".", ""}
        assert set(got.getnames()) == want_names
        assert got.extractfile("etc/passwd").read() == want.extractfile("./etc/passwd").read()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_are_forwarded_and_run_exits_with_the_containers_code(image, root, sig):
    """As docker's sig-proxy: the container's process gets the signal (a trapping one exits
    43, and so does run), and --rm still removes everything."""
    env = {**os.environ, "WHARFIE_ROOT": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "wharfie", "run", "--rm", image, "sh", "-c",
                             "trap 'exit 43' INT TERM; echo started; sleep 600 & wait"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"started\n"
        assert len(runc_list(root)) == 1
        start = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(30) == 43
        assert time.monotonic() - start < 10
    finally:
        proc.kill()
        proc.wait()
    assert runc_list(root) == []
    assert list(root.glob("snapshots/*/active/*")) == []
    assert list((root / "containers").glob("*.json")) == []


@pytest.fixture(scope="session")
def minbase_rootfs_tar() -> Path:
    """A Debian bookworm minbase root filesystem made by mmdebstrap (cached between runs)."""
    return cached("debian-minbase.tar", ["mmdebstrap --variant=minbase bookworm v1"],
                  lambda p: subprocess.run(["mmdebstrap", "--variant=minbase", "--mode=root",
                                            "--format=tar", "--quiet", "bookworm", str(p)],
                                           check=True))


def test_debian_minbase(wharfie, root, minbase_rootfs_tar):
    """A real distribution: its users resolve, and root can drop privileges as apt does."""
    wharfie("import", str(minbase_rootfs_tar), "debian:minbase")
    script = ("cat /etc/debian_version; id; "
              "setpriv --reuid=_apt --regid=nogroup --clear-groups id; test -s /etc/resolv.conf")
    res = wharfie("run", "--rm", "debian:minbase", "sh", "-c", script)
    lines = out(res).splitlines()
    assert lines[0].startswith("12.")
    assert lines[1] == "uid=0(root) gid=0(root) groups=0(root)"
    assert lines[2] == "uid=42(_apt) gid=65534(nogroup) groups=65534(nogroup)"
    assert out(wharfie("run", "--rm", "-u", "_apt", "debian:minbase", "id")) == \
        "uid=42(_apt) gid=65534(nogroup) groups=65534(nogroup)\n"
    assert runc_list(root) == []


def test_tty_and_interactive(wharfie, image, root):
    pid, fd = pty.fork()
    if pid == 0:  # the child: wharfie on a terminal, as a user would run it
        os.environ["WHARFIE_ROOT"] = str(root)
        os.execv(sys.executable, [sys.executable, "-m", "wharfie", "run", "-t", "--rm", image,
                                  "sh", "-c", "tty; echo $TERM; exit 5"])
    data = b""
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        data += chunk
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 5
    assert data.split(b"\r\n")[:2] == [b"/dev/pts/0", b"xterm"]
    assert out(wharfie("run", "-i", "--rm", image, "cat", input=b"piped\n")) == "piped\n"
    assert out(wharfie("run", "--rm", image, "cat", input=b"ignored\n")) == ""  # no -i
    res = wharfie("run", "-t", "--rm", image, "true", check=False)
    assert res.returncode == 125 and b"not a TTY" in res.stderr


def test_ps_and_rm_force_of_a_running_container(wharfie, image, root):
    env = {**os.environ, "WHARFIE_ROOT": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "wharfie", "run", "--name", "long", image,
                             "sh", "-c", "echo started; sleep 600"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"started\n"
        ps = out(wharfie("ps")).splitlines()
        assert len(ps) == 2 and "long" in ps[1] and " Up " in ps[1]
        res = wharfie("rm", "long", check=False)
        assert res.returncode != 0 and b"container is running" in res.stderr
        wharfie("rm", "-f", "long")
        assert proc.wait(30) == 137
    finally:
        proc.kill()
        proc.wait()
    assert out(wharfie("ps", "-a", "-q")) == ""
    assert runc_list(root) == []
    assert list(root.glob("snapshots/*/active/*")) == []
