"""Push: an image or index from the local store to a registry, uploading only what it lacks.

Blobs the registry already holds in another repository are mounted, using the provenance
that pulls and pushes record; ``wharfie push`` and ``wharfie copy wharfie:… docker://…`` both
come here. Uncompressed layers (``docker save`` archives load that way) go up gzip-compressed,
as docker pushes them, under a manifest rewritten to name the compressed blobs; the diffID ->
compressed digest mapping is kept so that later pushes name, find and mount the same blobs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from wharfie.errors import InvalidInput, NotFound
from wharfie.images.provenance import CompressedLayers
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.image import BlobSource, BytesImage, Image, ImageIndex, Layer
from wharfie.oci.manifest import Descriptor
from wharfie.oci.reference import Reference
from wharfie.transports.base import Progress, copy_image, copy_index
from wharfie.transports.kinds.docker import record_provenance, registry_destination

COMPRESSION_FORMATS = ("gzip", "zstd", "none")

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore
    from wharfie.transports.registry.client import RegistryOptions


@dataclass(frozen=True)
class PushResult:
    """The pushed manifest's (or index's) digest and its size in bytes."""

    digest: Digest
    size: int


def push_image(images: ImageStore, ref: Reference, options: RegistryOptions, *,
               dest: Reference | None = None, progress: Progress | None = None,
               mounted: dict[Digest, str] | None = None, compression: str = "gzip",
               force_compression: bool = False,
               layer_ids: dict[Digest, Digest] | None = None) -> PushResult:
    """Push the local image ``ref`` to ``dest`` (``ref`` itself by default).

    ``mounted``, if given, is filled with digest -> repository for every blob the registry
    linked instead of receiving, before that blob's "skip" progress event; ``layer_ids``
    with digest -> diffID of every layer pushed. Uncompressed layers go up compressed with
    ``compression`` (gzip, zstd, or none to send them as they are); ``force_compression``
    recompresses layers compressed otherwise too (podman's flags).

    >>> push_image(ImageStore(root), parse_reference("localhost:5000/app:1"), RegistryOptions())
    """
    try:
        local = images.open_target(str(ref))
    except NotFound:
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}") \
            from None
    return push_target(images, local, dest or ref, options, progress=progress, mounted=mounted,
                       compression=compression, force_compression=force_compression,
                       layer_ids=layer_ids)


def push_target(images: ImageStore, local: Image | ImageIndex, dest: Reference,
                options: RegistryOptions, *, progress: Progress | None = None,
                mounted: dict[Digest, str] | None = None, compression: str = "gzip",
                force_compression: bool = False,
                layer_ids: dict[Digest, Digest] | None = None) -> PushResult:
    """Push an already opened local image or index to ``dest``, mounting what provenance
    names and recording the blobs as held by ``dest``'s repository."""
    if compression not in COMPRESSION_FORMATS:
        raise InvalidInput(f"unknown compression format {compression!r}: want "
                           + ", ".join(COMPRESSION_FORMATS))
    dst = registry_destination(images, dest, options)
    if mounted is not None:
        dst.mounted = mounted
    kw = {"progress": progress} if progress else {}
    layers = LayerCompression(CompressedLayers(images.root), Path(images.root), compression,
                              force=force_compression, layer_ids=layer_ids)
    try:
        target = layers.convert(local)
        if isinstance(target, ImageIndex):
            digest = copy_index(target, dst, dest, jobs=options.jobs, **kw)
            raw, _ = target.index_bytes()
        else:
            digest = copy_image(target, dst, dest, jobs=options.jobs, **kw)
            raw, _ = target.manifest_bytes()
    finally:
        layers.close()
    record_provenance(images, dest, target)
    images.record_repo_digest(dest.with_digest(digest), local.digest)
    return PushResult(digest, len(raw))


class LayerCompression:
    """Rewrites images for a push so that their layers are compressed with ``fmt``.

    A layer is recompressed when it is uncompressed (or, with ``force``, compressed
    otherwise). A diffID compressed before is named by the digest recorded then, and only
    compressed again if the registry turns out not to have it (``_Recompressed``)."""

    def __init__(self, mapping: CompressedLayers, root: Path, fmt: str, *,
                 force: bool = False, layer_ids: dict[Digest, Digest] | None = None) -> None:
        self.mapping, self.root, self.fmt, self.force = mapping, root, fmt, force
        self.layer_ids = layer_ids if layer_ids is not None else {}
        self._scratch: Path | None = None

    def scratch(self) -> Path:
        """A private directory in the store's root for recompressed layers (made on first
        use; ``close`` removes it)."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(dir=self.root, prefix="push-"))
        return self._scratch

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def convert(self, target: Image | ImageIndex) -> Image | ImageIndex:
        if isinstance(target, ImageIndex):
            return self._index(target)
        return self._image(target)

    def _wanted(self, layer: Layer) -> bool:
        if layer.media_type not in mt.LAYERS or layer.media_type in (
                mt.OCI_LAYER_NONDIST, mt.OCI_LAYER_NONDIST_GZIP, mt.OCI_LAYER_NONDIST_ZSTD,
                mt.DOCKER_LAYER_FOREIGN) or layer.diff_id is None:
            return False  # foreign layers are not pushed; artifacts are not tars
        have = mt.compression_of(layer.media_type)
        return have != self.fmt and (have == "none" or self.force)

    def _image(self, image: Image) -> Image:
        if image.manifest.config.media_type not in mt.CONFIGS:
            return image  # an artifact (signature, SBOM, database): its layers are not tars
        raw, media_type = image.manifest_bytes()
        layers = image.layers()
        for layer in layers:
            self.layer_ids[layer.digest] = layer.diff_id or layer.digest
        if not any(self._wanted(x) for x in layers):
            return image
        doc = json.loads(raw)
        docker = media_type == mt.DOCKER_MANIFEST and self.fmt != "zstd"
        if media_type == mt.DOCKER_MANIFEST and not docker:  # zstd needs the OCI types
            media_type = doc["mediaType"] = mt.OCI_MANIFEST
            doc["config"]["mediaType"] = mt.OCI_CONFIG
        source = _Recompressed(image, self)
        for entry, layer in zip(doc["layers"], layers, strict=True):
            fmt = self.fmt if self._wanted(layer) else mt.compression_of(layer.media_type)
            entry["mediaType"] = mt.layer_type(fmt, docker=docker)
            if fmt != mt.compression_of(layer.media_type):
                digest, size = source.plan(layer)
                entry["digest"], entry["size"] = str(digest), size
                self.layer_ids[digest] = layer.diff_id  # type: ignore[assignment]
        return BytesImage(json.dumps(doc, indent=3).encode(), media_type, source)

    def _index(self, index: ImageIndex) -> ImageIndex:
        children = {d.digest: self.convert(index.child(d)) for d in index.index.manifests}
        if all(child.digest == digest for digest, child in children.items()):
            return index
        raw, media_type = index.index_bytes()
        doc = json.loads(raw)
        for entry in doc["manifests"]:
            child = children[Digest(entry["digest"])]
            body, child_type = (child.index_bytes() if isinstance(child, ImageIndex)
                                else child.manifest_bytes())
            entry.update(mediaType=child_type, digest=str(Digest.of(body)), size=len(body))
        return _RewrittenIndex(json.dumps(doc, indent=3).encode(), media_type,
                               {c.digest: c for c in children.values()}, index)

    def recompress(self, layer: Layer, into: Path) -> tuple[Digest, int]:
        """Write ``layer`` compressed with ``self.fmt`` to ``into``: (digest, size)."""
        from wharfie.layers.compression import Compressor, open_layer  # only to recompress

        sink = _HashingFile(into)
        compressor = Compressor(sink, self.fmt)
        with open_layer(layer) as tar:
            while chunk := tar.read(1 << 20):
                compressor.write(chunk)
        compressor.finish()
        sink.close()
        return Digest(f"sha256:{sink.hasher.hexdigest()}"), sink.size


class _Recompressed(BlobSource):
    """An image's blobs, with some layers served from their recompressed files."""

    def __init__(self, image: Image, job: LayerCompression) -> None:
        self.image, self.job = image, job
        self.layers: dict[Digest, Layer] = {}  # recompressed digest -> the stored layer

    def plan(self, layer: Layer) -> tuple[Digest, int]:
        """The digest and size ``layer`` has once recompressed: recorded, else made now."""
        assert layer.diff_id is not None
        known = self.job.mapping.get(layer.diff_id, self.job.fmt)
        if known is None:
            known = self.job.recompress(layer, self._file(layer.diff_id))
            self.job.mapping.add(layer.diff_id, self.job.fmt, *known)
        self.layers[known[0]] = layer
        return known

    def _file(self, diff_id: Digest) -> Path:
        return self.job.scratch() / f"{self.job.fmt}-{diff_id.hex}"

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        layer = self.layers.get(desc.digest)
        if layer is None:
            return self.image.open_blob(desc)
        assert layer.diff_id is not None
        path = self._file(layer.diff_id)
        if not path.exists():  # recorded by an earlier push; the registry lacks it
            digest, _ = self.job.recompress(layer, path)
            if digest != desc.digest:
                path.unlink()
                raise InvalidInput(f"layer {layer.diff_id} compresses to {digest} now, not "
                                   f"to {desc.digest} as before: push with "
                                   "--compression-format none, or remove "
                                   f"{self.job.mapping.dir}")
        return open(path, "rb")


class _RewrittenIndex(ImageIndex):
    """An index whose children were rewritten for a push."""

    def __init__(self, raw: bytes, media_type: str, children: dict[Digest, Image | ImageIndex],
                 original: ImageIndex) -> None:
        self._raw, self._media_type = raw, media_type
        self._children, self._original = children, original

    def index_bytes(self) -> tuple[bytes, str]:
        return self._raw, self._media_type

    def child(self, desc: Descriptor) -> Image | ImageIndex:
        return self._children[desc.digest]

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self._original.open_blob(desc)


class _HashingFile:
    """A file sink that hashes and counts what is written to it."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.hasher, self.size = hashlib.sha256(), 0

    def write(self, data: bytes | memoryview) -> int:
        self.hasher.update(data)
        self.size += len(data)
        return self.file.write(data)

    def close(self) -> None:
        self.file.close()
