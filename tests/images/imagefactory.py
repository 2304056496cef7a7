"""Build small test images straight into a store: layer tars, a config, a manifest.

The import command belongs to another team; tests here need images without it.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import BinaryIO

from wharfie.images.imagestore import ImageStore
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.image import BlobSource, BytesImage
from wharfie.oci.manifest import Descriptor, Manifest, canonical_json
from wharfie.oci.reference import parse_reference


def layer_tar(files: dict[str, bytes]) -> bytes:
    """A deterministic uncompressed layer holding ``files``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class _Blobs(BlobSource):
    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return io.BytesIO(self.blobs[desc.digest])


def build_image(layers: list[bytes], *, created: str = "2024-01-01T00:00:00Z",
                labels: dict[str, str] | None = None, cmd: list[str] | None = None,
                history: list[dict] | None = None, docker: bool = False) -> BytesImage:
    """An in-memory image of uncompressed ``layers`` (bytes), ready for ``put_image``."""
    blobs: dict[str, bytes] = {}
    descs = []
    for data in layers:
        d = Digest.of(data)
        blobs[d] = data
        descs.append(Descriptor(mt.DOCKER_LAYER if docker else mt.OCI_LAYER, d, len(data)))
    if history is None:
        history = [{"created": created, "created_by": f"/bin/sh -c #(nop) ADD layer {i}"}
                   for i in range(len(layers))]
    config = {"architecture": "amd64", "os": "linux", "created": created,
              "config": {"Cmd": cmd or ["sh"], "Env": ["PATH=/bin"], "Labels": labels},
              "rootfs": {"type": "layers", "diff_ids": [str(d.digest) for d in descs]},
              "history": history}
    raw = canonical_json(config)
    cdesc = Descriptor(mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG, Digest.of(raw), len(raw))
    blobs[cdesc.digest] = raw
    m = Manifest.build(cdesc, descs, media_type=mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST)
    return BytesImage(m.raw, m.media_type, _Blobs(blobs))


def add_image(store: ImageStore, layers: list[bytes], tags: tuple[str, ...] = (),
              **kwargs) -> Digest:
    """Build an image, put it in ``store``, tag it; returns the manifest digest."""
    digest = store.put_image(build_image(layers, **kwargs))
    for t in tags:
        store.tag(parse_reference(t), digest)
    return digest


def busybox_layer(rootfs_tar: Path) -> bytes:
    return rootfs_tar.read_bytes()


def config_json(store: ImageStore, manifest_digest: str) -> dict:
    m = json.loads(store.content.read(manifest_digest))
    return json.loads(store.content.read(m["config"]["digest"]))
