"""Made-up images for tests and benches, after go-containerregistry's ``random.Image``.

``image(size, layers)`` gives an image of ``layers`` random layers (real tars holding one file
of ``size`` random bytes each), a config and a manifest. Options give the layers' files or
bytes explicitly, the platform, compression, config fields and manifest fields. The image
lives in memory, or in a ``ContentStore`` when ``store=`` is given (layers are then streamed,
so a bench can make gigabytes); ``add_image`` records it in an ``ImageStore`` under tags, and
``write_layout`` writes it as an OCI image layout. ``push_order`` lists the blobs as a
registry push sends them.

Every image is real: diffIDs are the hashes of the uncompressed layers, digests and sizes are
the blobs', so the store, the registries and the transports accept it as they would a pulled
one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random as _random
import tarfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from wharfie.content.blobstore import ContentStore
from wharfie.images.imagestore import ImageStore
from wharfie.layers.compression import Compressor
from wharfie.oci import mediatypes as mt
from wharfie.oci import mutate
from wharfie.oci.digest import Digest
from wharfie.oci.empty import empty_config
from wharfie.oci.image import BlobSource, Image, ImageIndex
from wharfie.oci.manifest import Descriptor, Index, Manifest
from wharfie.oci.platform import parse_platform
from wharfie.oci.reference import parse_reference
from wharfie.transports.base import copy_image
from wharfie.transports.layout import LayoutDestination

CREATED = "2024-01-01T00:00:00Z"
_CHUNK = 1 << 20
_BLOCK = tarfile.BLOCKSIZE


def random_bytes(size: int, seed: int | None = None) -> bytes:
    """``size`` random bytes: the same for the same ``seed``, fresh ones without a seed."""
    return b"".join(_random_chunks(size, seed))


def _random_chunks(size: int, seed: int | None) -> Iterator[bytes]:
    rng = _random.Random(seed) if seed is not None else None
    while size > 0:
        n = min(size, _CHUNK)
        yield rng.randbytes(n) if rng else os.urandom(n)
        size -= n


def tar_layer(files: Mapping[str, bytes | str | None], *, mtime: int = 0) -> bytes:
    """A deterministic uncompressed layer: name -> file bytes, ``None`` for a directory, or a
    ``"->target"`` string for a symlink. Files are 0644, directories 0755, owned by root."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(data, str):
                info.type, info.linkname = tarfile.SYMTYPE, data.removeprefix("->")
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _random_tar(size: int, seed: int | None, name: str) -> Iterator[bytes]:
    """A tar holding one file of ``size`` random bytes, as chunks (never all in memory)."""
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o644
    yield info.tobuf(tarfile.PAX_FORMAT)
    yield from _random_chunks(size, seed)
    yield b"\0" * (-size % _BLOCK + 2 * _BLOCK)  # padding, then the two end blocks


class _Blobs(BlobSource):
    """Blobs held in memory."""

    def __init__(self) -> None:
        self.data: dict[Digest, bytes] = {}

    def put(self, data: bytes) -> Digest:
        digest = Digest.of(data)
        self.data[digest] = data
        return digest

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return io.BytesIO(self.data[desc.digest])


class _StoreBlobs(BlobSource):
    """Blobs read from a ContentStore."""

    def __init__(self, store: ContentStore) -> None:
        self.store = store

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self.store.open(desc.digest)


class RandomImage(Image):
    """An image ``image()`` made; its blobs are in memory or in a content store."""

    def __init__(self, manifest: Manifest, blobs: BlobSource) -> None:
        self._manifest, self._blobs = manifest, blobs

    def manifest_bytes(self) -> tuple[bytes, str]:
        return self._manifest.raw, self._manifest.media_type

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self._blobs.open_blob(desc)

    def push_order(self) -> list[tuple[Descriptor, bytes]]:
        """(descriptor, bytes) of every blob, config first then layers, as a push sends
        them (small images only: it reads every blob into memory)."""
        return [(d, self.read_blob(d)) for d in self.blobs()]


class _Sink:
    """Where one blob's bytes go while it is made: memory, then (past ``_CHUNK`` bytes, when
    there is a store) a content store's writer, so small blobs cost one ``put``."""

    def __init__(self, store: ContentStore | None) -> None:
        self._store, self._writer = store, None
        self._buf = io.BytesIO()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self.size += len(data)
        if self._writer is None and self._store is not None and self.size > _CHUNK:
            self._writer = self._store.writer()
            self._writer.write(self._buf.getbuffer())
            self._buf = io.BytesIO()
        (self._writer or self._buf).write(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self, memory: _Blobs) -> Digest:
        if self._writer is not None:
            return self._writer.commit()
        return (self._store or memory).put(self._buf.getvalue())


def _put_blob(chunks: Iterable[bytes], compression: str, store: ContentStore | None,
              memory: _Blobs) -> tuple[int, Digest, Digest]:
    """Write one blob (compressed as asked); returns (size, digest, digest of the input)."""
    sink = _Sink(store)
    comp = Compressor(sink, compression)
    plain = hashlib.sha256()
    for chunk in chunks:
        plain.update(chunk)
        comp.write(chunk)
    comp.finish()
    digest = sink.close(memory)
    return sink.size, digest, Digest.from_hasher(plain)


