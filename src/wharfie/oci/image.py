"""The one abstraction everything speaks: ``Image``, ``Layer`` and ``ImageIndex``.

Like go-containerregistry's v1.Image, an image is an interface, not a place.
The local store, a registry, an OCI layout and a docker-archive all provide
one by implementing ``open_blob``; everything else (manifest, config, layers)
is derived lazily: nothing is read until asked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import BinaryIO

from wharfie.errors import InvalidInput
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.manifest import Descriptor, ImageConfig, Index, Manifest
from wharfie.oci.platform import Platform


class BlobSource(ABC):
    """Anything that can open a blob by descriptor."""

    @abstractmethod
    def open_blob(self, desc: Descriptor) -> BinaryIO:
        """A readable stream of the blob's exact (possibly compressed) bytes."""

    def read_blob(self, desc: Descriptor) -> bytes:
        with self.open_blob(desc) as f:
            data = f.read()
        if len(data) != desc.size or Digest.of(data, desc.digest.algorithm) != desc.digest:
            raise InvalidInput(f"blob {desc.digest} does not match its descriptor")
        return data


@dataclass(frozen=True)
class Layer:
    """One layer of an image: its blob descriptor, its diffID and where to read it."""

    descriptor: Descriptor
    diff_id: Digest | None
    source: BlobSource

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest

    @property
    def size(self) -> int:
        return self.descriptor.size

    @property
    def media_type(self) -> str:
        return self.descriptor.media_type

    def open(self) -> BinaryIO:
        """The compressed blob as stored."""
        return self.source.open_blob(self.descriptor)


class Image(BlobSource):
    """An image: a manifest, its config and its layers, read lazily from a source."""

    @abstractmethod
    def manifest_bytes(self) -> tuple[bytes, str]:
        """The manifest's exact bytes and media type."""

    @cached_property
    def manifest(self) -> Manifest:
        raw, media_type = self.manifest_bytes()
        return Manifest.parse(raw, media_type)

    @property
    def digest(self) -> Digest:
        return self.manifest.digest

    @cached_property
    def config(self) -> ImageConfig:
        return ImageConfig.parse(self.read_blob(self.manifest.config))

    @property
    def id(self) -> Digest:
        """Docker's image ID: the digest of the config."""
        return self.manifest.config.digest

    def layers(self) -> list[Layer]:
        descs = [d for d in self.manifest.layers]
        diff_ids: list[Digest | None] = list(self.config.diff_ids)
        if len(diff_ids) != len(descs):
            raise InvalidInput(
                f"image {self.digest}: {len(descs)} layers but {len(diff_ids)} diff_ids")
        return [Layer(d, i, self) for d, i in zip(descs, diff_ids, strict=True)]

    def blobs(self) -> Iterator[Descriptor]:
        """Every blob the image needs: config, then layers."""
        yield self.manifest.config
        yield from self.manifest.layers


class ImageIndex(BlobSource):
    """A multi-platform index, whose children are images (or further indexes)."""

    @abstractmethod
    def index_bytes(self) -> tuple[bytes, str]:
        """The index's exact bytes and media type."""

    @abstractmethod
    def child(self, desc: Descriptor) -> Image | ImageIndex:
        """The image or index a child descriptor points at."""

    @cached_property
    def index(self) -> Index:
        raw, media_type = self.index_bytes()
        return Index.parse(raw, media_type)

    @property
    def digest(self) -> Digest:
        return self.index.digest

    def image_for(self, wanted: Platform) -> Image:
        from wharfie.errors import NotFound

        desc = self.index.find(wanted)
        if desc is None:
            have = ", ".join(str(d.platform) for d in self.index.manifests if d.platform)
            raise NotFound(f"no image for platform {wanted} in index {self.digest}"
                           + (f" (has {have})" if have else ""))
        child = self.child(desc)
        assert isinstance(child, Image)
        return child


class BytesImage(Image):
    """An image whose manifest is in memory and whose blobs come from another source."""

    def __init__(self, manifest_raw: bytes, media_type: str, blobs: BlobSource) -> None:
        self._raw, self._media_type, self._blobs = manifest_raw, media_type, blobs

    def manifest_bytes(self) -> tuple[bytes, str]:
        return self._raw, self._media_type

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self._blobs.open_blob(desc)


def is_index_type(media_type: str) -> bool:
    return media_type in mt.INDEXES
