"""Paths that stay inside a root: names in an archive (``clean_name``, a rule on the text
alone) and paths in a container's root filesystem, resolved as the container would see
them (``resolve``).

The rootfs is untrusted: ``/etc`` may be a symlink to ``/`` or ``../../host``. Every
lookup here follows symlinks relative to the rootfs and never leaves it.

Two places keep their own, stricter rule on purpose: the layer applier
(``layers/apply.py``) walks component by component with ``O_NOFOLLOW`` directory fds,
since it writes while the tree it resolves in changes under it; the registry's
filesystem driver refuses any ``..`` in a storage key, since it names keys itself.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
from pathlib import Path, PurePosixPath

from wharfie.errors import InvalidInput

MAX_SYMLINKS = 40


def clean_name(name: str) -> str | None:
    """``name`` normalized as a path relative to the root (leading slashes are the root,
    ``a/./b/../c`` is ``a/c``, the root itself is ``""``), or None if ``..`` climbs out."""
    norm = posixpath.normpath(name.lstrip("/") or ".")
    if norm == ".." or norm.startswith("../"):
        return None
    return "" if norm == "." else norm


def resolve(root: Path, path: str, *, follow_last: bool = True) -> Path:
    """The host path of container path ``path``, symlinks followed but clamped to ``root``.

    Components that do not exist yet are kept (``..`` still clamped), so the result
    can be created; with ``follow_last=False`` a final symlink is not followed.
    """
    parts = [p for p in PurePosixPath("/", path).parts[1:] if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        host = root.joinpath(*done, name)
        try:
            st = host.lstat()
        except FileNotFoundError:
            done.append(name)
            continue
        except NotADirectoryError:
            raise InvalidInput(f"{path}: a parent is not a directory") from None
        if stat.S_ISLNK(st.st_mode) and (parts or follow_last):
            links += 1
            if links > MAX_SYMLINKS:
                raise InvalidInput(f"too many levels of symbolic links in {path}")
            target = os.readlink(host)
            if target.startswith("/"):
                done = []
            parts = [p for p in PurePosixPath(target).parts
                     if p not in ("/", "", ".")] + parts
            continue
        done.append(name)
    return root.joinpath(*done)


def read_text(root: Path, path: str) -> str | None:
    """A text file of the container, or None if it is missing or not a regular file."""
    host = resolve(root, path)
    try:
        if not stat.S_ISREG(host.lstat().st_mode):
            return None
        return host.read_text(errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return None


def makedirs(root: Path, path: str, mode: int = 0o755) -> None:
    """``mkdir -p`` a container path (as Docker does for a missing working directory)."""
    host = resolve(root, path)
    host.mkdir(mode=mode, parents=True, exist_ok=True)
    if resolve(root, path) != host:
        raise InvalidInput(f"working directory {path} changed while it was created")


def _open_parent(root: Path, path: str) -> tuple[int, str] | None:
    """An fd of ``path``'s parent directory walked with O_NOFOLLOW, and its last name."""
    parts = [p for p in PurePosixPath("/", path).parts[1:] if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in parts[:-1]:
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except OSError:
        os.close(fd)
        return None
    return fd, parts[-1]


def exists(root: Path, path: str) -> bool:
    """Whether ``path`` exists in the rootfs, without following any symlink."""
    opened = _open_parent(root, path)
    if opened is None:
        return False
    fd, name = opened
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def remove_stub(root: Path, path: str) -> None:
    """Remove an empty file or empty directory the runtime created as a mount point.

    Walks with O_NOFOLLOW so that a container which swapped a parent for a symlink
    cannot make this touch the host; anything non-empty is left alone.
    """
    opened = _open_parent(root, path)
    if opened is None:
        return
    fd, name = opened
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISREG(st.st_mode) and st.st_size == 0:
            os.unlink(name, dir_fd=fd)
        elif stat.S_ISDIR(st.st_mode):
            with contextlib.suppress(OSError):  # not empty: the container put something there
                os.rmdir(name, dir_fd=fd)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)
