"""``events`` and ``attach`` through the real CLI, runc and the monitor on a busybox image."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

from tests.containers.conftest import out

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"
DOCKER_KEYS = ["status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"]


def events(wharfie, since: float, *args: str) -> list[str]:
    """The event lines from ``since`` until now."""
    return out(wharfie("events", "--since", f"{since:.6f}", "--until", f"{time.time():.6f}",
                       *args)).splitlines()


def actions(lines: list[str]) -> list[str]:
    return [" ".join(line.split()[1:3]) for line in lines]


class Lines:
    """A subprocess's stdout lines, read in a thread, taken with a timeout."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.q: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=lambda: [self.q.put(x) for x in iter(proc.stdout.readline, b"")],
                         daemon=True).start()

    def until(self, pattern: str, timeout: float = 20) -> list[str]:
        """Every line up to the first that matches ``pattern``."""
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=max(deadline - time.monotonic(), 0.01)).decode()
            except queue.Empty:
                break
            seen.append(line.rstrip("\n"))
            if re.search(pattern, line):
                return seen
        raise AssertionError(f"no line matching {pattern!r} in {seen}")


def popen(root, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "wharfie", *args],
                            env={**os.environ, "WHARFIE_ROOT": str(root)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_events_list_a_runs_lifecycle_in_dockers_forms(wharfie, bb):
    t0 = time.time()
    cid = out(wharfie("run", "-d", "--name", "ev", "--label", "team=a", bb, "sh", "-c",
                      "exit 3")).strip()
    assert out(wharfie("wait", cid)) == "3\n"
    lines = events(wharfie, t0)
    assert actions(lines) == ["container create", "container start", "container die"]
    attrs = "image=bb:1, name=ev, team=a"  # sorted by key, labels among them
    assert re.fullmatch(rf"{STAMP} container create {cid} \({attrs}\)", lines[0])
    assert re.fullmatch(rf"{STAMP} container die {cid} \(exitCode=3, {attrs}\)", lines[2])
    docs = [json.loads(x) for x in events(wharfie, t0, "--format", "{{json .}}")]
    assert [list(d) for d in docs] == [DOCKER_KEYS] * 3
    die = docs[2]
    assert (die["status"], die["id"], die["from"], die["Type"], die["Action"], die["scope"]) \
        == ("die", cid, "bb:1", "container", "die", "local")
    assert die["Actor"] == {"ID": cid, "Attributes": {"exitCode": "3", "image": "bb:1",
                                                      "name": "ev", "team": "a"}}
    assert die["time"] == die["timeNano"] // 10**9 and t0 <= die["time"] + 1
    assert [json.loads(x) for x in events(wharfie, t0, "--format", "json")] == docs
    assert events(wharfie, t0, "--format", "{{.Action}} {{.Actor.Attributes.name}}") == \
        ["create ev", "start ev", "die ev"]
    # --until before the run: only the import of its image; a duration reaches back to all
    before = out(wharfie("events", "--since", f"{t0 - 60:.3f}", "--until", f"{t0:.3f}"))
    assert actions(before.splitlines()) == ["image import"]
    assert actions(out(wharfie("events", "--since", "10m", "--until", "0s")).splitlines()) \
        == ["image import", *actions(lines)]


def test_events_filter_by_type_event_and_container(wharfie, bb):
    t0 = time.time()
    for name in ("one", "two"):
        wharfie("run", "--name", name, bb, "true")
    wharfie("volume", "create", "vol")
    wharfie("rename", "two", "two2")
    assert actions(events(wharfie, t0, "--filter", "type=volume")) == ["volume create"]
    assert out(wharfie("system", "events", "--since", f"{t0:.6f}", "--until", "0s", "-f",
                       "volume=vol")).split()[1:4] == ["volume", "create", "vol"]
    starts = events(wharfie, t0, "-f", "type=container", "-f", "event=start")
    assert [x.rsplit("name=", 1)[1] for x in starts] == ["one)", "two)"]
    assert actions(events(wharfie, t0, "--filter", "container=one")) == \
        ["container create", "container start", "container die"]
    assert actions(events(wharfie, t0, "-f", "container=two2", "-f", "event=die",
                          "-f", "event=rename")) == ["container rename"]  # names as they were
    assert actions(events(wharfie, t0, "-f", "event=die", "-f", "container=one",
                          "-f", "container=two")) == ["container die", "container die"]
    assert events(wharfie, t0, "-f", "image=bb:1", "-f", "type=volume") == []
    bad = wharfie("events", "--filter", "colour=red", "--until", "0s", check=False)
    assert bad.returncode != 0 and bad.stderr.decode().startswith("wharfie: error: ")


def test_events_follows_new_events_until_interrupted(wharfie, bb, root):
    follower = popen(root, "events")
    try:
        lines = Lines(follower)
        for i in range(100):  # until it is following: a volume it shows
            wharfie("volume", "create", f"sync{i}")
            try:
                lines.until(f"volume create sync{i}", timeout=0.5)
                break
            except AssertionError:
                continue
        cid = out(wharfie("run", "-d", "--name", "st", bb, "sh", "-c", "sleep 1")).strip()
        seen = lines.until(" container start ")
        assert re.fullmatch(rf"{STAMP} container start {cid} \(image=bb:1, name=st\)", seen[-1])
        assert "container die" not in "\n".join(seen)
        lines.until(rf"container die {cid} \(exitCode=0")  # written after start was shown
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=10) == 0
        assert follower.stderr.read() == b""  # quietly
    finally:
        follower.kill()
        follower.wait()


