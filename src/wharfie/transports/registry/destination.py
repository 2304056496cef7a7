"""A registry as a destination: HEAD before upload, cross-repository mounts, then manifests."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from wharfie.oci.digest import Digest
from wharfie.oci.image import BlobSource
from wharfie.oci.manifest import Descriptor
from wharfie.oci.reference import Reference
from wharfie.transports.base import ImageDestination
from wharfie.transports.registry.client import Registry
from wharfie.transports.registry.source import RegistryImage, RegistryIndex

# Repositories of the same registry that may hold a blob (e.g. where it was pulled from).
MountHints = Callable[[Digest], list[str]]


class RegistryDestination(ImageDestination):
    """Writes into ``registry/repo``. ``mounted`` records the blobs linked, not sent."""

    def __init__(self, registry: Registry, repo: str, *,
                 mount_hints: MountHints | None = None) -> None:
        self.registry, self.repo = registry, repo
        self.mount_hints = mount_hints
        self.mounted: dict[Digest, str] = {}
        self.existing: set[Digest] = set()

    def has_blob(self, desc: Descriptor) -> bool:
        if self.registry.blob_exists(self.repo, desc.digest):
            self.existing.add(desc.digest)
            return True
        return False

    def put_blob(self, desc: Descriptor, stream: BinaryIO, progress: Callable[[int], None]) -> None:
        self.registry.upload_blob(self.repo, desc, stream, progress)

    def mount_from(self, desc: Descriptor, source: BlobSource) -> bool:
        candidates: list[str] = []
        if (isinstance(source, RegistryImage | RegistryIndex)
                and source.registry.host == self.registry.host and source.repo != self.repo):
            candidates.append(source.repo)
        if self.mount_hints:
            candidates += [r for r in self.mount_hints(desc.digest) if r != self.repo]
        for repo in dict.fromkeys(candidates):
            location, mounted = self.registry.start_upload(self.repo, mount=(repo, desc.digest))
            if mounted:
                self.mounted[desc.digest] = repo
                return True
            if location:
                self.registry.cancel_upload(location, self.repo)
        return False

    def put_manifest(self, raw: bytes, media_type: str, ref: Reference | None) -> Digest:
        reference = ref.tag if ref is not None and ref.tag else Digest.of(raw)
        return self.registry.put_manifest(self.repo, reference, raw, media_type)
