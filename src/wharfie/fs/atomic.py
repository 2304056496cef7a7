"""Atomic file replacement: readers see the old file or the new one, never half of it, and
after a crash the disk holds one of the two (the data is synced before the rename, the
directory after it)."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path | str) -> None:
    """Make a rename or creation in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int | None = None,
                 sync: bool = True) -> None:
    """Replace ``path`` with ``data`` through a temp file beside it.

    ``mode`` (say 0o600 for secrets) is the file's mode from its creation, never wider for
    a moment, whatever the umask; without it the umask decides, as for ``open``.
    ``sync=False`` does not wait for the disk, for a cache whose reader checks what it
    reads: after a crash the file may be the old one, the new one, or unreadable."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                 0o666 if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)  # the umask may have taken some of its bits
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync:
        fsync_dir(path.parent)
