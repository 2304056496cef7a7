"""``docker://REF``: an image in a registry.

Whichever way an image moves, the registry side remembers which repository holds each
blob (``BlobProvenance``, in the store's root) and mounts from there instead of uploading,
so ``pull``, ``push`` and ``copy`` leave the same trace and send the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from wharfie.errors import InvalidReference
from wharfie.images.provenance import BlobProvenance
from wharfie.oci.image import Image, ImageIndex
from wharfie.oci.manifest import Descriptor
from wharfie.oci.reference import Reference, parse_reference
from wharfie.transports.kinds.common import Endpoints, TransportName

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore
    from wharfie.transports.registry.client import RegistryOptions
    from wharfie.transports.registry.destination import RegistryDestination

NAME = "docker"
USAGE = "docker://REF"

# A registry gets uncompressed layers gzipped, as skopeo (its desired layer compression) and
# ``push`` send them.
COMPRESSES_LAYERS = True


def parse(rest: str, text: str) -> TransportName:
    if not rest.startswith("//"):
        raise InvalidReference(f"invalid transport name {text!r}: docker:// needs two slashes")
    parse_reference(rest[2:])  # fail early on a bad name
    return TransportName(NAME, rest[2:])


def format(name: TransportName) -> str:
    return f"docker://{name.location}"


def reference(name: TransportName) -> Reference:
    return parse_reference(name.location)


def dest_ref(dst: TransportName, src: TransportName) -> Reference | None:
    ref = parse_reference(dst.location)
    return None if ref.digest else ref


def open_source(name: TransportName, env: Endpoints) -> Image | ImageIndex:
    from wharfie.transports.registry.source import open_remote

    return open_remote(reference(name), env.options)


def open_destination(name: TransportName, env: Endpoints) -> RegistryDestination:
    return registry_destination(env.images(), reference(name), env.options)


def copied(name: TransportName, target: Image | ImageIndex, env: Endpoints) -> None:
    record_provenance(env.images(), reference(name), target)


def registry_destination(images: ImageStore, ref: Reference,
                         options: RegistryOptions) -> RegistryDestination:
    """``ref``'s repository, mounting blobs from the repositories the store saw them in."""
    from wharfie.transports.registry.destination import RegistryDestination

    provenance = BlobProvenance(images.root)
    return RegistryDestination(options.registry(ref.domain, push=True), ref.path,
                               mount_hints=lambda d: provenance.repos(ref.domain, d))


def record_provenance(images: ImageStore, ref: Reference, target: Image | ImageIndex) -> None:
    """Remember that ``ref``'s repository holds every blob of ``target`` (push mounts them
    from there)."""
    BlobProvenance(images.root).add(ref.domain, ref.path, [d.digest for d in _blobs(target)])


def _blobs(target: Image | ImageIndex) -> Iterator[Descriptor]:
    """Every blob of an image, or of each image under an index (recursively)."""
    if isinstance(target, ImageIndex):
        for desc in target.index.manifests:
            yield from _blobs(target.child(desc))
    else:
        yield from target.blobs()
