"""``run``/``create`` flags and lifecycle commands, each checked by its effect inside a real
runc container of a busybox image (or on the store), as docker users see them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.containers.conftest import out


@pytest.fixture
def bb(wharfie, busybox_rootfs_tar):
    wharfie("import", str(busybox_rootfs_tar), "bb:1")
    return "bb:1"


def err(res) -> str:
    return res.stderr.decode()


def run(wharfie, *args: str, check: bool = True):
    return wharfie("run", "--rm", "--network", "none", *args, check=check)


def cap_eff(wharfie, *flags: str) -> int:
    status = out(run(wharfie, *flags, "bb:1", "cat", "/proc/self/status"))
    return int(next(ln for ln in status.splitlines() if ln.startswith("CapEff:")).split()[1], 16)


def inspect(wharfie, name: str) -> dict:
    return json.loads(out(wharfie("container", "inspect", name)))[0]


def wait_for(predicate, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_inspect_tries_containers_then_images(wharfie, bb):
    wharfie("tag", bb, "same")
    wharfie("create", "--name", "same", bb, "true")
    assert out(wharfie("inspect", "-f", "{{.Name}} {{.State.Status}}", "same")) == \
        "/same created\n"
    assert out(wharfie("inspect", "--type", "image", "-f", "{{.RepoTags}}", "same")) == \
        "[bb:1 same:latest]\n"
    assert out(wharfie("inspect", "-f", "{{.Id}}", bb)).startswith("sha256:")
    assert "RepoTags" not in json.loads(out(wharfie("inspect", "same", bb)))[0]
    res = wharfie("inspect", "--type", "container", bb, check=False)
    assert (res.returncode, err(res)) == (1, f"wharfie: error: No such container: {bb}\n")
    res = wharfie("inspect", "nothing", check=False)
    assert (res.returncode, err(res)) == (1, "wharfie: error: No such object: nothing\n")


def test_read_only_root_with_tmpfs(wharfie, bb):
    res = run(wharfie, "--read-only", bb, "touch", "/x", check=False)
    assert res.returncode == 1 and "Read-only file system" in err(res)
    mounts = out(run(wharfie, "--read-only", "--tmpfs", "/scratch:size=1m,mode=700", bb, "sh",
                     "-c", "touch /scratch/ok && cat /proc/mounts"))
    line = next(ln for ln in mounts.splitlines() if ln.split()[1] == "/scratch")
    assert line.startswith("tmpfs /scratch tmpfs rw,") and "size=1024k" in line
    assert "mode=700" in line


CAP_CHOWN, CAP_NET_ADMIN = 1 << 0, 1 << 12


def test_cap_drop_cap_add_and_privileged(wharfie, bb):
    default = cap_eff(wharfie, )
    assert default & CAP_CHOWN and not default & CAP_NET_ADMIN
    assert cap_eff(wharfie, "--cap-drop", "CHOWN") == default & ~CAP_CHOWN
    res = run(wharfie, "--cap-drop", "chown", bb, "chown", "1", "/tmp", check=False)
    assert res.returncode == 1 and "Operation not permitted" in err(res)
    assert cap_eff(wharfie, "--cap-add", "NET_ADMIN") == default | CAP_NET_ADMIN
    assert cap_eff(wharfie, "--cap-drop", "ALL", "--cap-add", "CAP_CHOWN") == CAP_CHOWN
    full = cap_eff(wharfie, "--privileged")
    assert full & default == default and bin(full).count("1") >= 38
    # privileged: no masked /proc paths, writable /sys
    assert run(wharfie, "--privileged", bb, "sh", "-c",
               "grep -c ' /sys sysfs rw' /proc/mounts").stdout == b"1\n"


def test_mount_bind_tmpfs_volume(wharfie, bb, tmp_path):
    (tmp_path / "host.txt").write_text("from host\n")
    res = run(wharfie, "--mount", f"type=bind,source={tmp_path},target=/h,readonly",
              "--mount", "type=tmpfs,target=/t,tmpfs-size=65536",
              "--mount", "type=volume,source=vol1,target=/v", bb, "sh", "-c",
              "cat /h/host.txt; touch /h/no 2>/dev/null || echo ro; echo kept > /v/f; "
              "grep ' /t ' /proc/mounts")
    lines = out(res).splitlines()
    assert lines[:2] == ["from host", "ro"]
    assert lines[2].startswith("tmpfs /t tmpfs rw,") and "size=64k" in lines[2]
    assert out(run(wharfie, "-v", "vol1:/v", bb, "cat", "/v/f")) == "kept\n"
    assert not (tmp_path / "no").exists()


def test_label_in_inspect_and_ps_filter(wharfie, bb):
    wharfie("create", "--name", "l1", "--label", "team=a", "-l", "x=1", bb, "true")
    wharfie("create", "--name", "l2", "--label", "team=b", bb, "true")
    assert inspect(wharfie, "l1")["Config"]["Labels"] == {"team": "a", "x": "1"}
    names = out(wharfie("ps", "-a", "--filter", "label=team=a", "--format", "{{.Names}}"))
    assert names == "l1\n"
    names = out(wharfie("ps", "-a", "--filter", "label=team", "--format", "{{.Names}}"))
    assert sorted(names.split()) == ["l1", "l2"]


def test_stop_signal_and_stop_timeout(wharfie, bb):
    wharfie("run", "-d", "--network", "none", "--name", "s", "--stop-signal", "USR1", bb, "sh",
            "-c", "trap 'exit 10' USR1; echo up; while :; do sleep 0.1; done")
    wait_for(lambda: out(wharfie("logs", "s")) == "up\n")
    wharfie("stop", "s")
    assert out(wharfie("wait", "s")) == "10\n"
    # sleep as PID 1 ignores TERM: killed after --stop-timeout, not docker's 10 s
    wharfie("run", "-d", "--network", "none", "--name", "t", "--stop-timeout", "1", bb,
            "sleep", "60")
    began = time.monotonic()
    wharfie("stop", "t")
    assert time.monotonic() - began < 6
    assert out(wharfie("wait", "t")) == "137\n"
    assert inspect(wharfie, "t")["Config"]["StopTimeout"] == 1


def test_add_host_dns_and_network_none(wharfie, bb):
    res = wharfie("run", "--rm", "--add-host", "db.example:10.1.2.3", "--dns", "9.9.9.9",
                  bb, "sh", "-c", "cat /etc/hosts /etc/resolv.conf")
    text = out(res)
    assert "10.1.2.3\tdb.example\n" in text
    assert "nameserver 9.9.9.9\n" in text
    assert [ln for ln in text.splitlines() if ln.startswith("nameserver")] == \
        ["nameserver 9.9.9.9"]
    assert out(run(wharfie, bb, "ls", "/sys/class/net")) == "lo\n"


def test_kill_signal_restart_pause_rename_top(wharfie, bb):
    wharfie("run", "-d", "--network", "none", "--name", "k", bb, "sh", "-c",
            "trap 'exit 12' HUP; echo up; while :; do sleep 0.1; done")
    wait_for(lambda: out(wharfie("logs", "k")) == "up\n")
    wharfie("kill", "-s", "HUP", "k")
    assert out(wharfie("wait", "k")) == "12\n"

    wharfie("run", "-d", "--network", "none", "--name", "r", bb, "sh", "-c",
            "echo $$ started; while :; do date +%s%N > /tmp/tick; sleep 0.05; done")
    first = inspect(wharfie, "r")["State"]
    assert "sleep" in out(wharfie("top", "r"))
    wharfie("restart", "-t", "1", "r")
    again = inspect(wharfie, "r")["State"]
    assert again["Running"] and again["Pid"] != first["Pid"]
    assert again["StartedAt"] > first["StartedAt"]
    assert out(wharfie("logs", "r")) == "1 started\n1 started\n"

    wharfie("pause", "r")
    assert inspect(wharfie, "r")["State"]["Status"] == "paused"
    assert "(Paused)" in out(wharfie("ps", "--filter", "name=r"))
    frozen = (wharfie("cp", "r:/tmp/tick", "-").stdout)
    time.sleep(0.5)
    assert wharfie("cp", "r:/tmp/tick", "-").stdout == frozen  # not one tick while paused
    res = wharfie("exec", "r", "true", check=False)
    assert res.returncode != 0 and "paused" in err(res)
    wharfie("unpause", "r")
    wait_for(lambda: wharfie("cp", "r:/tmp/tick", "-").stdout != frozen)

    wharfie("rename", "r", "r2")
    assert out(wharfie("exec", "r2", "echo", "hi")) == "hi\n"
    res = wharfie("exec", "r", "true", check=False)
    assert res.returncode != 0 and "No such container: r" in err(res)
    wharfie("rm", "-f", "r2")


def test_rm_v_and_container_prune(wharfie, bb):
    wharfie("run", "--network", "none", "--name", "a", "-v", "/anon", "-v", "named:/n", bb,
            "sh", "-c", "touch /anon/f /n/f")
    anon = next(m["Name"] for m in inspect(wharfie, "a")["Mounts"] if m["Destination"] == "/anon")
    assert {anon, "named"} <= set(out(wharfie("volume", "ls", "-q")).split())
    wharfie("rm", "-v", "a")
    assert out(wharfie("volume", "ls", "-q")).split() == ["named"]

    wharfie("run", "--network", "none", "--name", "done1", bb, "true")
    wharfie("create", "--name", "new1", bb, "true")
    wharfie("run", "-d", "--network", "none", "--name", "up1", bb, "sleep", "60")
    res = out(wharfie("container", "prune", "-f"))
    assert res.startswith("Deleted Containers:\n")
    assert sorted(out(wharfie("ps", "-a", "--format", "{{.Names}}")).split()) == ["up1"]
    wharfie("rm", "-f", "up1")


def test_logs_tail_and_since(wharfie, bb):
    wharfie("run", "--network", "none", "--name", "lg", bb, "sh", "-c",
            "echo one; echo two; sleep 0.2; echo three >&2; sleep 1.2; echo four")
    assert out(wharfie("logs", "--tail", "1", "lg")) == "four\n"
    res = wharfie("logs", "-n", "2", "lg")
    assert (out(res), err(res)) == ("four\n", "three\n")
    stamps = out(wharfie("logs", "-t", "lg")).splitlines()
    last = stamps[-1].split()[0]
    assert out(wharfie("logs", "--since", last, "lg")) == "four\n"
    assert out(wharfie("logs", "--since", "1h", "lg")) == "one\ntwo\nfour\n"


def test_exec_stdin_and_cp_into_running(wharfie, bb, tmp_path):
    wharfie("run", "-d", "--network", "none", "--name", "x", bb, "sleep", "60")
    assert out(wharfie("exec", "-i", "x", "sh", "-c", "tr a-z A-Z; echo end",
                       input=b"piped\n")) == "PIPED\nend\n"
    (tmp_path / "in.txt").write_text("copied\n")
    wharfie("cp", str(tmp_path / "in.txt"), "x:/tmp/")
    assert out(wharfie("exec", "x", "cat", "/tmp/in.txt")) == "copied\n"
    wharfie("rm", "-f", "x")


def test_volume_inspect_rm_prune(wharfie, bb, root):
    wharfie("volume", "create", "--label", "k=v", "v1")
    wharfie("volume", "create", "v2")
    doc = json.loads(out(wharfie("volume", "inspect", "v1")))[0]
    assert (doc["Name"], doc["Driver"], doc["Labels"]) == ("v1", "local", {"k": "v"})
    assert doc["Mountpoint"].startswith(str(root))
    wharfie("create", "--name", "holder", "-v", "v1:/d", bb, "true")
    res = wharfie("volume", "rm", "v1", check=False)
    assert res.returncode != 0 and "in use" in err(res)
    res = wharfie("volume", "inspect", "nope", check=False)
    assert res.returncode == 1 and "no such volume" in err(res).lower()
    assert out(wharfie("volume", "rm", "v2")) == "v2\n"
    wharfie("run", "--rm", "--network", "none", "-v", "/anon", bb, "true")  # --rm drops it
    anon = wharfie("create", "-v", "/anon2", bb, "true")
    assert anon.returncode == 0
    wharfie("rm", "holder")
    pruned = out(wharfie("volume", "prune", "-f"))
    assert "v1" not in pruned  # named volumes only with --all, as docker's
    assert sorted(out(wharfie("volume", "ls", "-q")).split())[0] != ""
    wharfie("volume", "prune", "-a", "-f")
    assert "v1" not in out(wharfie("volume", "ls", "-q")).split()


def test_pull_missing_always_never(wharfie, bb, docker_registry):
    ref = f"{docker_registry}/flags/bb:{time.time_ns()}"
    wharfie("run", "--network", "none", "--name", "m", bb, "sh", "-c", "echo v2 > /v")
    wharfie("commit", "m", ref)
    wharfie("push", ref)  # the registry has v2
    wharfie("rmi", ref)
    res = run(wharfie, "--pull", "never", ref, "cat", "/v", check=False)
    assert (res.returncode, err(res)) == (125, f"wharfie: error: No such image: {ref}\n")
    res = run(wharfie, ref, "cat", "/v")  # missing is the default: pulled
    assert out(res) == "v2\n" and f"Unable to find image '{ref}' locally" in err(res)
    wharfie("tag", bb, ref)  # the local copy is now an older image
    res = run(wharfie, "--pull", "missing", ref, "cat", "/v", check=False)
    assert res.returncode == 1 and "Unable to find" not in err(res)
    res = run(wharfie, "--pull", "always", ref, "cat", "/v")
    assert out(res) == "v2\n" and "Unable to find" not in err(res)


def test_rm_drops_anonymous_volumes_keeps_named(wharfie, bb):
    run(wharfie, "-v", "/anon", "-v", "keep:/k", "--mount", "type=volume,target=/m", bb,
        "touch", "/anon/f", "/k/f", "/m/f")
    assert out(wharfie("volume", "ls", "-q")) == "keep\n"


def test_prunes_report_what_they_reclaimed(wharfie, bb):
    """``container prune``, ``volume prune`` and ``system prune --volumes`` say how many
    bytes went (docker's figures: the container's changed files, the volume's files), not
    a fixed 0B; ``system prune --volumes`` deletes unused anonymous volumes too."""
    wharfie("run", "--network", "none", "--name", "wrote", bb, "sh", "-c",
            "head -c 300000 /dev/zero > /big")
    res = out(wharfie("container", "prune", "-f")).splitlines()
    assert res[0] == "Deleted Containers:" and len(res[1]) == 64
    assert res[-1] == "Total reclaimed space: 300kB"
    wharfie("create", "--name", "holder", "-v", "/anon", bb, "true")
    anon = next(m["Name"] for m in inspect(wharfie, "holder")["Mounts"])
    mountpoint = json.loads(out(wharfie("volume", "inspect", anon)))[0]["Mountpoint"]
    (Path(mountpoint) / "data").write_bytes(b"x" * 50_000)
    wharfie("rm", "holder")
    res = out(wharfie("volume", "prune", "-f")).splitlines()
    assert res == ["Deleted Volumes:", anon, "", "Total reclaimed space: 50kB"]
    wharfie("create", "--name", "holder2", "-v", "/anon2", bb, "true")
    anon2 = next(m["Name"] for m in inspect(wharfie, "holder2")["Mounts"])
    wharfie("rm", "holder2")
    res = out(wharfie("system", "prune", "-f", "--volumes"))
    assert f"Deleted Volumes:\n{anon2}\n" in res
    assert anon2 not in out(wharfie("volume", "ls", "-q"))
