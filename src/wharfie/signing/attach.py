"""cosign's signature layout: an OCI manifest tagged ``sha256-<hex>.sig`` in the image's
repository, one ``application/vnd.dev.cosign.simplesigning.v1+json`` layer per signature
(the payload), its base64 signature in the layer annotation
``dev.cosignproject.cosign/signature``. skopeo and podman read it with
``use-sigstore-attachments: true``.

The same manifest is kept in the local store under the same tag, so a local image can be
signed before ``push``, which carries it along.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wharfie.errors import NotFound
from wharfie.oci import mediatypes as mt
from wharfie.oci.artifact import MemoryBlobs
from wharfie.oci.digest import Digest
from wharfie.oci.image import BytesImage, Image, ImageIndex
from wharfie.oci.reference import Reference

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class Attached:
    """One signature as stored: the payload bytes and the raw signature bytes."""

    payload: bytes
    signature: bytes


def signature_tag(digest: Digest) -> str:
    """cosign's tag for ``digest``'s signatures: ``sha256-<hex>.sig``."""
    return f"{digest.algorithm}-{digest.hex}.sig"


def signature_ref(ref: Reference, digest: Digest) -> Reference:
    """Where the signatures of ``ref``'s repository's image ``digest`` live."""
    return Reference(ref.domain, ref.path, signature_tag(digest))


def read_attached(image: Image) -> list[Attached]:
    """The signatures a ``.sig`` manifest holds (layers of other types are skipped)."""
    found = []
    for desc in image.manifest.layers:
        encoded = (desc.annotations or {}).get(SIGNATURE_ANNOTATION)
        if desc.media_type != SIMPLESIGNING or encoded is None:
            continue
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        found.append(Attached(image.read_blob(desc), signature))
    return found


def signature_image(signatures: Iterable[Attached]) -> Image:
    """The ``.sig`` manifest cosign writes for ``signatures`` (duplicates dropped), in memory."""
    unique = list(dict.fromkeys(signatures))
    blobs = {Digest.of(s.payload): s.payload for s in unique}
    layers = [{"mediaType": SIMPLESIGNING, "size": len(s.payload),
               "digest": str(Digest.of(s.payload)),
               "annotations": {SIGNATURE_ANNOTATION: base64.b64encode(s.signature).decode()}}
              for s in unique]
    config = json.dumps({
        "architecture": "", "created": ZERO_TIME, "history": [{"created": ZERO_TIME}],
        "os": "", "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in layers]},
        "config": {}}, separators=(",", ":")).encode()
    blobs[Digest.of(config)] = config
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "size": len(config),
                   "digest": str(Digest.of(config))},
        "layers": layers}, separators=(",", ":")).encode()
    return BytesImage(manifest, mt.OCI_MANIFEST, MemoryBlobs(blobs))


def local_signatures(images: ImageStore, ref: Reference, digest: Digest) -> list[Attached]:
    """The signatures the store keeps for ``ref``'s repository's ``digest``."""
    return open_signatures(lambda: images.open_target(str(signature_ref(ref, digest))))


def open_signatures(open_target) -> list[Attached]:
    """The signatures at a ``.sig`` name, via ``open_target(name)``; none if it is missing."""
    try:
        image = open_target()
    except NotFound:
        return []
    if isinstance(image, ImageIndex):
        return []
    return read_attached(image)
