"""Every flag that names an output file, against what may sit at that path.

``wharfie export IMAGE -o /dev/null`` once replaced the host's /dev/null with a regular
file. A device, FIFO or symlink must be written through and stay what it is; a directory is
refused in one line; a regular file is replaced whole. No test here touches the host's
/dev: devices are mknod'ed in tmp_path and ``/dev/stdout`` is a private mount namespace's.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import tarfile

import pytest

TAR_COMMANDS = {
    "save": lambda t, ctx: ("save", "-o", t, "bb:1"),
    "export": lambda t, ctx: ("export", "-o", t, "bb:1"),
    "copy": lambda t, ctx: ("copy", "-q", "wharfie:bb:1", f"docker-archive:{t}"),
    "build-tar": lambda t, ctx: ("build", "-o", f"type=tar,dest={t}", ctx),
    "build-docker": lambda t, ctx: ("build", "-o", f"type=docker,dest={t}", ctx),
    "build-oci": lambda t, ctx: ("build", "-o", f"type=oci,dest={t}", ctx),
}
# These wrote in place already; a directory and an old file's atomic replacement are new.
SMALL_COMMANDS = {
    "iidfile": lambda t, ctx: ("build", "--iidfile", t, ctx),
    "metadata-file": lambda t, ctx: ("build", "--metadata-file", t, ctx),
}
ALL_COMMANDS = {**TAR_COMMANDS, **SMALL_COMMANDS}


def assert_valid_output(command: str, data: bytes) -> None:
    """What ``command`` writes: a whole tar of the right kind, an image ID, or metadata JSON."""
    if command == "iidfile":
        assert data.startswith(b"sha256:") and len(data) == 71, data
    elif command == "metadata-file":
        assert json.loads(data)["containerimage.digest"].startswith("sha256:")
    else:
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            names = tf.getnames()
        rootfs = command in ("export", "build-tar")
        assert any(n.endswith("bin/busybox") for n in names) if rootfs else \
            "manifest.json" in names, names


@pytest.fixture
def run_output(wharfie, busybox_rootfs_tar, tmp_path):
    """``run_output(command, target, check=...)``: that command writing to ``target``."""
    wharfie("import", str(busybox_rootfs_tar), "bb:1")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM bb:1\nLABEL purpose=output-targets\n")

    def run(command: str, target, check: bool = True):
        return wharfie(*ALL_COMMANDS[command](str(target), str(ctx)), check=check)

    return run


@pytest.fixture
def out(tmp_path):
    """A directory that holds only the output target, so leftovers show."""
    d = tmp_path / "out"
    d.mkdir()
    return d


@pytest.mark.parametrize("command", TAR_COMMANDS)
def test_a_fifo_target_is_written_through_to_its_reader(run_output, tmp_path, out, command):
    fifo = out / "pipe"
    os.mkfifo(fifo)
    with open(tmp_path / "received", "wb") as received:
        reader = subprocess.Popen(["cat", str(fifo)], stdout=received)
    try:
        run_output(command, fifo)
        reader.wait(timeout=30)
    finally:
        if reader.poll() is None:  # the FIFO was replaced: nobody will ever write to it
            reader.kill()
            reader.wait()
    assert_valid_output(command, (tmp_path / "received").read_bytes())
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in out.iterdir()] == ["pipe"]


@pytest.mark.parametrize("command", TAR_COMMANDS)
def test_a_symlink_target_stays_a_link_and_its_target_gets_the_data(run_output, out, command):
    real = out / "real.tar"
    real.write_bytes(b"old")
    link = out / "link.tar"
    link.symlink_to(real)
    run_output(command, link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert_valid_output(command, real.read_bytes())
    assert sorted(p.name for p in out.iterdir()) == ["link.tar", "real.tar"]


@pytest.mark.parametrize("command", TAR_COMMANDS)
def test_a_character_device_target_stays_a_character_device(run_output, out, command):
    node = out / "null"
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # our own /dev/null, in tmp_path
    run_output(command, node)
    st = os.lstat(node)
    assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)
    assert [p.name for p in out.iterdir()] == ["null"]


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_a_directory_target_is_refused_in_one_line(run_output, out, command):
    target = out / "dir"
    target.mkdir()
    res = run_output(command, target, check=False)
    assert res.returncode != 0
    assert res.stderr.decode().strip().splitlines()[-1] == \
        f"wharfie: error: {target} is a directory: name a file to write"
    assert b"Traceback" not in res.stderr
    assert [p.name for p in out.iterdir()] == ["dir"] and list(target.iterdir()) == []


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_an_existing_file_is_replaced_whole_keeping_its_mode(run_output, out, command):
    target = out / "old"
    target.write_bytes(b"old contents")
    target.chmod(0o640)
    with open(target, "rb") as old_reader:
        run_output(command, target)
        assert old_reader.read() == b"old contents"  # renamed over, never truncated in place
    assert_valid_output(command, target.read_bytes())
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in out.iterdir()] == ["old"]


@pytest.mark.parametrize("command", TAR_COMMANDS)
def test_dev_stdout_is_standard_output(run_output, root, tmp_path, command):
    """``-o /dev/stdout`` in a mount namespace whose /dev is a private tmpfs, so a
    regression replaces that tmpfs's symlink and never the host's."""
    ctx = tmp_path / "ctx"
    script = ('mount -t tmpfs wharfie-test-dev /dev && ln -s /proc/self/fd/1 /dev/stdout'
              ' && exec "$@"')
    res = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
         sys.executable, "-m", "wharfie", *TAR_COMMANDS[command]("/dev/stdout", str(ctx))],
        capture_output=True, env={**os.environ, "WHARFIE_ROOT": str(root)})
    assert res.returncode == 0, res.stderr.decode()
    assert_valid_output(command, res.stdout)


def test_cache_to_a_symlink_dest_is_refused(run_output, wharfie, tmp_path, out):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "cache").symlink_to(elsewhere)
    res = wharfie("build", "--cache-to", f"type=local,dest={out / 'cache'}",
                  str(tmp_path / "ctx"), check=False)
    assert res.returncode != 0 and b"Traceback" not in res.stderr
    assert res.stderr.decode().strip().splitlines()[-1] == \
        f"wharfie: error: {out / 'cache'} is a symlink: name the directory itself"
    assert list(elsewhere.iterdir()) == []
    wharfie("build", "--cache-to", f"type=local,dest={out / 'real'}", str(tmp_path / "ctx"))
    assert (out / "real" / "index.json").is_file()
