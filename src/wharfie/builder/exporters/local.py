"""``type=local``: the flattened root filesystem unpacked into a directory."""

from __future__ import annotations

import tempfile
from pathlib import Path

from wharfie.containers.launch import export_rootfs
from wharfie.images.imagestore import ImageStore
from wharfie.layers.apply import extract_tar
from wharfie.oci.reference import Reference


def export(dest: str | None, root: Path, store: ImageStore, manifest_digest: str,
           tags: list[Reference]) -> None:
    """The image's root filesystem, unpacked into ``dest`` (made if missing)."""
    assert dest is not None
    target = Path(dest)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=root) as spool:
        export_rootfs(root, store, manifest_digest, spool)
        spool.seek(0)
        extract_tar(spool, target)  # resolved inside dest, whatever the image holds
