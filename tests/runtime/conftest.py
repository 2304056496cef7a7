"""A fresh busybox root filesystem per test, and the wharfie root whose runtime state we check."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def rootfs(tmp_path, busybox_rootfs_tar) -> Path:
    d = tmp_path / "rootfs"
    d.mkdir()
    subprocess.run(["tar", "-xf", str(busybox_rootfs_tar), "-C", str(d)], check=True)
    d.chmod(0o755)
    return d


def runc_containers(root: Path) -> list[dict]:
    """What runc itself lists under a wharfie root's runtime state."""
    res = subprocess.run(["runc", "--root", str(root / "runtime" / "runc"), "list",
                          "--format", "json"], capture_output=True, check=True)
    return json.loads(res.stdout or b"null") or []


@pytest.fixture
def wroot(root):
    """A wharfie root; afterwards no container or bundle may be left under it."""
    yield root
    leftover = runc_containers(root)
    for c in leftover:
        subprocess.run(["runc", "--root", str(root / "runtime" / "runc"), "delete", "--force",
                        c["id"]], capture_output=True)
    bundles = root / "runtime" / "bundles"
    assert not leftover, f"containers left behind: {leftover}"
    assert not bundles.exists() or not any(bundles.iterdir()), "bundles left behind"
