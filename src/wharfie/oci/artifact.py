"""Artifacts that travel as images: blobs held in memory or files (``MemoryBlobs``), and
the referrer manifest that attaches one payload to an image (``referrer_artifact``), as
SBOMs, Sigstore bundles and scan reports are attached."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import BinaryIO

from wharfie.errors import NotFound
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.image import BlobSource, BytesImage, Image
from wharfie.oci.manifest import Descriptor

TITLE = "org.opencontainers.image.title"


class MemoryBlobs(BlobSource):
    """Blobs by digest, as bytes or as files to read."""

    def __init__(self, blobs: dict[Digest, bytes | Path]) -> None:
        self.blobs = blobs

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        try:
            blob = self.blobs[desc.digest]
        except KeyError:
            raise NotFound(f"blob {desc.digest} is not part of this artifact") from None
        return io.BytesIO(blob) if isinstance(blob, bytes) else open(blob, "rb")  # noqa: SIM115


def referrer_artifact(data: bytes, artifact_type: str, subject: Descriptor, *,
                      title: str | None = None,
                      annotations: dict[str, str] | None = None) -> Image:
    """An artifact manifest carrying ``data`` (one layer of ``artifact_type``) for the
    image ``subject``. Its config is a minimal image config (as cosign's ``.sig``
    manifests have), so the local store, which holds images, can keep it and the image
    transports move it; ``artifactType`` says what it is."""
    layer = Descriptor(artifact_type, Digest.of(data), len(data),
                       {TITLE: title} if title else {})
    config = json.dumps({"architecture": "", "os": "", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [str(layer.digest)]}},
                        separators=(",", ":")).encode()
    config_desc = Descriptor(mt.OCI_CONFIG, Digest.of(config), len(config))
    manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "artifactType": artifact_type,
                "config": config_desc.to_dict(), "layers": [layer.to_dict()],
                "subject": Descriptor(subject.media_type, subject.digest,
                                      subject.size).to_dict()}
    if annotations:
        manifest["annotations"] = dict(annotations)
    raw = json.dumps(manifest, separators=(",", ":")).encode()
    return BytesImage(raw, mt.OCI_MANIFEST, MemoryBlobs({layer.digest: data,
                                                         config_desc.digest: config}))