def image(size: int = 1024, layers: int = 1, *,
          files: Sequence[Mapping[str, bytes | str | None]] | None = None,
          contents: Sequence[bytes] | None = None,
          raw: bool = False,
          compression: str = "none",
          platform: str = "linux/amd64",
          created: str = CREATED,
          cmd: list[str] | None = None,
          labels: dict[str, str] | None = None,
          config: Mapping[str, Any] | None = None,
          history: list[dict] | None = None,
          docker: bool = False,
          manifest_fields: Mapping[str, Any] | None = None,
          seed: int | None = None,
          store: ContentStore | None = None) -> RandomImage:
    """An image of ``layers`` random tar layers of ``size`` random bytes each.

    The layers are, instead, one tar per mapping of ``files`` (see ``tar_layer``), or the
    given uncompressed ``contents``; with ``raw`` a random layer is exactly ``size`` random
    bytes and no tar (for transfer tests that count bytes). ``seed`` makes the random bytes
    repeatable (layer i uses ``seed + i``). ``compression`` is none, gzip or zstd; ``docker``
    picks Docker schema 2 media types. ``cmd`` (default ``["sh"]``), ``labels`` and ``config``
    go into the config's ``config`` object; ``manifest_fields`` (``subject``,
    ``artifactType``, ...) into the manifest. ``store`` keeps the blobs there, not in memory.

        img = image(1000, 2, seed=1)
        digest = add_image(images, "app:v1", size=10, files=[{"etc/motd": b"hi"}])
    """
    memory = _Blobs()
    if files is not None:
        chunked = [[tar_layer(f)] for f in files]
    elif contents is not None:
        chunked = [[c] for c in contents]
    else:
        seeds = [None if seed is None else seed + i for i in range(layers)]
        chunked = [_random_chunks(size, s) if raw else _random_tar(size, s, f"random{i}.bin")
                   for i, s in enumerate(seeds)]
    layer_type = mt.layer_type(compression, docker=docker)
    descs, diff_ids = [], []
    for chunks in chunked:
        n, digest, diff_id = _put_blob(chunks, compression, store, memory)
        descs.append(Descriptor(layer_type, digest, n))
        diff_ids.append(diff_id)
    os_name, arch, *variant = platform.split("/")  # as given: no normalising
    doc = empty_config(os_name, arch, variant[0] if variant else None, env=["PATH=/bin"])
    doc["created"] = created
    doc["config"].update({"Cmd": cmd or ["sh"], "Labels": labels, **(config or {})})
    doc = mutate.with_layers(doc, diff_ids, history if history is not None else [
        {"created": created, "created_by": f"/bin/sh -c #(nop) ADD layer {i}"}
        for i in range(len(descs))])
    manifest = mutate.write_image(  # config and manifest in memory first: they are small
        memory, doc, descs, config_media_type=mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG,
        media_type=mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST)
    if manifest_fields:
        extended = {**json.loads(manifest.raw), **manifest_fields}
        manifest = Manifest.parse(json.dumps(extended, indent=2).encode(), manifest.media_type)
    if store is None:
        return RandomImage(manifest, memory)
    store.put(memory.data[manifest.config.digest])
    store.put(manifest.raw)
    return RandomImage(manifest, _StoreBlobs(store))


class RandomIndex(ImageIndex):
    """A multi-platform index of random images, held in memory (go-containerregistry's
    ``random.Index``)."""

    def __init__(self, children: list[RandomImage], platforms: Sequence[str]) -> None:
        self.children = children
        self._index = Index.build([
            Descriptor(mt.OCI_MANIFEST, c.digest, len(c.manifest_bytes()[0]),
                       platform=parse_platform(p))
            for c, p in zip(children, platforms, strict=True)])

    def index_bytes(self) -> tuple[bytes, str]:
        return self._index.raw, mt.OCI_INDEX

    def child(self, desc: Descriptor) -> RandomImage:
        return next(c for c in self.children if c.digest == desc.digest)

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        raise FileNotFoundError(f"an index has no blobs of its own: {desc.digest}")


def index(platforms: Sequence[str] = ("linux/amd64", "linux/arm64"), size: int = 64, *,
          seed: int | None = None, **options: Any) -> RandomIndex:
    """One random image per platform, under an OCI index.

    >>> index(["linux/amd64", "linux/arm64"], seed=1).index.manifests[1].platform.architecture
    'arm64'
    """
    children = [image(size, platform=p, seed=None if seed is None else seed + n, **options)
                for n, p in enumerate(platforms)]
    return RandomIndex(children, platforms)


def add_image(images: ImageStore, *tags: str, **options: Any) -> Digest:
    """Make ``image(**options)`` straight into ``images`` and tag it; returns its digest."""
    made = image(store=images.content, **options)
    raw, media_type = made.manifest_bytes()
    return images.put_manifest(raw, media_type, tags=[parse_reference(t) for t in tags])


def write_layout(path: Path | str, made: Image, tag: str = "latest", *,
                 name: str = "image") -> Digest:
    """Write ``made`` into the OCI image layout at ``path`` (made if missing) as
    ``name:tag``; returns the manifest digest."""
    with LayoutDestination(path) as dst:
        return copy_image(made, dst, parse_reference(f"{name}:{tag}"))
