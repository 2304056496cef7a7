"""The image store as a transports ``ImageDestination``: what pull and load write into.

images/ sits before transports/ in DESIGN's layering; this module only implements the
abstract interface of ``transports.base`` (which itself depends on oci/ alone), and is
imported lazily so that listing images never loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from wharfie.errors import NotFound
from wharfie.oci.digest import Digest
from wharfie.oci.image import BlobSource
from wharfie.oci.manifest import Descriptor
from wharfie.oci.reference import Reference
from wharfie.transports.base import ImageDestination

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore


class StoreDestination(ImageDestination):
    """Blobs go through verified ingest; ``put_manifest`` records (and tags, given a ref)."""

    def __init__(self, store: ImageStore) -> None:
        self.store = store

    def has_blob(self, desc: Descriptor) -> bool:
        try:
            return self.store.content.size(desc.digest) == desc.size
        except NotFound:
            return False

    def put_blob(self, desc: Descriptor, stream: BinaryIO, progress: Callable[[int], None]) -> None:
        self.store.content.ingest(stream, desc.digest, desc.size, progress)

    def put_manifest(self, raw: bytes, media_type: str, ref: Reference | None) -> Digest:
        return self.store.put_manifest(raw, media_type, ref)

    def mount_from(self, desc: Descriptor, source: BlobSource) -> bool:
        return False
