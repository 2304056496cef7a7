"""What changed between two directory trees, as the sorted entry list of a layer.

Two ways in, one answer out:

* ``diff_trees(lower, upper)`` compares two full trees (the copy snapshotter);
* ``diff_overlay(upper, lower)`` reads an overlayfs upperdir, where the kernel has
  already recorded what changed (0/0 character devices for deletions, the
  ``trusted.overlay.opaque`` xattr for replaced directories).

Given ``lower`` (the parent's merged view), ``diff_overlay`` gives exactly what
``diff_trees`` gives for the same change: copied-up but unchanged entries are
dropped and opaque directories become explicit whiteouts. That is what makes the
two snapshotters agree byte for byte. Without ``lower`` it translates the
upperdir as is (whiteouts and ``.wh..wh..opq``), as Docker's overlay2 does.

An entry counts as changed by containerd's rule: type, mode, owner, xattrs, link
target or device number differ; for files also size or mtime; and when both
mtimes have no sub-second part (tar-extracted), the content is compared.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
OVERLAY_XATTR_PREFIX = "trusted.overlay."
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Change:
    """One layer entry: ``path`` (relative, ``/``-separated) and where its data is.

    ``source`` is None for whiteouts, whose ``path`` already ends in ``.wh.<name>``
    or ``.wh..wh..opq``.
    """

    path: str
    source: str | None


def sort_key(path: str) -> tuple[tuple[int, bytes], ...]:
    """Order entries by path components, a directory before its children; among siblings
    the opaque marker first, then whiteouts (the image spec asks for whiteouts before
    sibling entries), then the rest by name."""
    parts = path.split("/")
    last = parts[-1]
    group = 0 if last == OPAQUE else 1 if last.startswith(WHITEOUT_PREFIX) else 2
    return (*((2, os.fsencode(p)) for p in parts[:-1]), (group, os.fsencode(last)))


def read_xattrs(path: str) -> dict[str, bytes]:
    """All xattrs of ``path`` (not following symlinks), minus overlayfs' own bookkeeping."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EPERM):
            return {}
        raise
    out = {}
    for name in sorted(names):
        if name.startswith(OVERLAY_XATTR_PREFIX):
            continue
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as e:
            if e.errno != errno.ENODATA:  # removed between list and get
                raise
    return out


