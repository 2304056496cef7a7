"""The overlayfs snapshotter: each layer is a directory, a root filesystem a kernel mount.

Layer N is extracted the way containerd does it: through a mount of the parent
chain with a fresh upperdir, so the kernel itself turns deletions into whiteouts
and copies up the directories a layer touches without listing; the upperdir then
*is* the layer's directory. Mount options name lowerdirs by short relative links
(``l/<16 hex>``, resolved from the driver's home, which ``mount`` runs in), so a
chain of ~200 layers fits the kernel's one-page option limit.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import BinaryIO

from wharfie.fs.mounts import MNT_DETACH, libc
from wharfie.fs.private import make_private_dirs, private_dir
from wharfie.layers.apply import apply_layer
from wharfie.layers.diff import Change, diff_overlay
from wharfie.oci.digest import Digest
from wharfie.snapshots.base import SnapshotError, Snapshotter

MAX_LAYERS = 500          # the kernel's OVL_MAX_STACK
MAX_OPTIONS = 4000        # mount data is one page; leave room for the kernel's own use
OPTIONS = "redirect_dir=off,metacopy=off,index=off"


def mount_overlay(home: Path, target: Path, lowers: list[str], upper: str | None = None,
                  work: str | None = None, *, volatile: bool = False) -> None:
    """``mount -t overlay`` with paths relative to ``home`` (lowers top first).

    ``volatile`` (Linux 5.10+) skips the sync of the upper filesystem at unmount: for
    layers (``durability`` covers a crash) and build steps (thrown away or committed).
    """
    if len(lowers) > MAX_LAYERS:
        raise SnapshotError(f"{len(lowers)} layers: overlayfs stacks at most {MAX_LAYERS}")
    opts = f"lowerdir={':'.join(lowers)},{OPTIONS}"
    if upper is not None:
        opts += f",upperdir={upper},workdir={work}"
        if volatile and volatile_supported():
            opts += ",volatile"
    if len(opts) > MAX_OPTIONS:
        raise SnapshotError(f"{len(lowers)} layers do not fit overlayfs' mount options")
    absolute = _absolute_options(home, lowers, upper, work, opts)
    if absolute is not None:  # mount(2) itself: running mount(8) costs ~4 ms a time
        if libc().mount(b"overlay", os.fsencode(target), b"overlay", 0,
                         absolute.encode()) != 0:
            err = ctypes.get_errno()
            raise SnapshotError(f"overlay mount on {target} failed: {os.strerror(err)}")
        return
    res = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(target)],
                         cwd=home, capture_output=True, text=True)
    if res.returncode != 0:
        raise SnapshotError(f"overlay mount on {target} failed: {res.stderr.strip()}")


def _absolute_options(home: Path, lowers: list[str], upper: str | None, work: str | None,
                      opts: str) -> str | None:
    """``opts`` with the paths made absolute, for mount(2), which cannot be given a working
    directory; None if they no longer fit one page, or the root's path holds a separator."""
    base = os.path.abspath(home)
    if "," in base or ":" in base:
        return None
    absolute = opts.replace("lowerdir=" + ":".join(lowers),
                            "lowerdir=" + ":".join(f"{base}/{x}" for x in lowers), 1)
    if upper is not None:
        absolute = absolute.replace(f",upperdir={upper},workdir={work}",
                                    f",upperdir={base}/{upper},workdir={base}/{work}", 1)
    return absolute if len(absolute) <= MAX_OPTIONS else None


@functools.cache
def volatile_supported() -> bool:
    major, minor = (int(x) for x in re.findall(r"\d+", os.uname().release)[:2])
    return (major, minor) >= (5, 10)


def unmount(target: Path, *, lazy: bool = False) -> None:
    """Unmount ``target`` if it is a mount; ``lazy``: if it is busy, detach it anyway."""
    if not os.path.ismount(target):
        return
    path = os.fsencode(target)
    if libc().umount2(path, 0) == 0:
        return
    err = ctypes.get_errno()
    if lazy:
        if libc().umount2(path, MNT_DETACH) == 0:
            return
        err = ctypes.get_errno()
    raise SnapshotError(f"cannot unmount {target}: {os.strerror(err)}")


