"""The copy snapshotter: works on any filesystem, as any user, without mounts.

Each committed snapshot is a full tree. Extracting a layer starts from a hardlink
farm of the parent (``cp -al``): that is safe because applying a layer never
writes into an existing file, it replaces it, so the parent's inodes stay as they
were. A writable snapshot is a real copy (``cp -a``: owners, modes, xattrs,
hardlinks, mtimes), and its diff comes from comparing it with the parent tree, skipping
entries whose ctime shows they were not touched after the copy.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import BinaryIO

from wharfie.layers.apply import apply_layer
from wharfie.layers.diff import Change, diff_trees
from wharfie.oci.digest import Digest
from wharfie.snapshots.base import SnapshotError, Snapshotter


def copy_tree(src: Path, dst: Path, *, link: bool = False) -> None:
    """Copy ``src``'s contents into the new directory ``dst`` with all metadata."""
    args = ["cp", "-a", "--no-target-directory"] + (["-l"] if link else [])
    res = subprocess.run([*args, "--", str(src), str(dst)], capture_output=True, text=True)
    if res.returncode != 0:
        raise SnapshotError(f"copying {src} failed: {res.stderr.strip()}")


def mark_after(marker: Path) -> None:
    """Create ``marker`` with a ctime later than every inode changed before the call.

    Timestamps come from a coarse clock, so the copy's last files may share the marker's
    first ctime; touching it again until the clock ticks makes "older than the marker"
    mean "untouched since the copy" (a few ms at most).
    """
    marker.touch()
    first = marker.stat().st_ctime_ns
    while marker.stat().st_ctime_ns == first:
        time.sleep(0.001)
        os.utime(marker)


class CopySnapshotter(Snapshotter):
    driver = "copy"

    def _fs(self, chain: Digest) -> Path:
        return self.layer_dir(chain) / "fs"

    def _extract(self, parent: Digest | None, work: Path, stream: BinaryIO) -> Digest:
        fs = work / "fs"
        if parent is None:
            fs.mkdir()
        else:
            copy_tree(self._fs(parent), fs, link=True)
        return apply_layer(stream, fs)

    def _prepare(self, path: Path, parent: Digest | None) -> Path:
        fs = path / "fs"
        if parent is None:
            fs.mkdir()
        else:
            copy_tree(self._fs(parent), fs)
        mark_after(path / "copied")
        return fs

    def path(self, key: str) -> Path:
        return self._active(key) / "fs"

    def _quiesce(self, path: Path) -> None:
        """Nothing to stop: the caller's processes have finished writing."""

    def _changes(self, path: Path, parent: Digest | None) -> list[Change]:
        marker = os.stat(path / "copied").st_ctime_ns
        return diff_trees(self._fs(parent) if parent is not None else None, path / "fs",
                          untouched_before=marker)

    def _take_tree(self, path: Path, work: Path) -> None:
        os.rename(path / "fs", work / "fs")

    def _release_active(self, path: Path, *, lazy: bool = False) -> None:
        """No mounts to undo."""

    def view(self, chain: Digest | str) -> Path:
        chain = Digest(chain)
        if not self.has(chain):
            raise SnapshotError(f"snapshot {chain} not found")
        return self._fs(chain)

    def release(self, chain: Digest | str) -> None:
        """Views are plain directories: nothing to release."""
