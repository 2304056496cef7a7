"""Containers through the real CLI, runc, the monitor and slirp4netns on a busybox image."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from tests.conftest import free_port
from tests.containers.conftest import out

TRAP = "trap 'echo bye; exit 43' TERM; echo hello; echo oops >&2; while :; do sleep 0.1; done"


def test_detach_logs_follow_and_stop(wharfie, bb, root):
    cid = out(wharfie("run", "-d", "--name", "t", bb, "sh", "-c", TRAP)).strip()
    assert len(cid) == 64
    follow = subprocess.Popen([sys.executable, "-m", "wharfie", "logs", "-f", "t"],
                              env={**os.environ, "WHARFIE_ROOT": str(root)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        wharfie("stop", "t")
        o, e = follow.communicate(timeout=20)
    finally:
        follow.kill()
    assert (o, e) == (b"hello\nbye\n", b"oops\n")  # stdout and stderr kept apart
    assert "Exited (43)" in out(wharfie("ps", "-a"))
    # with --init, sleep is not PID 1 and dies of TERM: 143, as docker's
    cid2 = out(wharfie("run", "-d", "--init", bb, "sleep", "60")).strip()
    wharfie("stop", "-t", "5", cid2)
    assert out(wharfie("wait", cid2)) == "143\n"
    doc = json.loads(out(wharfie("container", "inspect", "t")))[0]
    assert doc["State"]["ExitCode"] == 43 and doc["Name"] == "/t"


def test_exec_in_running_container(wharfie, bb):
    wharfie("run", "-d", "--name", "e", "-h", "myhost", bb, "sleep", "60")
    assert out(wharfie("exec", "e", "hostname")) == "myhost\n"
    assert out(wharfie("exec", "-u", "1000", "-w", "/tmp", "-e", "X=1", "e", "sh", "-c",
                       "id -u; pwd; echo $X")) == "1000\n/tmp\n1\n"
    assert wharfie("exec", "e", "sh", "-c", "exit 3", check=False).returncode == 3
    wharfie("rm", "-f", "e")


def test_wharfie_killed_loses_neither_exit_code_nor_logs(wharfie, bb, root):
    env = {**os.environ, "WHARFIE_ROOT": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "wharfie", "run", "--name", "k", bb, "sh",
                             "-c", "echo before; sleep 1; echo after; exit 7"], env=env,
                            stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"before\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert out(wharfie("wait", "k")) == "7\n"
    assert out(wharfie("logs", "k")) == "before\nafter\n"
    assert "Exited (7)" in out(wharfie("ps", "-a"))


def test_running_at_reboot_shows_exited(wharfie, bb, root):
    cid = out(wharfie("run", "-d", bb, "sleep", "60")).strip()
    state = root / "containers" / cid / "state.json"
    doc = json.loads(state.read_text())
    monitor = doc["monitor"]
    doc["monitor"] = [monitor[0], monitor[1], "another-boot"]
    state.write_text(json.dumps(doc))
    assert "Exited (255)" in out(wharfie("ps", "-a"))
    assert out(wharfie("ps", "-q")) == ""
    doc["monitor"] = monitor
    state.write_text(json.dumps(doc))
    wharfie("rm", "-f", cid)


def test_commit_diff_and_cp(wharfie, bb, root, tmp_path):
    wharfie("run", "--name", "c", bb, "sh", "-c",
            "echo made > /made; rm /bin/vi; echo x >> /etc/passwd; ln -s / /tmp/up")
    assert out(wharfie("diff", "c")).splitlines() == [
        "C /bin", "D /bin/vi", "C /etc", "C /etc/passwd", "A /made", "C /tmp", "A /tmp/up"]
    image_id = out(wharfie("commit", "-c", "ENV Y=2", "-m", "msg", "c", "made:1")).strip()
    assert image_id.startswith("sha256:")
    assert out(wharfie("run", "--rm", "made:1", "sh", "-c", "cat /made; echo $Y")) == \
        "made\n2\n"
    hist = out(wharfie("history", "--no-trunc", "made:1"))
    assert "msg" in hist
    # cp out and in of the stopped container; /tmp/up -> / stays inside the container
    wharfie("cp", "c:/made", str(tmp_path / "got"))
    assert (tmp_path / "got").read_text() == "made\n"
    (tmp_path / "in.txt").write_text("in\n")
    wharfie("cp", str(tmp_path / "in.txt"), "c:/tmp/up/etc/")
    assert not os.path.exists("/etc/in.txt")  # landed inside the container, not on the host
    wharfie("cp", "c:/tmp/up/etc/in.txt", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "in\n"


def test_publish_reaches_httpd(wharfie, bb):
    port = free_port()
    wharfie("run", "-d", "--name", "web", "-p", f"{port}:80", bb, "sh", "-c",
            "mkdir -p /www; echo served > /www/index.html; httpd -f -p 80 -h /www")
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    assert r.read() == b"served\n"
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert out(wharfie("port", "web")) == f"80/tcp -> 0.0.0.0:{port}\n"
    finally:
        wharfie("rm", "-f", "web")


def test_host_gateway_reaches_a_host_service_from_the_default_network(wharfie, bb):
    """``--add-host NAME:host-gateway`` names the host as the container's network reaches
    it: a server on the host's address answers ``NAME:PORT`` from inside."""
    import http.server
    import threading

    from wharfie.containers.network import host_address

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"from the host\n")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((host_address(), 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        res = wharfie("run", "--rm", "--add-host", "hostgw:host-gateway", bb, "sh", "-c",
                      "grep hostgw /etc/hosts; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | "
                      f"nc -w 5 hostgw {server.server_port} | tail -1")
        assert out(res).splitlines() == [f"{host_address()}\thostgw", "from the host"]
    finally:
        server.shutdown()
        server.server_close()


def test_stats_from_the_cgroups(wharfie, bb):
    """``stats --no-stream`` shows docker's columns from the container's cgroups: a busy
    loop's CPU, a 30 MB shell variable's memory, its processes; a stopped one (``-a``)
    shows zeros."""
    wharfie("run", "-d", "--name", "busy", bb, "sh", "-c",
            "x=$(head -c 30000000 /dev/zero | tr '\\0' a); (while :; do :; done) & sleep 100")
    wharfie("create", "--name", "idle", bb, "true")
    try:
        deadline = time.monotonic() + 15
        while True:
            rows = out(wharfie("stats", "--no-stream")).splitlines()
            busy = rows[1].split()
            if busy[3].endswith("MiB") or time.monotonic() > deadline:  # the variable is filled
                break
            time.sleep(0.5)
        assert rows[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/",
                                   "LIMIT", "MEM", "%", "NET", "I/O", "BLOCK", "I/O", "PIDS"]
        assert len(rows) == 2 and busy[1] == "busy"
        assert float(busy[2].rstrip("%")) > 5  # the loop burns CPU
        assert 28 <= float(busy[3].removesuffix("MiB")) < 200 and busy[4] == "/"
        assert busy[-1] == "2"  # the shell and its loop
        fmt = out(wharfie("stats", "--no-stream", "-a", "--format", "{{.Name}} {{.CPUPerc}} "
                          "{{.MemUsage}} {{.PIDs}}")).splitlines()
        assert "idle 0.00% 0B / 0B 0" in fmt
    finally:
        wharfie("rm", "-f", "busy", "idle")


def test_resource_limits_and_update(wharfie, bb):
    """``-m --cpus --pids-limit --ulimit`` reach the container's cgroups and rlimits (a
    100 MB allocation under ``-m 32m`` is OOM-killed: 137); ``update`` changes them while
    it runs; ``inspect`` shows docker's HostConfig fields; a bad value is one line, 125."""
    res = wharfie("run", "--rm", "-m", "32m", bb, "sh", "-c",
                  "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived", check=False)
    assert res.returncode == 137 and b"survived" not in res.stdout
    wharfie("run", "-d", "--name", "lim", "-m", "64m", "--cpus", "0.5", "--pids-limit", "20",
            "--ulimit", "nofile=256:512", bb, "sleep", "100")
    try:
        def cgroup() -> list[str]:
            return out(wharfie("exec", "lim", "sh", "-c",
                               "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                               "/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max;"
                               " ulimit -n; ulimit -Hn")).split()
        assert cgroup() == [str(64 << 20), "50000", "20", "256", "512"]
        [doc] = json.loads(wharfie("inspect", "lim").stdout)
        hc = doc["HostConfig"]
        assert (hc["Memory"], hc["MemorySwap"], hc["NanoCpus"], hc["PidsLimit"]) == \
            (64 << 20, 128 << 20, 500_000_000, 20)
        assert hc["Ulimits"] == [{"Name": "nofile", "Hard": 512, "Soft": 256}]
        assert out(wharfie("update", "-m", "128m", "--memory-swap", "256m", "--cpus", "1",
                           "--pids-limit", "50", "lim")) == "lim\n"
        assert cgroup()[:3] == [str(128 << 20), "100000", "50"]
        [doc] = json.loads(wharfie("inspect", "lim").stdout)
        assert doc["HostConfig"]["MemorySwap"] == 256 << 20
    finally:
        wharfie("rm", "-f", "lim")
    bad = wharfie("run", "--rm", "-m", "1m", bb, "true", check=False)
    assert bad.returncode == 125 and \
        bad.stderr.decode() == "wharfie: error: Minimum memory limit allowed is 6MB\n"


def test_named_volume_and_restart_on_failure(wharfie, bb):
    wharfie("run", "--rm", "-v", "data:/data", bb, "sh", "-c", "echo kept > /data/f")
    assert out(wharfie("run", "--rm", "-v", "data:/data", bb, "cat", "/data/f")) == "kept\n"
    assert "data" in out(wharfie("volume", "ls", "-q")).split()
    wharfie("run", "-d", "--name", "r", "--restart", "on-failure:2", bb, "sh", "-c", "exit 5")
    deadline = time.monotonic() + 20
    while json.loads(out(wharfie("container", "inspect", "r")))[0]["RestartCount"] < 2 or \
            "Exited" not in out(wharfie("ps", "-a", "--filter", "name=r")):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert out(wharfie("ps", "-a", "-q", "--filter", "exited=5")) != ""