class OverlaySnapshotter(Snapshotter):
    driver = "overlay"

    def __init__(self, root: Path | str) -> None:
        super().__init__(root)
        self.links_dir = self.home / "l"
        self.views_dir = self.home / "views"
        self.empty_dir = self.home / "empty"
        for d in (self.links_dir, self.views_dir, self.empty_dir):
            private_dir(d)

    # -- lowerdirs ------------------------------------------------------------------------

    def _link(self, chain: Digest) -> str:
        """The short relative name of a layer dir, made on first use."""
        name = f"l/{chain.hex[:16]}"
        link = self.home / name
        target = f"../layers/{chain.hex}/fs"
        try:
            current = os.readlink(link)
        except FileNotFoundError:
            try:
                os.symlink(target, link)
                return name
            except FileExistsError:  # another process made it just now
                current = os.readlink(link)
        if current != target:  # a 64-bit prefix collision: use the full name
            return f"layers/{chain.hex}/fs"
        return name

    def _published(self, chain: Digest) -> None:
        self._link(chain)

    def _lowers(self, chain: Digest | None, *, readonly: bool) -> list[str]:
        lowers = [self._link(c) for c in self.chain(chain)] if chain is not None else []
        # overlayfs wants two lowerdirs without an upper, one with: pad with an empty dir
        while len(lowers) < (2 if readonly else 1):
            lowers.append("empty")
        return lowers

    # -- layers ----------------------------------------------------------------------------

    def _extract(self, parent: Digest | None, work: Path, stream: BinaryIO) -> Digest:
        fs = work / "fs"
        fs.mkdir()
        if parent is None:
            return apply_layer(stream, fs)
        (work / "work").mkdir()
        merged = work / "merged"
        merged.mkdir()
        rel = work.relative_to(self.home)
        mount_overlay(self.home, merged, self._lowers(parent, readonly=False),
                      f"{rel}/fs", f"{rel}/work", volatile=True)
        try:
            return apply_layer(stream, merged)
        finally:
            unmount(merged)
            os.rmdir(merged)
            _remove_workdir(work / "work")

    # -- active snapshots ------------------------------------------------------------------

    def _prepare(self, path: Path, parent: Digest | None) -> Path:
        for d in ("upper", "work", "merged"):
            (path / d).mkdir()
        self._mount_active(path, parent)
        return path / "merged"

    def _mount_active(self, path: Path, parent: Digest | None) -> None:
        rel = path.relative_to(self.home)
        volatile = (path / "volatile").exists()
        if volatile:  # a volatile workdir refuses a second mount until it is cleared
            _remove_workdir(path / "work")
            (path / "work").mkdir()
        mount_overlay(self.home, path / "merged", self._lowers(parent, readonly=False),
                      f"{rel}/upper", f"{rel}/work", volatile=volatile)

    def path(self, key: str) -> Path:
        path = self._active(key)
        if not os.path.ismount(path / "merged"):
            self._mount_active(path, self._active_parent(key))
        return path / "merged"

    def _quiesce(self, path: Path) -> None:
        unmount(path / "merged")

    def _changes(self, path: Path, parent: Digest | None) -> list[Change]:
        if parent is None:
            return diff_overlay(path / "upper", self.empty_dir)
        lower = path / "lower"
        lower.mkdir(exist_ok=True)
        mount_overlay(self.home, lower, self._lowers(parent, readonly=True))
        try:
            return diff_overlay(path / "upper", lower)
        finally:
            unmount(lower)

    def _take_tree(self, path: Path, work: Path) -> None:
        os.rename(path / "upper", work / "fs")

    def _release_active(self, path: Path, *, lazy: bool = False) -> None:
        unmount(path / "merged", lazy=lazy)
        unmount(path / "lower", lazy=lazy)

    # -- read-only views --------------------------------------------------------------------

    def view(self, chain: Digest | str) -> Path:
        chain = Digest(chain)
        if not self.has(chain):
            raise SnapshotError(f"snapshot {chain} not found")
        target = self.views_dir / chain.hex
        target.mkdir(exist_ok=True)
        if not os.path.ismount(target):
            mount_overlay(self.home, target, self._lowers(chain, readonly=True))
        return target

    def release(self, chain: Digest | str) -> None:
        target = self.views_dir / Digest(chain).hex
        unmount(target)
        if target.exists():
            os.rmdir(target)

    def _before_remove_chain(self, chain: Digest) -> None:
        self.release(chain)
        link = self.links_dir / chain.hex[:16]
        if os.path.islink(link) and os.readlink(link) == f"../layers/{chain.hex}/fs":
            os.unlink(link)

    def _rmtree(self, path: Path) -> None:
        for sub in ("merged", "lower"):
            unmount(path / sub)
        _remove_workdir(path / "work")
        super()._rmtree(path)


def _remove_workdir(work: Path) -> None:
    """overlayfs leaves ``work/work`` mode 000; make it removable."""
    inner = work / "work"
    if inner.exists():
        os.chmod(inner, 0o700)
    if work.exists():
        shutil.rmtree(work)


def overlay_works(home: Path) -> bool:
    """Probe: can we mount an overlay with an upperdir on this filesystem, here?"""
    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/filesystems") as f:
            if "overlay" not in f.read():
                return False
    except OSError:
        return False
    make_private_dirs(home)
    probe = Path(tempfile.mkdtemp(prefix="probe-", dir=home))
    try:
        for d in ("lower", "upper", "work", "merged"):
            (probe / d).mkdir()
        rel = probe.name
        try:
            mount_overlay(home, probe / "merged", [f"{rel}/lower"], f"{rel}/upper", f"{rel}/work")
        except SnapshotError:
            return False
        try:
            os.mknod(probe / "merged" / "x")  # a write through the mount must work too
            os.unlink(probe / "merged" / "x")
            return True
        except OSError:
            return False
        finally:
            unmount(probe / "merged")
    finally:
        _remove_workdir(probe / "work")
        shutil.rmtree(probe)
