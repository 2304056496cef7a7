"""``run``/``create``'s --expose/-P, --pid/--ipc host, --device, --platform and --log-driver,
each checked by its effect inside a real runc container of a busybox image and in
``inspect``'s HostConfig/Config, as docker records them."""

from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest
from tests.containers.conftest import out


@pytest.fixture
def bb(wharfie, busybox_rootfs_tar):
    wharfie("import", "-c", "EXPOSE 80", "-c", 'CMD ["sh"]', str(busybox_rootfs_tar), "bb:1")
    return "bb:1"


def err(res) -> str:
    return res.stderr.decode()


def inspect(wharfie, name: str) -> dict:
    return json.loads(out(wharfie("container", "inspect", name)))[0]


def refused(wharfie, *args: str) -> str:
    """The one error line of a ``run`` wharfie refuses (exit 125, as docker's)."""
    res = wharfie("run", "--rm", "--network", "none", *args, check=False)
    assert res.returncode == 125, err(res)
    assert err(res).count("\n") == 1 and "Traceback" not in err(res)
    return err(res)


def fetch(url: str, timeout: float = 15) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_publish_all_serves_exposed_port(wharfie, bb):
    wharfie("run", "-d", "--name", "web", "-P", "--expose", "9000/udp", bb, "sh", "-c",
            "mkdir -p /www; echo served > /www/index.html; httpd -f -p 80 -h /www")
    try:
        host_port = out(wharfie("port", "web", "80")).strip().rsplit(":", 1)[1]
        assert fetch(f"http://127.0.0.1:{host_port}/") == b"served\n"
        doc = inspect(wharfie, "web")
        assert doc["Config"]["ExposedPorts"] == {"80/tcp": {}, "9000/udp": {}}
        assert doc["HostConfig"]["PublishAllPorts"] is True
        assert set(doc["NetworkSettings"]["Ports"]) == {"80/tcp", "9000/udp"}
        assert f"0.0.0.0:{host_port}->80/tcp" in out(wharfie("ps"))
    finally:
        wharfie("rm", "-f", "web")
    wharfie("create", "--name", "quiet", "--expose", "7000-7001", bb)
    doc = inspect(wharfie, "quiet")  # exposed, not published without -P
    assert doc["Config"]["ExposedPorts"] == {"80/tcp": {}, "7000/tcp": {}, "7001/tcp": {}}
    assert doc["HostConfig"]["PortBindings"] == {}
    assert refused(wharfie, "--expose", "80:80", bb, "true") == \
        "wharfie: error: invalid port format for --expose: 80:80\n"


def test_pid_and_ipc_host(wharfie, bb):
    me = str(os.getpid())
    pids = out(wharfie("run", "--rm", "--network", "none", "--pid", "host", bb, "ps", "-o",
                       "pid")).split()
    assert me in pids
    assert me not in out(wharfie("run", "--rm", "--network", "none", bb, "ps", "-o",
                                 "pid")).split()
    host_ipc = os.readlink("/proc/self/ns/ipc")
    read_ipc = ["readlink", "/proc/self/ns/ipc"]
    assert out(wharfie("run", "--rm", "--network", "none", "--ipc", "host", bb,
                       *read_ipc)).strip() == host_ipc
    assert out(wharfie("run", "--rm", "--network", "none", bb, *read_ipc)).strip() != host_ipc
    wharfie("create", "--name", "h", "--pid", "host", "--ipc", "host", bb)
    wharfie("create", "--name", "p", bb)
    assert [(d["HostConfig"]["PidMode"], d["HostConfig"]["IpcMode"])
            for d in (inspect(wharfie, "h"), inspect(wharfie, "p"))] == \
        [("host", "host"), ("", "private")]
    assert refused(wharfie, "--pid", "bogus", bb, "true") == \
        "wharfie: error: --pid: invalid PID mode\n"
    assert refused(wharfie, "--ipc", "bogus", bb, "true") == \
        "wharfie: error: --ipc: invalid IPC mode\n"


