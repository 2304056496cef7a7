"""``docker import``: a root filesystem tarball becomes a one-layer image.

The tarball (plain or compressed) is read once: its bytes are hashed as they are
(the diffID), gzip-compressed and hashed again (the blob digest) on their way into
the content store, while ``tarfile`` walks the same bytes to prove it is a tar
with no entry escaping the root.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tarfile
from datetime import UTC, datetime
from typing import TYPE_CHECKING, BinaryIO

from wharfie.content.store import ContentStore
from wharfie.errors import InvalidInput
from wharfie.layers.compression import Compressor, auto_decompress
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.image import BytesImage, Image
from wharfie.oci.manifest import Descriptor, ImageConfig, Manifest
from wharfie.oci.platform import Platform, host_platform
from wharfie.oci.reference import Reference
from wharfie.transports.archive import ContentBlobs
from wharfie.transports.tarstream import DECODE_ERRORS, describe, is_corrupt_input

if TYPE_CHECKING:
    from wharfie.images.store import ImageStore

CHANGE_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER",
                       "VOLUME", "WORKDIR")


class _Tee:
    """A read-through stream: every byte read is hashed and compressed into the store."""

    def __init__(self, src: BinaryIO, compressor: Compressor) -> None:
        self._src, self._compressor = src, compressor
        self.diff = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n)
        if data:
            self.diff.update(data)
            self._compressor.write(data)
            self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def created_now() -> str:
    """RFC 3339 UTC, from ``SOURCE_DATE_EPOCH`` when set (reproducible imports)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            when = datetime.fromtimestamp(int(epoch), UTC)
        except ValueError:
            raise InvalidInput(f"invalid SOURCE_DATE_EPOCH {epoch!r}") from None
    else:
        when = datetime.now(UTC)
    return when.isoformat().replace("+00:00", "Z")


def import_rootfs(stream: BinaryIO, content: ContentStore, *, config: dict | None = None,
                  message: str | None = None, platform: Platform | None = None,
                  source: str = "-") -> Image:
    """Store ``stream`` as a gzip layer plus config and manifest blobs; return the image.

    ``config`` is the image's ``config`` object (``build.changes.apply_changes`` makes one
    from ``--change`` lines). Nothing is named: the caller tags it. Docker records
    ``Imported from -`` when the tarball came through the client, which is always, for a
    local file.
    """
    config = dict(config or {})
    with content.writer() as blob:
        compressor = Compressor(blob, "gzip")  # type: ignore[arg-type]
        tee = _Tee(auto_decompress(stream), compressor)
        try:
            with tarfile.open(fileobj=tee, mode="r|", bufsize=1 << 20) as tf:
                for member in tf:
                    _check_member(member)
            tee.drain()
        except DECODE_ERRORS as e:
            if not is_corrupt_input(e):
                raise
            raise InvalidInput(f"invalid root filesystem tarball: {describe(e)}") from None
        if tee.size == 0:
            raise InvalidInput("invalid root filesystem tarball: empty input")
        compressor.finish()
        layer_digest = blob.commit()
        layer_size = blob.size
    diff_id = Digest(f"sha256:{tee.diff.hexdigest()}")
    plat = (platform or host_platform())
    created = created_now()
    comment = message or f"Imported from {source}"
    doc: dict = {"architecture": plat.architecture, "comment": comment, "config": config,
                 "created": created,
                 "history": [{"created": created, "comment": comment}],
                 "os": plat.os, "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    if plat.variant:
        doc["variant"] = plat.variant
    cfg = ImageConfig.from_doc(doc)
    content.put(cfg.raw)
    manifest = Manifest.build(
        Descriptor(mt.OCI_CONFIG, cfg.digest, len(cfg.raw)),
        [Descriptor(mt.OCI_LAYER_GZIP, layer_digest, layer_size)])
    content.put(manifest.raw)
    return BytesImage(manifest.raw, manifest.media_type, ContentBlobs(content))


def import_image(stream: BinaryIO, store: ImageStore, ref: Reference | None = None, *,
                 config: dict | None = None, message: str | None = None,
                 platform: Platform | None = None) -> Image:
    """``docker import``: import into the image store, then name it ``ref`` if given.

    The shared store lock spans ingest to record, so garbage collection cannot take the
    new layer before the manifest that needs it exists.
    """
    with store.content.lock(shared=True):
        image = import_rootfs(stream, store.content, config=config, message=message,
                              platform=platform)
        digest = store.put_image(image)
        if ref is not None:
            store.tag(ref, digest)
    return image


def _check_member(member: tarfile.TarInfo) -> None:
    norm = posixpath.normpath(member.name.lstrip("/"))
    if norm == ".." or norm.startswith("../"):
        raise InvalidInput(f"invalid root filesystem tarball: entry {member.name!r} "
                           "escapes the root")
