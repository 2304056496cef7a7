"""Snapshot layers are a cache of blobs: written without fsync, dropped if a crash may have cut them.

Syncing a freshly written layer costs as much as writing it (a 1 GiB COPY waited 0.46 s
for overlayfs' sync at unmount), and a layer can always be extracted again from its
blob, which the content store does fsync. So a layer is published with a ``boot`` file
naming the boot it was written in, and trusted while that boot lasts. After a reboot,
layers still carrying an earlier boot's mark may hold truncated files and are removed
(the next build or run extracts them again). Once the writes have had time to reach
the disk, any later start confirms them with one ``syncfs`` in the background and
removes the marks, so an orderly reboot keeps them.

Files under ``<root>/snapshots/<driver>/``::

    layers/<chain hex>/boot   the boot a layer was written in, until a sync confirms it
    boot                      the boot in which the layers were last checked
    unsynced                  touched each time a marked layer is published
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from wharfie.fs.atomic import atomic_write

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
# The kernel writes dirty pages back after vm.dirty_expire_centisecs (30 s by default): a
# sync started later finds little left to write and does not slow anyone down.
SETTLE_SECONDS = 30
# File mtimes come from a coarse clock: a mark written just after a sync started may look
# a little older. Only marks older than this margin before the sync are confirmed by it.
CLOCK_MARGIN = 1.0


def boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return "unknown"


def syncfs(path: Path) -> None:
    """Flush the filesystem holding ``path`` (Linux ``syncfs(2)``)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"syncfs {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def mark_unsynced(work: Path, home: Path) -> None:
    """Mark a layer being published (``work`` is its dir before the rename into place)."""
    (work / "boot").write_text(boot_id())
    (home / "unsynced").touch()


def check(home: Path, layers_dir: Path, discard: Callable[[Path], None]) -> threading.Thread | None:
    """On start: drop the layers of earlier boots that no sync confirmed, then, if marked
    layers have settled, confirm them in a background thread (returned, for tests)."""
    boot = boot_id()
    seen = home / "boot"
    try:
        last = seen.read_text()
    except FileNotFoundError:
        last = ""
    if last != boot:
        for layer in layers_dir.iterdir():
            try:
                written = (layer / "boot").read_text()
            except (FileNotFoundError, NotADirectoryError):
                continue
            if written != boot:
                discard(layer)
        atomic_write(seen, boot.encode())
    try:
        age = time.time() - (home / "unsynced").stat().st_mtime
    except FileNotFoundError:
        return None
    if age < SETTLE_SECONDS:
        return None
    thread = threading.Thread(target=_confirm, args=(home, layers_dir), daemon=True,
                              name="wharfie-snapshot-sync")
    thread.start()
    return thread


def _confirm(home: Path, layers_dir: Path) -> None:
    """syncfs, then unmark what was published before it began. If the sync fails, the
    marks stay: those layers are extracted again after a reboot, which is the safe side."""
    started = time.time() - CLOCK_MARGIN
    try:
        syncfs(layers_dir)
    except OSError:
        return
    for layer in layers_dir.iterdir():
        mark = layer / "boot"
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            if mark.stat().st_mtime < started:
                mark.unlink()
    marker = home / "unsynced"
    with contextlib.suppress(FileNotFoundError):
        if marker.stat().st_mtime < started:
            marker.unlink()
