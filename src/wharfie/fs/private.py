"""Directories only their owner can enter, and flocks that tell a live owner's directory
from an abandoned one.

The store root holds mounted container root filesystems and extracted layers with their
setuid binaries: any user who could walk into it could run them as root. So the root,
and every directory under it that holds mounts or root filesystems, is mode 0700.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from wharfie.errors import WharfieError


def make_private_dirs(path: Path | str) -> Path:
    """``mkdir -p -m 700``: each missing component is created 0700 (never wider for a
    moment, whatever the umask); existing ones are left as they are."""
    path = Path(path)
    missing = []
    p = path
    while not p.is_dir():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:  # a concurrent creator
            continue
        os.chmod(d, 0o700)  # the umask may have taken the owner's bits
    return path


def private_dir(path: Path | str) -> Path:
    """A directory only its owner can enter: created 0700, or an existing one of ours
    tightened to it (a root made by an older wharfie is 0755). A shared directory with
    the sticky bit (``--root /tmp``) is left as it is: closing it would harm the host."""
    try:
        path = make_private_dirs(path)
    except PermissionError as e:
        raise WharfieError(f"cannot create {path}: {e.strerror}") from None
    st = os.stat(path)
    if st.st_mode & 0o077 and st.st_uid == os.geteuid() and not st.st_mode & stat.S_ISVTX:
        os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
    return path


def hold(path: Path) -> int:
    """Flock dir ``path`` for as long as the returned fd is open (closed by the kernel if
    the process dies), so a sweep can tell a live owner's dir from an abandoned one."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def abandoned(paths: Iterable[Path]) -> Iterator[Path]:
    """The dirs of ``paths`` that nobody ``hold``s: their owner died. Each is held by us
    while the caller removes it, so two sweeps never remove the same one."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue  # removed by its owner just now
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its owner is alive
            if path.exists() and os.path.samestat(os.fstat(fd), path.lstat()):
                yield path
        finally:
            os.close(fd)
