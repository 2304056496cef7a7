"""Describe a directory tree with all the metadata a layer carries, to compare trees."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from wharfie.layers.diff import iter_tree, read_xattrs


def tree_state(root: Path | str, *, dir_mtimes: bool = True) -> dict[str, tuple]:
    """path -> (type, mode, uid, gid, mtime s, size, content/target/rdev, xattrs, link group).

    The link group is the first path (in walk order) sharing the inode within the tree,
    so two trees compare equal only if the same paths are hardlinked together (links
    to outside the tree, as in a hardlink farm or an overlay lowerdir, do not count).
    """
    out: dict[str, tuple] = {}
    first: dict[tuple[int, int], str] = {}
    count: dict[str, int] = {}
    for rel in iter_tree(root):
        p = os.path.join(root, rel)
        st = os.lstat(p)
        m = st.st_mode
        if stat.S_ISREG(m):
            with open(p, "rb") as f:
                body = f.read()
        elif stat.S_ISLNK(m):
            body = os.readlink(p)
        elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
            body = st.st_rdev
        else:
            body = None
        group = None
        if not stat.S_ISDIR(m) and st.st_nlink > 1:
            group = first.setdefault((st.st_dev, st.st_ino), rel)
            count[group] = count.get(group, 0) + 1
        mtime = st.st_mtime_ns // 10**9 if (dir_mtimes or not stat.S_ISDIR(m)) else None
        out[rel] = (stat.S_IFMT(m), stat.S_IMODE(m), st.st_uid, st.st_gid, mtime,
                    st.st_size if stat.S_ISREG(m) else None, body, read_xattrs(p), group)
    return {rel: (*v[:-1], v[-1] if count.get(v[-1], 0) > 1 else None) for rel, v in out.items()}
