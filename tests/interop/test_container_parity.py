"""Containers against Debian's dockerd (tests.conftest.dockerd_daemon): the same busybox image
and the same commands give the same ``diff`` lines and ``stop`` exit codes, and what
``commit`` makes, ``docker load`` takes and ``docker run`` shows."""

from __future__ import annotations

import subprocess
import time

import pytest
from tests.conftest import dockerd_daemon


@pytest.fixture(scope="module")
def dockerd():
    with dockerd_daemon() as env:
        yield env


def docker(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(["/usr/bin/docker", *args], env=env, capture_output=True, text=True)
    assert not check or res.returncode == 0, f"docker {' '.join(args)}:\n{res.stderr}"
    return res


@pytest.fixture
def bb(wharfie, busybox_rootfs_tar, dockerd, tmp_path):
    """bb:1 (busybox, CMD sh) in wharfie's store and loaded into dockerd."""
    wharfie("import", "-c", 'CMD ["sh"]', str(busybox_rootfs_tar), "bb:1")
    tar = tmp_path / "bb.tar"
    wharfie("save", "-o", str(tar), "bb:1")
    docker(dockerd, "load", "-i", str(tar))
    return "bb:1"


CHANGES = [
    "echo made > /made",                         # add a file at the top
    "mkdir -p /a/b/c && echo n > /a/b/c/f",      # nested new dirs
    "echo x >> /etc/passwd",                     # change a file
    "rm /bin/vi",                                # delete a file
    "rm -r /usr/bin",                            # delete a whole dir
    "mkdir -p /root/deep/er && touch /root/deep/er/g",  # new dirs inside an existing one
    "rm -rf /var && mkdir /var && touch /var/new",     # a dir replaced (opaque)
    "chmod 700 /home",                           # metadata only
    "ln -s /made /tmp/link",                     # a symlink
]


@pytest.mark.parametrize("script", CHANGES + ["; ".join(CHANGES)])
def test_diff_lines_equal_dockers(wharfie, dockerd, bb, script):
    cid = docker(dockerd, "create", "--network", "none", bb, "sh", "-ec", script).stdout.strip()
    try:
        docker(dockerd, "start", "-a", cid)
        want = docker(dockerd, "diff", cid).stdout
    finally:
        docker(dockerd, "rm", "-f", cid)
    wharfie("run", "--name", "d", "--network", "none", bb, "sh", "-ec", script)
    # docker's order varies from run to run (its walk of the layers); wharfie's is by path
    got = wharfie("diff", "d").stdout.decode().splitlines()
    assert got == sorted(want.splitlines(), key=lambda line: line[2:])


def test_commit_is_loaded_and_run_by_docker(wharfie, dockerd, bb, tmp_path):
    wharfie("run", "--name", "c", "--network", "none", bb, "sh", "-c",
            "mkdir -p /srv/x && echo committed > /srv/x/f && rm /bin/vi")
    wharfie("commit", "-c", "ENV MARK=yes", "c", "made:1")
    tar = tmp_path / "made.tar"
    wharfie("save", "-o", str(tar), "made:1")
    assert docker(dockerd, "load", "-i", str(tar)).stdout == "Loaded image: made:1\n"
    res = docker(dockerd, "run", "--rm", "made:1", "sh", "-c",
                 "cat /srv/x/f; echo $MARK; test -e /bin/vi || echo gone")
    assert res.stdout == "committed\nyes\ngone\n"


TRAP = "trap 'exit 43' TERM; while :; do sleep 0.1; done"


@pytest.mark.parametrize("argv", [["sh", "-c", TRAP], ["sleep", "60"]],
                         ids=["term-trapped", "sleep-as-pid1"])
def test_stop_exit_code_equals_dockers(wharfie, dockerd, bb, argv):
    cid = docker(dockerd, "run", "-d", "--network", "none", bb, *argv).stdout.strip()
    try:
        time.sleep(0.5)  # the trap is set
        docker(dockerd, "stop", "-t", "2", cid)
        want = docker(dockerd, "wait", cid).stdout
    finally:
        docker(dockerd, "rm", "-f", cid)
    cid = wharfie("run", "-d", "--network", "none", bb, *argv).stdout.decode().strip()
    time.sleep(0.5)
    wharfie("stop", "-t", "2", cid)
    assert wharfie("wait", cid).stdout.decode() == want
    assert want in ("43\n", "137\n")
