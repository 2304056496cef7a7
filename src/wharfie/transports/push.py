"""Push: an image or index from the local store to a registry, uploading only what it lacks.

Blobs the registry already holds in another repository are mounted, using the provenance
that pulls and pushes record; ``wharfie push`` and ``wharfie copy wharfie:… docker://…`` both
come here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from wharfie.errors import NotFound
from wharfie.oci.digest import Digest
from wharfie.oci.image import Image, ImageIndex
from wharfie.oci.reference import Reference
from wharfie.transports.base import Progress, copy_image, copy_index
from wharfie.transports.kinds.docker import record_provenance, registry_destination

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore
    from wharfie.transports.registry.client import RegistryOptions


@dataclass(frozen=True)
class PushResult:
    """The pushed manifest's (or index's) digest and its size in bytes."""

    digest: Digest
    size: int


def push_image(images: ImageStore, ref: Reference, options: RegistryOptions, *,
               dest: Reference | None = None, progress: Progress | None = None,
               mounted: dict[Digest, str] | None = None) -> PushResult:
    """Push the local image ``ref`` to ``dest`` (``ref`` itself by default).

    ``mounted``, if given, is filled with digest -> repository for every blob the registry
    linked instead of receiving, before that blob's "skip" progress event.

    >>> push_image(ImageStore(root), parse_reference("localhost:5000/app:1"), RegistryOptions())
    """
    try:
        local = images.open_target(str(ref))
    except NotFound:
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}") \
            from None
    return push_target(images, local, dest or ref, options, progress=progress, mounted=mounted)


def push_target(images: ImageStore, local: Image | ImageIndex, dest: Reference,
                options: RegistryOptions, *, progress: Progress | None = None,
                mounted: dict[Digest, str] | None = None) -> PushResult:
    """Push an already opened local image or index to ``dest``, mounting what provenance
    names and recording the blobs as held by ``dest``'s repository."""
    dst = registry_destination(images, dest, options)
    if mounted is not None:
        dst.mounted = mounted
    kw = {"progress": progress} if progress else {}
    if isinstance(local, ImageIndex):
        digest = copy_index(local, dst, dest, jobs=options.jobs, **kw)
        raw, _ = local.index_bytes()
    else:
        digest = copy_image(local, dst, dest, jobs=options.jobs, **kw)
        raw, _ = local.manifest_bytes()
    record_provenance(images, dest, local)
    return PushResult(digest, len(raw))
