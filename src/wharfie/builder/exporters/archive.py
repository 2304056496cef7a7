"""``type=docker`` / ``type=oci``: one archive, both a docker-archive and an OCI layout."""

from __future__ import annotations

from pathlib import Path

from wharfie.builder.exporters.sink import sink
from wharfie.images.imagestore import ImageStore
from wharfie.oci.reference import Reference
from wharfie.transports.archive import write_archive


def export(dest: str | None, root: Path, store: ImageStore, manifest_digest: str,
           tags: list[Reference]) -> None:
    """The image and its tags as a ``docker save`` archive at ``dest``."""
    assert dest is not None
    with sink(dest) as f:
        write_archive(f, [(store.get(manifest_digest), tags)])
