"""Images and indexes in a registry, read lazily: blobs are fetched only when opened."""

from __future__ import annotations

from typing import BinaryIO

from wharfie.oci import mediatypes as mt
from wharfie.oci.image import Image, ImageIndex
from wharfie.oci.manifest import Descriptor, parse_manifest_or_index
from wharfie.oci.reference import Reference
from wharfie.transports.registry.client import Registry, RegistryOptions


class RegistryImage(Image):
    """One image manifest in ``registry/repo``; its manifest is fetched on first use."""

    def __init__(self, registry: Registry, repo: str, reference: str,
                 manifest: tuple[bytes, str] | None = None) -> None:
        self.registry, self.repo, self.reference = registry, repo, reference
        self._manifest = manifest

    def manifest_bytes(self) -> tuple[bytes, str]:
        if self._manifest is None:
            raw, media_type, _ = self.registry.get_manifest(self.repo, self.reference)
            self._manifest = (raw, media_type)
        return self._manifest

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self.registry.open_blob(self.repo, desc)


class RegistryIndex(ImageIndex):
    """A manifest list or OCI index in ``registry/repo``; children resolve by digest."""

    def __init__(self, registry: Registry, repo: str, reference: str,
                 index: tuple[bytes, str] | None = None) -> None:
        self.registry, self.repo, self.reference = registry, repo, reference
        self._index = index

    def index_bytes(self) -> tuple[bytes, str]:
        if self._index is None:
            raw, media_type, _ = self.registry.get_manifest(self.repo, self.reference)
            self._index = (raw, media_type)
        return self._index

    def child(self, desc: Descriptor) -> Image | ImageIndex:
        if desc.media_type in mt.INDEXES:
            return RegistryIndex(self.registry, self.repo, desc.digest)
        return RegistryImage(self.registry, self.repo, desc.digest)

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self.registry.open_blob(self.repo, desc)


def open_remote(ref: Reference, options: RegistryOptions) -> RegistryImage | RegistryIndex:
    """Fetch ``ref``'s manifest once, and return the image or index it is."""
    registry = options.registry(ref.domain)
    raw, media_type, digest = registry.get_manifest(ref.path, ref.identifier)
    doc = parse_manifest_or_index(raw, media_type)
    if doc.media_type in mt.INDEXES or hasattr(doc, "manifests"):
        return RegistryIndex(registry, ref.path, digest, (raw, doc.media_type))
    return RegistryImage(registry, ref.path, digest, (raw, doc.media_type))