def test_device_node_and_cgroup_rule(wharfie, bb, tmp_path):
    script = ("[ -c /dev/mynull ] && echo gone > /dev/mynull && wc -c < /dev/mynull && "
              "[ -c /dev/myfuse ] && [ -c /dev/tunnels/tun ] && "
              "cat /sys/fs/cgroup/devices/devices.list")
    res = wharfie("run", "--name", "dev", "--network", "none", "--device",
                  "/dev/null:/dev/mynull", "--device", "/dev/fuse:/dev/myfuse:r",
                  "--device", "/dev/net:/dev/tunnels", bb, "sh", "-c", script)
    lines = out(res).split("\n")
    assert lines[0] == "0"  # a real null device: what was written is not kept
    assert "c 1:3 rwm" in lines and "c 10:229 r" in lines
    assert "c 10:229 r" not in out(wharfie("run", "--rm", "--network", "none", bb, "cat",
                                           "/sys/fs/cgroup/devices/devices.list"))
    assert inspect(wharfie, "dev")["HostConfig"]["Devices"] == [
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull",
         "CgroupPermissions": "rwm"},
        {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/myfuse",
         "CgroupPermissions": "r"},
        {"PathOnHost": "/dev/net", "PathInContainer": "/dev/tunnels",
         "CgroupPermissions": "rwm"}]  # a directory: every device node under it
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert refused(wharfie, "--device", str(plain), bb, "true") == (
        f"wharfie: error: error gathering device information while adding custom device "
        f"\"{plain}\": not a device node\n")
    assert refused(wharfie, "--device", "/dev/null:/x:rz", bb, "true") == (
        "wharfie: error: invalid argument \"/dev/null:/x:rz\" for \"--device\" flag: "
        "bad mode specified: rz\n")
    assert plain.read_text() == "x"
    assert out(wharfie("ps", "-a", "-q")).split() == [inspect(wharfie, "dev")["Id"][:12]]


def test_log_driver_none_keeps_no_logs(wharfie, bb):
    wharfie("run", "--name", "mute", "--network", "none", "--log-driver", "none", bb, "sh",
            "-c", "echo hello")
    res = wharfie("logs", "mute", check=False)
    assert (res.returncode, out(res), err(res)) == (
        1, "", "wharfie: error: configured logging driver does not support reading\n")
    doc = inspect(wharfie, "mute")
    assert doc["HostConfig"]["LogConfig"] == {"Type": "none", "Config": {}}
    assert not any(p.name.endswith("-json.log") for p in
                   os.scandir(os.path.dirname(doc["HostnamePath"])))
    wharfie("run", "--name", "local", "--network", "none", "--log-driver", "local", bb, "sh",
            "-c", "echo kept")
    assert out(wharfie("logs", "local")) == "kept\n"
    assert inspect(wharfie, "local")["HostConfig"]["LogConfig"]["Type"] == "local"
    assert refused(wharfie, "--log-driver", "bogus", bb, "true") == \
        "wharfie: error: logger: no log driver named 'bogus' is registered\n"
    wharfie("run", "-d", "--name", "mute-running", "--network", "none", "--log-driver", "none",
            bb, "sleep", "30")
    try:
        res = wharfie("attach", "mute-running", check=False)
        assert (res.returncode, err(res)) == (1, "wharfie: error: attach follows the "
                                              "container's log, and --log-driver none keeps none\n")
    finally:
        wharfie("rm", "-f", "mute-running")


def test_platform_pulls_that_platform(wharfie, bb, docker_registry):
    ref = f"{docker_registry}/opts/bb:{time.time_ns()}"
    wharfie("tag", bb, ref)
    wharfie("push", ref)
    wharfie("rmi", ref)
    res = wharfie("run", "--rm", "--network", "none", "--platform", "linux/s390x", ref,
                  "true", check=False)
    assert res.returncode == 125 and "is for linux/" in err(res) and "linux/s390x" in err(res)
    arch = inspect_image_arch(wharfie, bb)
    res = wharfie("run", "--rm", "--network", "none", "--platform", f"linux/{arch}", ref,
                  "echo", "ran")
    assert out(res) == "ran\n" and f"Unable to find image '{ref}' locally" in err(res)
    # the local image is for another platform than asked: it counts as missing
    res = wharfie("create", "--pull", "never", "--platform", "linux/s390x", ref, check=False)
    assert (res.returncode, err(res)) == (125, f"wharfie: error: No such image: {ref}\n")


def inspect_image_arch(wharfie, image: str) -> str:
    return out(wharfie("inspect", "--type", "image", "-f", "{{.Architecture}}", image)).strip()
