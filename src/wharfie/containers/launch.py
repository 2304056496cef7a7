"""From an image to a container: Docker's rules for ENTRYPOINT and CMD, ``-e`` and
``--env-file``, the image a name designates, and a container's or image's files as a tar.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from wharfie.containers.store import Container, ContainerStore
from wharfie.errors import InvalidInput, NotFound
from wharfie.images.imagestore import ImageStore
from wharfie.layers.diff import diff_trees
from wharfie.layers.writer import Sink as LayerSink
from wharfie.layers.writer import write_layer
from wharfie.oci.image import Image, ImageIndex
from wharfie.oci.platform import host_platform


def command_for(config: dict, args: list[str], entrypoint: str | None) -> list[str]:
    """ENTRYPOINT + CMD as Docker combines them: args replace CMD, --entrypoint resets both."""
    if entrypoint is not None:
        ep = [entrypoint] if entrypoint else []
        cmd = list(args)
    else:
        ep = list(config.get("Entrypoint") or [])
        cmd = list(args) if args else list(config.get("Cmd") or [])
    argv = ep + cmd
    if not argv:
        raise InvalidInput("no command specified")
    return argv


def parse_env(items: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """``-e K=V`` as given; ``-e K`` takes K from our environment, or is dropped if unset."""
    environ = os.environ if environ is None else environ
    out = []
    for item in items:
        if "=" in item:
            if item.startswith("="):
                raise InvalidInput(f"invalid environment variable: {item}")
            out.append(item)
        elif item in environ:
            out.append(f"{item}={environ[item]}")
    return out


def read_env_file(path: Path) -> list[str]:
    """Docker's --env-file: K=V or K per line, # comments and blank lines ignored."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise InvalidInput(f"open {path}: {e.strerror}") from None
    items = [line.lstrip() for line in lines]
    return parse_env([i for i in items if i and not i.startswith("#")])


def resolve_image(store: ImageStore, name: str) -> Image:
    """The image a name designates; for an index, the child for this host's platform."""
    target = store.open_target(name)
    if isinstance(target, ImageIndex):
        return target.image_for(host_platform())
    return target


def export_rootfs(root: Path, store: ImageStore, name: str, sink: LayerSink) -> None:
    """Write a container's root filesystem, or an image's flattened one, as a plain tar."""
    from wharfie import snapshots

    snap = snapshots.for_root(root)
    try:
        c: Container | None = ContainerStore(root).get(name)
    except NotFound:
        c = None
    if c is not None:
        write_layer(diff_trees(None, snap.path(c.snapshot)), sink, compression="none")
        return
    image = resolve_image(store, name)
    with store.content.lock(shared=True):
        chain = snapshots.unpack_image(snap, image)
    if chain is None:
        write_layer([], sink, compression="none")
        return
    view = snap.view(chain)
    try:
        write_layer(diff_trees(None, view), sink, compression="none")
    finally:
        snap.release(chain)


@dataclass(frozen=True)
class ContainerUsage:
    """A container and the bytes its writable layer adds (Docker's SizeRw)."""

    container: Container
    size: int

    @property
    def active(self) -> bool:
        return self.container.running


def container_usage(root: Path) -> list[ContainerUsage]:
    """Every container with the size of what it changed: the non-directory entries of its
    snapshot's changes, as Docker's naive diff sizes them (``system df``)."""
    found = ContainerStore(root).list()
    if not found:
        return []
    from wharfie import snapshots

    snap = snapshots.for_root(root)
    out = []
    for c in found:
        try:
            changes = snap.changes(c.snapshot)
        except NotFound:  # removed with --rm, or never prepared
            changes = []
        sizes = (os.lstat(ch.source) for ch in changes if ch.source)
        out.append(ContainerUsage(c, sum(st.st_size for st in sizes
                                         if not stat.S_ISDIR(st.st_mode))))
    return out
