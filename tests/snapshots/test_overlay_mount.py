"""Overlay mounts are made and undone by mount(2) and umount2(2) themselves, not by running
mount(8): a build step mounts and unmounts several times, and each run cost milliseconds.
A root whose path mount options cannot carry still mounts, through mount(8)."""

from __future__ import annotations

import os
import subprocess

import pytest

from wharfie.snapshots.base import SnapshotError
from wharfie.snapshots.overlay import mount_overlay, unmount

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


def dirs(home, *names):
    for n in names:
        (home / n).mkdir(parents=True)


def test_mounts_without_running_mount8_unless_options_cannot_carry_the_path(tmp_path,
                                                                          monkeypatch):
    home = tmp_path / "home"
    dirs(home, "lower", "upper", "work", "merged")
    (home / "lower" / "f").write_text("from below")
    spawned = []
    real_run = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: spawned.append(a) or real_run(*a, **k))
    mount_overlay(home, home / "merged", ["lower"], "upper", "work")
    try:
        (home / "merged" / "g").write_text("written")
        assert (home / "merged" / "f").read_text() == "from below"
    finally:
        unmount(home / "merged")
    assert not os.path.ismount(home / "merged")
    assert (home / "upper" / "g").read_text() == "written"
    assert spawned == []

    comma = tmp_path / "a,b"  # a separator in the path: mount(8), run in the root
    dirs(comma, "lower", "other", "merged")
    (comma / "lower" / "f").write_text("x")
    mount_overlay(comma, comma / "merged", ["lower", "other"])
    try:
        assert (comma / "merged" / "f").read_text() == "x"
    finally:
        unmount(comma / "merged")
    assert not os.path.ismount(comma / "merged")
    assert [a[0][0] for a in spawned] == ["mount"]


def test_a_failed_mount_says_why(tmp_path):
    home = tmp_path / "home"
    dirs(home, "lower", "merged")
    with pytest.raises(SnapshotError, match="overlay mount on .*merged failed: No such file"):
        mount_overlay(home, home / "merged", ["lower", "missing"])


def test_busy_mount_is_detached_when_lazy(tmp_path):
    home = tmp_path / "home"
    dirs(home, "lower", "other", "merged")
    mount_overlay(home, home / "merged", ["lower", "other"])
    cwd = os.open(home / "merged", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fchdir(cwd)  # busy: our working directory is in it
        with pytest.raises(SnapshotError, match="cannot unmount .*merged: Device or resource busy"):
            unmount(home / "merged")
        unmount(home / "merged", lazy=True)
        assert not os.path.ismount(home / "merged")
    finally:
        os.chdir(tmp_path)
        os.close(cwd)
        subprocess.run(["umount", "--lazy", str(home / "merged")], capture_output=True)
