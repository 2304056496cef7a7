"""Resolve paths inside a root filesystem the way a container would see them.

A symlink in an image (``/etc/alt -> /usr/etc``) must be followed relative to the
image's root, never the host's: this is moby's FollowSymlinkInScope.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from wharfie.errors import InvalidInput

MAX_SYMLINKS = 255


def secure_join(root: Path, path: str, *, follow_last: bool = True) -> Path:
    """``root``/``path`` with every symlink resolved inside ``root``; the result never escapes.

    Components that do not exist yet are appended as given, so the result can be created.
    """
    root = Path(root)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        except NotADirectoryError:
            raise InvalidInput(f"{path}: a parent is not a directory") from None
        if stat.S_ISLNK(st.st_mode) and (parts or follow_last):
            hops += 1
            if hops > MAX_SYMLINKS:
                raise InvalidInput(f"{path}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)
