"""The tests leave the host as they found it: the session guard (tests.hostguard) sees a
change, and the test dockerd touches neither the host's docker0 nor its mount table."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from tests.conftest import REPO
from tests.hostguard import DEV_NULL_OK, host_changes, host_snapshot

TMP = tempfile.gettempdir()
BEFORE = {
    "interface": ["docker0", "eth0", "lo"],
    "address": ["4: eth0    inet 192.0.2.2/24 scope global eth0"],
    "route": ["default via 192.0.2.1 dev eth0"],
    "/dev/null": [DEV_NULL_OK],
    "mount": ["/", "/proc", "/sys"],
}


def test_an_unchanged_host_has_no_changes():
    snapshot = host_snapshot()
    assert "lo" in snapshot["interface"] and "/" in snapshot["mount"]
    assert snapshot["/dev/null"] == [DEV_NULL_OK]
    assert host_changes(snapshot, host_snapshot()) == []


def test_every_kind_of_change_is_reported():
    own = Path(TMP, "pytest-of-root", "pytest-7")
    after = {
        "interface": ["eth0", "lo"],
        "address": ["4: eth0    inet 192.0.2.2/24 scope global eth0"],
        "route": ["default via 192.0.2.1 dev eth0", "10.0.0.0/8 dev eth0"],
        "/dev/null": ["not a character device (mode -rw-r--r--)"],
        "mount": ["/", "/proc", "/proc", "/sys", f"{own}/test_x0/root/merged",
                  f"{TMP}/wharfie-dockerd-x/data", "/srv/merged",
                  f"{TMP}/pytest-of-root/pytest-8/test_y0/merged",  # a concurrent run's
                  f"{TMP}/h1/active/ctr-1/merged"],  # someone's experiment, begun before
    }
    assert host_changes(BEFORE, after, own, frozenset({"h1", "pytest-of-root"})) == [
        "+ /dev/null: not a character device (mode -rw-r--r--)",
        "+ mount: /proc",
        "+ mount: /srv/merged",
        f"+ mount: {own}/test_x0/root/merged",
        f"+ mount: {TMP}/wharfie-dockerd-x/data",
        "+ route: 10.0.0.0/8 dev eth0",
        "- /dev/null: character device 1,3",
        "- interface: docker0",
        "/dev/null is ['not a character device (mode -rw-r--r--)'], "
        "not a character device 1,3",
    ]


# Run in a network namespace of the test's own, which has a docker0 bridge as a host running
# Docker has: the test dockerd must leave it there, and must mount nothing where we see it.
DOCKERD_IN_A_HOST_WITH_DOCKER0 = """
import subprocess
from tests.conftest import DOCKER, dockerd_daemon
subprocess.run(["ip", "link", "add", "docker0", "type", "bridge"], check=True)
with dockerd_daemon() as env:
    subprocess.run([DOCKER, "info"], env=env, check=True, capture_output=True)
    sock_dir = env["DOCKER_HOST"].removeprefix("unix://").rsplit("/", 1)[0]
    with open("/proc/self/mountinfo") as mountinfo:
        mounts = [line.split()[4] for line in mountinfo if sock_dir in line]
    print("dockerd mounts seen:", mounts)
subprocess.run(["ip", "link", "show", "docker0"], check=True)
"""


@pytest.mark.interop
def test_test_dockerd_keeps_the_hosts_docker0_and_mounts_nothing():
    res = subprocess.run(["unshare", "--net", sys.executable, "-c",
                          DOCKERD_IN_A_HOST_WITH_DOCKER0],
                         cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "dockerd mounts seen: []" in res.stdout
