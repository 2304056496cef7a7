"""The generic copy: every transport is a source of ``Image`` and a destination for one.

``pull``, ``push``, ``save``, ``load`` and ``copy`` are all ``copy_image(src, dst)``,
which moves only the blobs the destination lacks, then the manifest bytes,
unchanged, so digests survive every hop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import BinaryIO

from wharfie.oci.digest import Digest
from wharfie.oci.image import BlobSource, Image, ImageIndex
from wharfie.oci.manifest import Descriptor
from wharfie.oci.reference import Reference
from wharfie.parallel import each

# progress(event, descriptor, nbytes): event is "skip", "start", "advance" or "done".
Progress = Callable[[str, Descriptor, int], None]


def _no_progress(event: str, desc: Descriptor, n: int) -> None:
    pass


class ImageDestination(ABC):
    """Somewhere images can be written: blobs first, manifests last."""

    @abstractmethod
    def has_blob(self, desc: Descriptor) -> bool:
        """True if the destination already holds this blob (then it is not sent)."""

    @abstractmethod
    def put_blob(self, desc: Descriptor, stream: BinaryIO, progress: Callable[[int], None]) -> None:
        """Store one blob, verifying its digest and size; call ``progress(n)`` as bytes go."""

    @abstractmethod
    def put_manifest(self, raw: bytes, media_type: str, ref: Reference | None) -> Digest:
        """Store a manifest or index by its exact bytes, tagged ``ref`` if given."""

    def mount_from(self, desc: Descriptor, source: BlobSource) -> bool:
        """Cheaply link a blob from ``source`` (cross-repository mount). False if not possible."""
        return False

    def commit(self) -> None:
        """Finish once the last manifest is in (an archive writes its tar here)."""
        return None


def copy_image(src: Image, dst: ImageDestination, ref: Reference | None = None, *,
               progress: Progress = _no_progress, jobs: int = 4) -> Digest:
    """Copy one image: missing blobs (in parallel), then its manifest. Returns its digest."""
    # Config first; duplicates once, by digest (descriptors hold dicts: not hashable).
    unique: dict[Digest, Descriptor] = {}
    for d in src.blobs():
        unique.setdefault(d.digest, d)
    blobs = list(unique.values())

    def move(desc: Descriptor) -> None:
        if dst.has_blob(desc) or dst.mount_from(desc, src):
            progress("skip", desc, desc.size)
            return
        progress("start", desc, 0)
        with src.open_blob(desc) as stream:
            dst.put_blob(desc, stream, lambda n: progress("advance", desc, n))
        progress("done", desc, desc.size)

    each(move, blobs, jobs)
    raw, media_type = src.manifest_bytes()
    return dst.put_manifest(raw, media_type, ref)


def copy_index(src: ImageIndex, dst: ImageDestination, ref: Reference | None = None, *,
               progress: Progress = _no_progress, jobs: int = 4) -> Digest:
    """Copy a whole index: every child (recursively), then the index bytes themselves."""
    for desc in src.index.manifests:
        child = src.child(desc)
        if isinstance(child, ImageIndex):
            copy_index(child, dst, None, progress=progress, jobs=jobs)
        else:
            copy_image(child, dst, None, progress=progress, jobs=jobs)
    raw, media_type = src.index_bytes()
    return dst.put_manifest(raw, media_type, ref)
