"""What a container changed, and moving files in and out: ``diff`` (A/C/D from the overlay
upper dir), ``commit`` (those changes as a new layer on the container's image, with a
history entry like docker's) and ``cp`` (paths resolved inside the container's root, so a
symlink never leads out of it).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

from wharfie.containers.launch import resolve_image
from wharfie.containers.store import Container
from wharfie.errors import InvalidInput, NotFound
from wharfie.fs import inroot as rfs
from wharfie.images.imagestore import ImageStore
from wharfie.layers.diff import OPAQUE, WHITEOUT_PREFIX, Change
from wharfie.layers.writer import write_layer_to_store
from wharfie.oci import mediatypes as mt
from wharfie.oci.manifest import Descriptor
from wharfie.oci.mutate import commit_image, with_layers
from wharfie.oci.reference import Reference
from wharfie.oci.timestamps import rfc3339


def _changes(root: Path, c: Container) -> list[Change]:
    """The snapshot's changes, without the mount points runc made for a running container."""
    from wharfie import snapshots

    snap = snapshots.for_root(root)
    changes = snap.changes(c.snapshot)
    stubs = {p.lstrip("/") for p in c.state.stub_paths} if c.running else set()
    return [ch for ch in changes if ch.path not in stubs]


def diff(root: Path, c: Container) -> list[tuple[str, str]]:
    """docker diff's lines as (kind, path): A added, C changed, D deleted, sorted by path."""
    from wharfie import snapshots

    snap = snapshots.for_root(root)
    lower = snap.view(c.chain) if c.chain else None
    out: list[tuple[str, str]] = []
    try:
        for ch in _changes(root, c):
            head, _, name = ch.path.rpartition("/")
            if name == OPAQUE:
                continue
            if ch.source is None:
                gone = name.removeprefix(WHITEOUT_PREFIX)
                out.append(("D", "/" + (f"{head}/{gone}" if head else gone)))
                continue
            existed = lower is not None and os.path.lexists(lower / ch.path)
            out.append(("C" if existed else "A", "/" + ch.path))
    finally:
        if c.chain:
            snap.release(c.chain)
    # as docker's: the directory holding a change is changed too (not the root)
    listed = {path for _, path in out}
    for _, path in list(out):
        parent = os.path.dirname(path)
        if parent != "/" and parent not in listed:
            out.append(("C", parent))
            listed.add(parent)
    return sorted(out, key=lambda kv: kv[1])


def commit(root: Path, images: ImageStore, c: Container, ref: Reference | None, *,
           message: str = "", author: str = "",
           changes: Callable[[dict], dict] | None = None) -> str:
    """A new image: the container's image plus its changes as one layer; the image ID.

    The config is the container's (Cmd, Env, ...), then ``changes`` (``-c``) applied."""
    image = resolve_image(images, c.image_id)
    doc = dict(image.config.doc)
    cfg = dict(doc.get("config") or {})
    cc = c.config
    for key in ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts",
                "Volumes", "StopSignal"):
        if cc.get(key) is not None and cc.get(key) != "":
            cfg[key] = cc[key]
    if changes is not None:
        cfg = changes(cfg)
    with images.content.lock(shared=True):
        layer = write_layer_to_store(_changes(root, c), images.content)
        created = rfc3339(time.time())
        history = list(doc.get("history") or []) + [
            {"created": created, "created_by": " ".join(cc.get("Cmd") or c.command),
             **({"author": author} if author else {}),
             **({"comment": message} if message else {})}]
        new = with_layers(doc, [*image.config.diff_ids, layer.diff_id], history)
        new["config"], new["created"] = cfg, created
        new["container"] = c.id
        new.pop("author", None)
        if author:
            new["author"] = author
        if message:
            new["comment"] = message
        layers = [la.descriptor for la in image.layers()] + [
            Descriptor(layer.media_type, layer.digest, layer.size)]
        media = image.manifest.media_type
        digest, config_id = commit_image(
            images, new, layers, media_type=media,
            config_media_type=mt.DOCKER_CONFIG if "docker" in media else mt.OCI_CONFIG)
        if ref is not None:
            images.tag(ref, digest)
    return str(config_id)


# -- cp -----------------------------------------------------------------------------------

def _rootfs(root: Path, c: Container) -> Path:
    from wharfie import snapshots

    return snapshots.for_root(root).path(c.snapshot)


