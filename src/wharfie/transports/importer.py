"""``docker import``: a root filesystem tarball becomes a one-layer image.

The tarball (plain or compressed) is read once: its bytes are hashed as they are
(the diffID), gzip-compressed and hashed again (the blob digest) on their way into
the content store, while ``tarfile`` walks the same bytes to prove it is a tar
with no entry escaping the root. A tarball with absolute names (``/etc/passwd``,
as ``tar -P`` writes) is then written again from the stored copy with the leading
``/`` dropped, as Docker reads such names, so the image unpacks.
"""

from __future__ import annotations

import hashlib
import tarfile
from typing import TYPE_CHECKING, BinaryIO

from wharfie.content.blobstore import BlobWriter, ContentStore
from wharfie.errors import InvalidInput
from wharfie.fs.inroot import clean_name
from wharfie.layers.compression import (
    Compressor,
    auto_decompress,
    corrupt_input_as,
    decompress_stream,
)
from wharfie.layers.tarformat import END_OF_ARCHIVE, padding
from wharfie.oci import mediatypes as mt
from wharfie.oci import timestamps
from wharfie.oci.digest import Digest
from wharfie.oci.image import BytesImage, Image
from wharfie.oci.manifest import Descriptor
from wharfie.oci.mutate import write_image
from wharfie.oci.platform import Platform, host_platform
from wharfie.oci.reference import Reference
from wharfie.transports.archive import ContentBlobs
from wharfie.transports.tarstream import (
    CHUNK,
    iter_members,
    refuse_sparse,
)

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore

CHANGE_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER",
                       "VOLUME", "WORKDIR")


class _Tee:
    """A read-through stream: every byte read is hashed and compressed into the store."""

    def __init__(self, src: BinaryIO | None, compressor: Compressor) -> None:
        self._src, self._compressor = src, compressor
        self.diff = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        assert self._src is not None
        data = self._src.read(n)
        self.feed(data)
        return data

    def feed(self, data: bytes) -> None:
        """Hash and compress ``data`` as layer bytes."""
        if data:
            self.diff.update(data)
            self._compressor.write(data)
            self.size += len(data)

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


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
        diff_id, absolute = _store_as_is(auto_decompress(stream), blob)
        if absolute:
            with content.writer() as fixed:
                diff_id = _store_relative(blob, fixed)
                layer_digest, layer_size = fixed.commit(), fixed.size
        else:
            layer_digest, layer_size = blob.commit(), blob.size
    plat = (platform or host_platform())
    created = timestamps.created(timestamps.source_date_epoch())
    comment = message or f"Imported from {source}"
    doc: dict = {"architecture": plat.architecture, "comment": comment, "config": config,
                 "created": created,
                 "history": [{"created": created, "comment": comment}],
                 "os": plat.os, "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    if plat.variant:
        doc["variant"] = plat.variant
    manifest = write_image(content, doc, [Descriptor(mt.OCI_LAYER_GZIP, layer_digest,
                                                     layer_size)])
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


def _store_as_is(src: BinaryIO, blob: BlobWriter) -> tuple[Digest, bool]:
    """Gzip the tar ``src`` into ``blob`` unchanged, checking its entries on the way.

    Returns its diffID, and whether an entry name or hardlink target is absolute.
    """
    compressor = Compressor(blob, "gzip")  # type: ignore[arg-type]
    tee = _Tee(src, compressor)
    absolute = False
    with corrupt_input_as("invalid root filesystem tarball"):
        with tarfile.open(fileobj=tee, mode="r|", bufsize=CHUNK) as tf:
            for member in iter_members(tf):
                absolute |= _check_member(member)
        tee.drain()
    if tee.size == 0:
        raise InvalidInput("invalid root filesystem tarball: empty input")
    compressor.finish()
    return Digest.from_hasher(tee.diff), absolute


def _store_relative(stored: BlobWriter, blob: BlobWriter) -> Digest:
    """Write the tar ``stored`` holds (gzip, not yet committed) into ``blob`` with every
    name and hardlink target relative to the root; returns the new tar's diffID."""
    compressor = Compressor(blob, "gzip")  # type: ignore[arg-type]
    out = _Tee(None, compressor)
    stored.flush()
    with open(stored.path, "rb") as f, corrupt_input_as("invalid root filesystem tarball"), \
            tarfile.open(fileobj=decompress_stream(f, "gzip"), mode="r|", bufsize=CHUNK) as tf:
        for member in iter_members(tf):
            refuse_sparse(member, "invalid root filesystem tarball")
            _make_relative(member)
            out.feed(member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
            if member.isreg() or member.type not in tarfile.SUPPORTED_TYPES:
                data = tf.extractfile(member)
                assert data is not None
                while chunk := data.read(CHUNK):
                    out.feed(chunk)
                out.feed(padding(member.size))
    out.feed(END_OF_ARCHIVE)
    compressor.finish()
    return Digest.from_hasher(out.diff)


def _make_relative(member: tarfile.TarInfo) -> None:
    """Drop the leading ``/`` of the name (and of a hardlink's target), as Docker does
    when it unpacks; the PAX records that held the old ones go with them."""
    member.name = member.name.lstrip("/") or "."
    member.pax_headers.pop("path", None)
    if member.islnk():
        member.linkname = member.linkname.lstrip("/")
        member.pax_headers.pop("linkpath", None)


def _check_member(member: tarfile.TarInfo) -> bool:
    """Refuse an entry (or hardlink target) that escapes the root; True if it is absolute."""
    names = [member.name, member.linkname] if member.islnk() else [member.name]
    for name in names:
        if clean_name(name) is None:
            raise InvalidInput(f"invalid root filesystem tarball: entry {member.name!r} "
                               "escapes the root")
    return any(name.startswith("/") for name in names)
