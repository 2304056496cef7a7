"""One neutral view of an image for comparing builders: its layers flattened into one
tree (whiteouts and opaque markers applied), each entry as (type, mode, owner, size,
content digest, link target) without times, and its config without times or layer IDs."""

from __future__ import annotations

import copy
import hashlib
import posixpath
import tarfile
from collections.abc import Iterable
from typing import BinaryIO

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


def _name(raw: str) -> str:
    return posixpath.normpath("/" + raw).lstrip("/")


def _drop(tree: dict, path: str, *, keep_self: bool = False) -> None:
    prefix = path + "/" if path else ""
    for k in [k for k in tree if k.startswith(prefix) or (k == path and not keep_self)]:
        if k or not keep_self:
            del tree[k]


def flatten(layers: Iterable[BinaryIO]) -> dict[str, tuple]:
    """{path: entry} of the filesystem the uncompressed layer tars make, bottom first.
    A hard link is shown as the file it names (which name a tar writes first is the
    writer's choice); its link is kept as ``hardlink`` in the content field."""
    tree: dict[str, tuple] = {}
    for stream in layers:
        added: set[str] = set()
        with tarfile.open(fileobj=stream, mode="r|") as t:
            for m in t:
                name = _name(m.name)
                head, _, base = name.rpartition("/")
                if base == OPAQUE:
                    for k in [k for k in tree if k.startswith(head + "/" if head else "")
                              and k not in added and k != head]:
                        del tree[k]
                    continue
                if base.startswith(WHITEOUT):
                    gone = posixpath.join(head, base[len(WHITEOUT):])
                    for k in [k for k in tree if k == gone or k.startswith(gone + "/")]:
                        del tree[k]
                    continue
                if not m.isdir():
                    for k in [k for k in tree if k.startswith(name + "/")]:
                        del tree[k]
                if m.islnk():
                    target = tree.get(_name(m.linkname))
                    entry = ("file", m.mode & 0o7777, m.uid, m.gid, target[4] if target else 0,
                             target[5] if target else "missing", "")
                elif m.isfile():
                    data = t.extractfile(m).read()
                    entry = ("file", m.mode & 0o7777, m.uid, m.gid, len(data),
                             hashlib.sha256(data).hexdigest()[:16], "")
                elif m.isdir():
                    entry = ("dir", m.mode & 0o7777, m.uid, m.gid, 0, "", "")
                elif m.issym():
                    entry = ("symlink", 0o777, m.uid, m.gid, 0, "", m.linkname)
                else:
                    entry = (f"type-{m.type!r}", m.mode & 0o7777, m.uid, m.gid, 0,
                             f"{m.devmajor}:{m.devminor}", "")
                tree[name] = entry
                added.add(name)
    tree.pop("", None)
    return tree


def config_view(doc: dict) -> dict:
    """The config without what differs from run to run: times and layer digests."""
    doc = copy.deepcopy(doc)
    doc.pop("created", None)
    doc.get("rootfs", {}).pop("diff_ids", None)
    for h in doc.get("history") or []:
        h.pop("created", None)
    return doc


def differences(a: dict, b: dict, limit: int = 8) -> list[str]:
    """What differs between two flattened trees or config views, first ``limit``."""
    out = []
    for k in sorted(set(a) | set(b), key=str):
        if a.get(k) != b.get(k):
            out.append(f"{k}: docker={a.get(k)!r} wharfie={b.get(k)!r}")
    return out[:limit]
