"""mount(2) and umount2(2) through libc, and the mounts below a directory: for what
wharfie mounts itself (overlay snapshots, secrets) and what a killed runtime left in its
state (``runtime/``)."""

from __future__ import annotations

import ctypes
import functools
import os
import re
from pathlib import Path

MNT_DETACH = 2  # umount2(2): detach now, finish once no longer busy

_ESCAPE = rb"\\([0-7]{3})"  # mountinfo writes space, tab, newline, \ in octal


@functools.cache
def libc() -> ctypes.CDLL:
    """libc, with mount(2) and umount2(2) typed: an untyped ``0`` for mount's unsigned long
    flags would be passed as an int, whose upper register half is not defined."""
    lib = ctypes.CDLL(None, use_errno=True)
    lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                          ctypes.c_char_p]
    lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return lib


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below ``path`` in our mount namespace, deepest first."""
    top = os.fsencode(os.path.abspath(path))
    found = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            point = re.sub(_ESCAPE, lambda m: bytes([int(m.group(1), 8)]), line.split(b" ")[4])
            if point == top or point.startswith(top + b"/"):
                found.append(point)
    return [Path(os.fsdecode(p)) for p in sorted(found, key=len, reverse=True)]


def detach(target: Path) -> None:
    """Detach the mount at ``target`` (busy or not); OSError if that fails."""
    if libc().umount2(os.fsencode(target), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot unmount {target}: {os.strerror(err)}")
