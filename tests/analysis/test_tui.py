"""``wharfie image analyze --interactive``: the two-pane browser, driven through a real tmux
(its own server socket, killed at the end) as a user's keys would drive it."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time

import pytest

STEPS = """\
RUN echo one > /first-layer.txt
RUN echo two > /second-layer.txt
"""


class Pane:
    """One detached tmux session on a private server socket."""

    def __init__(self, socket, command: str) -> None:
        self.base = ["tmux", "-S", str(socket)]
        # pytest's COLUMNS/LINES would override the pane's size for the app inside
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        subprocess.run([*self.base, "new-session", "-d", "-x", "160", "-y", "48", command],
                       check=True, env=env)

    def text(self) -> str:
        res = subprocess.run([*self.base, "capture-pane", "-p"], capture_output=True, text=True)
        return res.stdout

    def wait_for(self, predicate, timeout: float = 30) -> str:
        """The pane's text once ``predicate`` holds for it; fails with the last text seen."""
        deadline, text = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            text = self.text()
            if predicate(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"pane never matched; last seen:\n{text}")

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", *keys], check=True)

    def alive(self) -> bool:
        return subprocess.run([*self.base, "has-session"], capture_output=True).returncode == 0

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


@pytest.fixture
def pane(tmp_path, request):
    """``pane(command)``: start ``command`` in tmux; the server is killed whatever happens."""
    started: list[Pane] = []

    def start(command: str) -> Pane:
        started.append(Pane(tmp_path / "tmux.sock", command))
        return started[-1]

    request.addfinalizer(lambda: [p.kill() for p in started])
    return start


def test_browser_lists_layers_and_moves_between_them(build, root, pane):
    tag = build("browse:1", STEPS)
    cmd = shlex.join([sys.executable, "-m", "wharfie", "--root", str(root),
                      "image", "analyze", tag, "--interactive"])
    p = pane(cmd)
    first = p.wait_for(lambda t: "echo two" in t and "layer 0:" in t)
    # the layer list: every layer with its step; the right pane: layer 0 (busybox)'s files
    assert "echo one > /first-layer.txt" in first and "bin/" in first
    assert "first-layer.txt  " not in first

    p.keys("Down")
    second = p.wait_for(lambda t: "layer 1:" in t)
    assert "+ first-layer.txt" in second and "+ second-layer.txt" not in second

    p.keys("j")
    third = p.wait_for(lambda t: "layer 2:" in t)
    assert "+ second-layer.txt" in third and "+ first-layer.txt" not in third

    p.keys("k")
    assert "+ first-layer.txt" in p.wait_for(lambda t: "layer 1:" in t)

    p.keys("q")
    deadline = time.monotonic() + 15
    while p.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not p.alive()


def test_interactive_without_a_tty_is_one_error_line(build, wharfie):
    tag = build("notty:1", STEPS)
    res = wharfie("image", "analyze", tag, "--interactive", check=False)
    err = res.stderr.decode()
    assert res.returncode != 0 and res.stdout == b""
    assert err.startswith("wharfie: error:") and "TTY" in err
    assert len(err.strip().splitlines()) == 1
