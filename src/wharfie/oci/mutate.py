"""The one way an image is made: a config and layers become config and manifest blobs.

After go-containerregistry's ``mutate``: a config document is edited (``with_layers``),
then ``write_image`` puts the config blob and the manifest that names it and the layers
into a content store, and ``commit_image`` also records the manifest in an image store.
The build, squash, ``import`` and the build cache's export all come here.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.manifest import Descriptor, Manifest, canonical_json

if TYPE_CHECKING:
    from wharfie.oci.reference import Reference


class BlobSink(Protocol):
    """Where blobs go: a content store, or an OCI layout's."""

    def put(self, data: bytes) -> Digest: ...


class ManifestSink(Protocol):
    """Where images are recorded: an image store."""

    @property
    def content(self) -> BlobSink: ...

    def put_manifest(self, raw: bytes, media_type: str, *,
                     tags: Sequence[Reference] = ()) -> Digest: ...


def with_layers(doc: dict, diff_ids: list[Digest], history: list[dict] | None = None) -> dict:
    """A copy of the config ``doc`` whose root filesystem is ``diff_ids`` (and whose history
    is ``history``, if given)."""
    out = copy.deepcopy(doc)
    out["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in diff_ids]}
    if history is not None:
        out["history"] = history
    return out


def write_image(blobs: BlobSink, config: dict | bytes, layers: list[Descriptor], *,
                config_media_type: str = mt.OCI_CONFIG,
                media_type: str = mt.OCI_MANIFEST) -> Manifest:
    """Put the config (a document, written as canonical JSON, or exact bytes), then the
    manifest naming it and ``layers`` (already stored), into ``blobs``.

    >>> manifest = write_image(store.content, empty_config("linux", "amd64"), [])
    """
    raw = canonical_json(config) if isinstance(config, dict) else config
    config_desc = Descriptor(config_media_type, blobs.put(raw), len(raw))
    manifest = Manifest.build(config_desc, layers, media_type=media_type)
    blobs.put(manifest.raw)
    return manifest


def commit_image(images: ManifestSink, config: dict | bytes, layers: list[Descriptor], *,
                 config_media_type: str = mt.OCI_CONFIG, media_type: str = mt.OCI_MANIFEST,
                 tags: Sequence[Reference] = ()) -> tuple[Digest, Digest]:
    """``write_image`` into ``images``' content store, then record the manifest there, with
    ``tags`` pointing at it; returns the manifest digest and the config digest (the image
    ID)."""
    manifest = write_image(images.content, config, layers, config_media_type=config_media_type,
                           media_type=media_type)
    digest = images.put_manifest(manifest.raw, manifest.media_type, tags=tags)
    return digest, manifest.config.digest