def test_image_tag_untag_push_pull_save_load_events(wharfie, bb, docker_registry, tmp_path):
    t0 = time.time()
    image_id = out(wharfie("inspect", "--format", "{{.Id}}", bb)).strip()
    wharfie("tag", bb, "bb:2")
    wharfie("rmi", "bb:2")
    ref = f"{docker_registry}/ev/bb:1"
    wharfie("tag", bb, ref)
    digest = re.search(r"digest: (sha256:\w+)", out(wharfie("push", ref))).group(1)
    wharfie("rmi", ref)
    wharfie("pull", ref)
    wharfie("save", "-o", str(tmp_path / "bb.tar"), bb)
    wharfie("load", "-i", str(tmp_path / "bb.tar"))
    lines = [x.split(" ", 1)[1] for x in events(wharfie, t0, "-f", "type=image")]
    assert lines == [
        f"image tag {image_id} (name=bb:2)",
        f"image untag {image_id} (name=bb:2)",
        f"image tag {image_id} (name={ref})",
        f"image push {ref} (name={docker_registry}/ev/bb)",
        f"image untag {image_id} (name={ref})",
        f"image untag {image_id} (name={docker_registry}/ev/bb@{digest})",  # as docker's
        f"image pull {ref} (name={docker_registry}/ev/bb)",
        f"image save {image_id} (name=bb:1)",
        f"image load {image_id} (name=bb:1)",
    ]
    assert actions(events(wharfie, t0, "-f", "event=untag", "-f", "image=bb:2")) == \
        ["image untag"]


def wait_attached(wharfie, since: float) -> None:
    """Until ``attach`` has recorded that it follows the container's output."""
    deadline = time.monotonic() + 20
    while not events(wharfie, since, "-f", "event=attach"):
        assert time.monotonic() < deadline, "attach never attached"
        time.sleep(0.1)


def test_attach_shows_new_output_and_exits_with_the_code(wharfie, bb, root, tmp_path):
    sync = tmp_path / "sync"
    sync.mkdir()
    wharfie("run", "-d", "-i", "--name", "at", "-v", f"{sync}:/sync", bb, "sh", "-c",
            "echo early; while [ ! -e /sync/go ]; do sleep 0.05; done; "
            "echo late; echo err >&2; sleep 0.3; echo last; exit 3")
    t0 = time.time()
    attach = popen(root, "attach", "at")
    try:
        wait_attached(wharfie, t0)
        (sync / "go").touch()
        o, e = attach.communicate(timeout=30)
    finally:
        attach.kill()
    assert attach.returncode == 3
    assert o == b"late\nlast\n"  # from the moment of attaching, nothing before
    assert e == b"wharfie: attaching stdin is not supported yet: attached to the output " \
        b"only\nerr\n"


def test_attach_forwards_sigint_to_the_container(wharfie, bb, root):
    wharfie("run", "-d", "--name", "sig", bb, "sh", "-c",
            "trap 'echo got-int; exit 42' INT; trap 'echo got-term; exit 43' TERM; "
            "while :; do sleep 0.1; done")
    t0 = time.time()
    attach = popen(root, "attach", "--no-stdin", "sig")
    try:
        wait_attached(wharfie, t0)
        attach.send_signal(signal.SIGINT)
        o, e = attach.communicate(timeout=30)
    finally:
        attach.kill()
    assert (attach.returncode, o, e) == (42, b"got-int\n", b"")
    assert out(wharfie("wait", "sig")) == "42\n"
    refused = wharfie("attach", "sig", check=False)
    assert refused.returncode != 0
    assert refused.stderr.decode().startswith("wharfie: error: ")