def _mount_for(c: Container, path: str) -> tuple[Path, str] | None:
    """The volume or bind mount holding container path ``path``: its host dir and the rest."""
    norm = "/" + (rfs.clean_name(path) or "")
    best = None
    for m in c.host_config.get("WharfieMounts") or []:
        t = m["Target"].rstrip("/") or "/"
        inside = m["Type"] != "tmpfs" and (norm == t or norm.startswith(t + "/"))
        if inside and (best is None or len(t) > len(best[1])):
            best = (Path(m["Source"]), t)
    if best is None:
        return None
    return best[0], norm[len(best[1]):] or "/"


def host_path(root: Path, c: Container, path: str, *, follow: bool = True) -> Path:
    """Where container path ``path`` is on the host, symlinks resolved inside the root."""
    inside = _mount_for(c, path)
    base, rel = inside if inside else (_rootfs(root, c), path)
    return rfs.resolve(base, rel, follow_last=follow)


def copy_out(root: Path, c: Container, src: str, dest: Path, *, follow: bool = False,
             archive: bool = False) -> None:
    """``cp CONTAINER:SRC DEST``: docker's rules (into a directory, or as a new name)."""
    host = host_path(root, c, src, follow=follow)
    if not os.path.lexists(host):
        raise NotFound(f"Could not find the file {src} in container {c.name}")
    name = os.path.basename(src.rstrip("/")) or os.path.basename(host)
    if src.endswith("/.") and host.is_dir():
        target = dest
        dest.mkdir(parents=True, exist_ok=True)
        _copy_tree_contents(host, target, archive)
        return
    target = dest / name if dest.is_dir() else dest
    if not dest.parent.exists() and not dest.exists():
        raise InvalidInput(f"invalid output path: directory {dest.parent} does not exist")
    _copy(host, target, archive)


def copy_in(root: Path, c: Container, src: Path, dest: str, *, follow: bool = False,
            archive: bool = False) -> None:
    """``cp SRC CONTAINER:DEST``; a symlink in the container's DEST is resolved inside."""
    if not os.path.lexists(src):
        raise NotFound(f"could not find the file {src}")
    if follow:
        src = src.resolve()
    host = host_path(root, c, dest)
    if host.is_dir():
        if str(src).endswith("/.") and src.is_dir():
            _copy_tree_contents(src, host, archive)
            return
        host = host / src.name
    elif dest.endswith("/"):
        raise NotFound(f"Could not find the file {dest} in container {c.name}")
    elif not host.parent.is_dir():
        raise NotFound(f"Could not find the file {os.path.dirname(dest)} in container {c.name}")
    _copy(src, host, archive, owner=None if archive else (0, 0))


def _copy_tree_contents(src: Path, dest: Path, archive: bool) -> None:
    for child in sorted(src.iterdir()):
        _copy(child, dest / child.name, archive)


def _copy(src: Path, dest: Path, archive: bool, owner: tuple[int, int] | None = None) -> None:
    """Copy a file, link or tree; ``archive`` keeps uid/gid, else ``owner`` (or ours)."""
    st = os.lstat(src)
    if stat.S_ISDIR(st.st_mode):
        dest.mkdir(exist_ok=True)
        for child in sorted(src.iterdir()):
            _copy(child, dest / child.name, archive, owner)
        shutil.copystat(src, dest, follow_symlinks=False)
    elif stat.S_ISLNK(st.st_mode):
        if os.path.lexists(dest):
            os.unlink(dest)
        os.symlink(os.readlink(src), dest)
    else:
        if os.path.islink(dest):
            os.unlink(dest)  # never write through a link: replace it
        shutil.copy2(src, dest, follow_symlinks=False)
    uid, gid = (st.st_uid, st.st_gid) if archive else (owner or (os.getuid(), os.getgid()))
    os.lchown(dest, uid, gid)


def tar_out(root: Path, c: Container, src: str, sink, *, follow: bool = False) -> None:
    """``cp CONTAINER:SRC -``: a tar of SRC on ``sink``."""
    host = host_path(root, c, src, follow=follow)
    if not os.path.lexists(host):
        raise NotFound(f"Could not find the file {src} in container {c.name}")
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.add(host, arcname=os.path.basename(src.rstrip("/")) or ".")