def _same_content(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(_CHUNK), fb.read(_CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True


def changed(lpath: str, lst: os.stat_result, upath: str, ust: os.stat_result) -> bool:
    """True if the entry at ``upath`` differs from the one at ``lpath`` (containerd's rule)."""
    if (stat.S_IFMT(lst.st_mode) != stat.S_IFMT(ust.st_mode)
            or stat.S_IMODE(lst.st_mode) != stat.S_IMODE(ust.st_mode)
            or lst.st_uid != ust.st_uid or lst.st_gid != ust.st_gid):
        return True
    mode = ust.st_mode
    if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and lst.st_rdev != ust.st_rdev:
        return True
    if read_xattrs(lpath) != read_xattrs(upath):
        return True
    if stat.S_ISDIR(mode):
        return lst.st_mtime_ns != ust.st_mtime_ns
    if stat.S_ISLNK(mode):
        return os.readlink(lpath) != os.readlink(upath) or lst.st_mtime_ns // 10**9 != ust.st_mtime_ns // 10**9
    if lst.st_size != ust.st_size or lst.st_mtime_ns // 10**9 != ust.st_mtime_ns // 10**9:
        return True
    lns, uns = lst.st_mtime_ns % 10**9, ust.st_mtime_ns % 10**9
    if lns == 0 and uns == 0:
        return stat.S_ISREG(mode) and ust.st_size > 0 and not _same_content(lpath, upath)
    return lns != uns


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _listdir(path: str | None) -> list[str]:
    if path is None:
        return []
    st = _lstat(path)
    if st is None or not stat.S_ISDIR(st.st_mode):
        return []
    return os.listdir(path)


class _Collector:
    """Gathers changes, then adds every path sharing an inode with a changed file."""

    def __init__(self) -> None:
        self.changes: dict[str, str | None] = {}
        self.inodes: dict[tuple[int, int], list[str]] = {}

    def seen(self, rel: str, st: os.stat_result) -> None:
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            self.inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)

    def add(self, rel: str, source: str | None) -> None:
        self.changes[rel] = source

    def result(self, upper: str) -> list[Change]:
        for paths in self.inodes.values():
            if any(p in self.changes for p in paths):
                for p in paths:
                    self.changes.setdefault(p, os.path.join(upper, p))
        return [Change(p, self.changes[p]) for p in sorted(self.changes, key=sort_key)]


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _whiteout(rel: str, name: str) -> str:
    return _join(rel, WHITEOUT_PREFIX + name)


def diff_trees(lower: Path | str | None, upper: Path | str, *,
               untouched_before: int | None = None) -> list[Change]:
    """The changes that turn tree ``lower`` (None: empty) into tree ``upper``.

    ``untouched_before``: when ``upper`` began as an exact copy of ``lower``, the ctime
    (ns) of a file created right after the copy. An entry whose ctime is older has not
    been touched since (ctime cannot be set, only bumped), so it is not compared: no
    file contents are read for the unchanged bulk of a root filesystem.
    """
    out = _Collector()
    upper_s = os.fspath(upper)

    def walk(ldir: str | None, udir: str, rel: str) -> None:
        names = sorted(os.listdir(udir))
        for gone in sorted(set(_listdir(ldir)) - set(names)):
            out.add(_whiteout(rel, gone), None)
        for name in names:
            upath, relpath = os.path.join(udir, name), _join(rel, name)
            ust = os.lstat(upath)
            lpath = os.path.join(ldir, name) if ldir is not None else None
            lst = _lstat(lpath) if lpath is not None else None
            out.seen(relpath, ust)
            untouched = untouched_before is not None and ust.st_ctime_ns < untouched_before
            if lst is None or (not untouched and changed(lpath, lst, upath, ust)):  # type: ignore[arg-type]
                out.add(relpath, upath)
            if stat.S_ISDIR(ust.st_mode):
                below = lpath if lst is not None and stat.S_ISDIR(lst.st_mode) else None
                walk(below, upath, relpath)

    walk(os.fspath(lower) if lower is not None else None, upper_s, "")
    return out.result(upper_s)


def is_overlay_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.ENOTSUP):
            return False
        raise


def diff_overlay(upper: Path | str, lower: Path | str | None = None) -> list[Change]:
    """The changes recorded in an overlayfs upperdir; see the module docstring for ``lower``."""
    out = _Collector()
    upper_s = os.fspath(upper)
    lower_s = os.fspath(lower) if lower is not None else None

    def walk(udir: str, ldir: str | None, rel: str, hidden: bool) -> None:
        # hidden: an opaque directory above hides the lower tree here, so every lower
        # name missing from the upper is gone.
        entries = [(n, os.lstat(os.path.join(udir, n))) for n in sorted(os.listdir(udir))]
        if lower_s is not None and hidden:
            present = {n for n, st in entries if not is_overlay_whiteout(st)}
            for gone in sorted(set(_listdir(ldir)) - present):
                out.add(_whiteout(rel, gone), None)
        for name, ust in entries:
            upath, relpath = os.path.join(udir, name), _join(rel, name)
            lpath = os.path.join(ldir, name) if ldir is not None else None
            lst = _lstat(lpath) if lpath is not None else None
            if is_overlay_whiteout(ust):
                if lower_s is None or (lst is not None and not hidden):
                    out.add(_whiteout(rel, name), None)
                continue
            out.seen(relpath, ust)
            if lst is None or changed(lpath, lst, upath, ust):  # type: ignore[arg-type]
                out.add(relpath, upath)
            if stat.S_ISDIR(ust.st_mode):
                opaque = is_opaque(upath)
                if opaque and lower_s is None:
                    out.add(_join(relpath, OPAQUE), None)
                below = lpath if lst is not None and stat.S_ISDIR(lst.st_mode) else None
                walk(upath, below, relpath, hidden or opaque)

    walk(upper_s, lower_s, "", False)
    return out.result(upper_s)


def iter_tree(root: Path | str) -> Iterator[str]:
    """Every path under ``root`` (relative), parents first, siblings sorted."""
    root_s = os.fspath(root)

    def walk(d: str, rel: str) -> Iterator[str]:
        for name in sorted(os.listdir(d)):
            path, relpath = os.path.join(d, name), _join(rel, name)
            yield relpath
            if stat.S_ISDIR(os.lstat(path).st_mode):
                yield from walk(path, relpath)

    yield from walk(root_s, "")
