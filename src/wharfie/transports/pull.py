"""Pull: one image from a registry into the local store, remembering where its blobs came from.

``wharfie pull``, ``wharfie copy docker://… wharfie:…`` and a build's ``FROM`` all come here,
so each records blob provenance (which ``push`` mounts from) and honours the same options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from wharfie.errors import NotFound
from wharfie.oci.digest import Digest
from wharfie.oci.image import Image, ImageIndex
from wharfie.oci.platform import Platform, host_platform
from wharfie.oci.reference import Reference
from wharfie.parallel import Later
from wharfie.transports.base import ImageDestination, Progress, copy_image
from wharfie.transports.kinds.docker import record_provenance
from wharfie.transports.registry.source import open_remote

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore, StoredImage
    from wharfie.oci.manifest import Descriptor
    from wharfie.transports.registry.client import RegistryOptions


@dataclass(frozen=True)
class PullResult:
    """What a pull stored, and whether the name moved.

    ``digest`` is the stored image's manifest; ``remote_digest`` the top-level digest the
    registry gave (an index's, for a multi-platform image).
    """

    digest: Digest
    image: StoredImage
    remote_digest: Digest
    updated: bool


def pull_image(images: ImageStore, ref: Reference, options: RegistryOptions, *,
               platform: Platform | None = None, progress: Progress | None = None,
               tag: Reference | None = None) -> PullResult:
    """Copy ``ref`` (the image for ``platform``, the host's by default) into ``images``.

    Only the blobs the store lacks are fetched. The image is tagged ``tag`` (``ref``'s tag by
    default) and gets the registry's digest (an index's, for a multi-platform image) as its
    repo digest, as Docker's RepoDigests.

    >>> pull_image(ImageStore(root), parse_reference("localhost:5000/app:1"), RegistryOptions())
    """
    remote = open_remote(ref, options)
    image = choose_platform(remote, platform, ref)
    if options.verify_pull is not None:  # before anything is stored: a refused image never is
        options.verify_pull(ref, [remote.digest, image.digest])
    kw = {"progress": progress} if progress else {}
    named = Later(_named, images, ref)  # the store opens (a new one is made) meanwhile
    store = images.destination(repo_digest=ref.with_digest(remote.digest))
    digest = copy_image(image, _TagsAfter(store, named), tag or _tag_ref(ref),
                        jobs=options.jobs, **kw)
    before = named.result()
    record_provenance(images, ref, image)
    return PullResult(digest, images.get(digest), remote.digest, before != digest)


def _named(images: ImageStore, ref: Reference) -> Digest | None:
    """The image ``ref`` names in the store now, if any."""
    try:
        return images.lookup(str(ref))
    except NotFound:
        return None


class _TagsAfter(ImageDestination):
    """The store, recording the manifest (and moving the tag) only once ``named``, what the
    tag named before the pull, is known: blobs download while the store is opened."""

    def __init__(self, store: ImageDestination, named: Later) -> None:
        self.store, self.named = store, named

    def has_blob(self, desc: Descriptor) -> bool:
        return self.store.has_blob(desc)

    def put_blob(self, desc: Descriptor, stream: BinaryIO,
                 progress: Callable[[int], None]) -> None:
        self.store.put_blob(desc, stream, progress)

    def put_manifest(self, raw: bytes, media_type: str, ref: Reference | None) -> Digest:
        self.named.result()  # the store's own errors are raised here
        return self.store.put_manifest(raw, media_type, ref)


def choose_platform(remote: Image | ImageIndex, platform: Platform | None,
                    ref: Reference) -> Image:
    """An index's image for ``platform`` (the host's by default); a single image must match
    a platform asked for explicitly."""
    wanted = platform or host_platform()
    if isinstance(remote, ImageIndex):
        return remote.image_for(wanted)
    if platform is None:
        return remote  # no check to make: the config is not fetched before the copy
    have = remote.config.platform
    if have.os and not wanted.matches(have):
        raise NotFound(f"image {ref.familiar()} is for {have}, not {wanted}")
    return remote


def _tag_ref(ref: Reference) -> Reference | None:
    """A tag names the pulled image; a digest pull is named by its repo digest alone."""
    return Reference(ref.domain, ref.path, ref.tag) if ref.tag else None
