"""``type=tar``: the flattened root filesystem as one tar."""

from __future__ import annotations

from pathlib import Path

from wharfie.builder.exporters.sink import sink
from wharfie.containers.launch import export_rootfs
from wharfie.images.imagestore import ImageStore
from wharfie.oci.reference import Reference


def export(dest: str | None, root: Path, store: ImageStore, manifest_digest: str,
           tags: list[Reference]) -> None:
    """The image's root filesystem, as ``docker export`` writes it, at ``dest``."""
    assert dest is not None
    with sink(dest) as f:
        export_rootfs(root, store, manifest_digest, f)
