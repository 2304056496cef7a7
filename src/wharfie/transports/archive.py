"""docker-archive and oci-archive tarballs: read any of them, write one that is both.

Read: ``docker save`` (old ``<id>/layer.tar`` layout and Docker 25+'s, which is also
an OCI layout), ``skopeo copy ... docker-archive:`` (``<diffid>.tar`` layers) and
``oci-archive:`` (a tar of an OCI layout), plain or compressed. A pipe or a
compressed tar is read once, as a stream: every file goes straight into the content
store while being hashed. A plain tar file has its headers read first, then its blobs
are copied in the kernel and hashed where they landed, several at once (hashing is
most of a load's work). Small metadata files stay in memory, and only when every blob
is in are the images assembled and checked. Blobs named by digest are verified
against their names; layers named otherwise against the config's diffIDs.

Write: what Docker 25+ writes: ``manifest.json`` and ``repositories`` for
``docker load``, plus ``oci-layout``, ``index.json`` and ``blobs/sha256/...``.
Blobs are copied as stored (layers stay compressed, as containerd-backed Docker
saves them; ``docker load`` decompresses), so manifest digests survive the trip.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from wharfie.content.blobstore import ContentStore, FileRegion
from wharfie.errors import (
    DigestMismatch,
    InvalidDigest,
    InvalidInput,
    InvalidReference,
    NotFound,
    WharfieError,
)
from wharfie.fs.output import open_output
from wharfie.layers.compression import (
    auto_decompress,
    corrupt_input_as,
    decompress_stream,
    sniff,
)
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.image import BlobSource, BytesImage, Image, ImageIndex, is_index_type
from wharfie.oci.manifest import Descriptor, ImageConfig, Index, Manifest
from wharfie.oci.platform import Platform, host_platform
from wharfie.oci.reference import Reference, parse_reference
from wharfie.parallel import each
from wharfie.transports.base import ImageDestination
from wharfie.transports.layout import (
    IMAGE_NAME,
    REF_NAME,
    descriptor_reference,
    open_descriptor,
)
from wharfie.transports.tarstream import (
    TarWriter,
    iter_members,
    link_target,
    refuse_sparse,
    safe_name,
)

if TYPE_CHECKING:
    from wharfie.images.imagestore import ImageStore, StoredImage

METADATA = {"manifest.json", "index.json", "oci-layout", "repositories"}
METADATA_MAX = 64 << 20
# Files and links an archive may name: its index is held until the stream ends. A docker
# save of 100 images of 50 layers names about 10 000; each costs some 300 bytes here.
MAX_ENTRIES = 100_000
# Blobs of a tar file ingested at once: more than the cores, as each one's fsync waits on
# the disk while the others hash.
INGEST_JOBS = 4
_BLOB_PATH = re.compile(r"^blobs/([a-z0-9]+)/([a-zA-Z0-9=_-]+)$")
_LEGACY_META = re.compile(r"^[0-9a-f]{64}/(json|VERSION)$")


class ContentBlobs(BlobSource):
    """A content store seen as a blob source."""

    def __init__(self, content: ContentStore) -> None:
        self.content = content

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self.content.open(desc.digest)


@dataclass
class ArchiveImage:
    """One image found in an archive, and the names the archive gives it."""

    image: Image
    tags: list[Reference] = field(default_factory=list)


@dataclass
class _File:
    digest: Digest
    size: int


class _Reader:
    """One pass over the tar stream, then assembly of the images it holds."""

    def __init__(self, content: ContentStore, progress: Callable[[int], None] | None,
                 platform: Platform | None = None, added: set[Digest] | None = None) -> None:
        self.content = content
        self.progress = progress
        self.platform = platform or host_platform()  # the image taken from an index
        self.meta: dict[str, bytes] = {}
        self.files: dict[str, _File] = {}
        self.links: dict[str, str] = {}
        self.pending: dict[str, tuple[int, int]] = {}  # blob name -> (offset, size) in a file
        self.blobs: set[Digest] = set()  # digests this archive carries
        # blobs the store did not have before this read
        self.added: set[Digest] = set() if added is None else added

    def scan(self, stream: BinaryIO) -> None:
        with corrupt_input_as("invalid archive"):
            fd = _plain_tar_fd(stream)
            if fd is None:
                with tarfile.open(fileobj=auto_decompress(stream), mode="r|",
                                  bufsize=1 << 20) as tf:
                    for member in iter_members(tf):
                        self._member(tf, member)
            else:
                with tarfile.open(fileobj=stream, mode="r:") as tf:
                    self._index_file(tf, fd)
                self._ingest_all(fd)
        for name, target in self.links.items():
            seen: set[str] = set()
            while target in self.links and target not in seen:
                seen.add(target)
                target = self.links[target]
            if target in self.files:
                self.files[name] = self.files[target]

    def _member(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        """A member of a stream, taken as it passes."""
        name = self._wanted(member)
        if name is None:
            return
        src = tf.extractfile(member)
        assert src is not None
        if name in METADATA:
            self.meta[name] = src.read()
        else:
            self._ingest(name, src, member.size)

    def _index_file(self, tf: tarfile.TarFile, fd: int) -> None:
        """A plain tar file's headers, its data skipped: metadata is read, blobs noted for
        ``_ingest_all``; a name given twice is the later entry's, as in the stream."""
        for member in iter_members(tf):
            name = self._wanted(member)
            if name is None:
                continue
            if name in METADATA:
                self.meta[name] = _pread_all(fd, member.offset_data, member.size)
            else:
                self.pending[name] = (member.offset_data, member.size)

    def _ingest_all(self, fd: int) -> None:
        """Every noted blob, straight from the file, several at once, biggest first.

        Hashing is most of a load's work and hashlib releases the GIL, so each core hashes
        a blob of its own (a stream must be read in order, one blob at a time). The first
        failure, or Ctrl-C, stops the others at their next read; all have ended (their
        blobs committed or their temp files removed) before it is raised.
        """
        jobs = sorted(self.pending.items(), key=lambda job: -job[1][1])
        stop = threading.Event()

        def advance(n: int) -> None:
            if stop.is_set():
                raise _Stopped
            if self.progress:
                self.progress(n)

        def ingest(job: tuple[str, tuple[int, int]]) -> None:
            name, (offset, size) = job
            self._ingest(name, FileRegion(fd, offset, size), size, advance)

        each(ingest, jobs, INGEST_JOBS, stop=stop)

    def _wanted(self, member: tarfile.TarInfo) -> str | None:
        """The checked name of a file to keep (metadata or blob); links are recorded here,
        anything else is skipped (None)."""
        name = safe_name(member.name)
        if member.issym() or member.islnk():
            self._count()
            self.links[name] = link_target(member, name)
            return None
        if not member.isreg() or _LEGACY_META.match(name):
            return None
        refuse_sparse(member, "invalid archive")
        self._count()
        if name in METADATA and member.size > METADATA_MAX:
            raise InvalidInput(f"invalid archive: {name} is too large ({member.size} bytes)")
        return name

    def _ingest(self, name: str, src: BinaryIO | FileRegion, size: int,
                progress: Callable[[int], None] | None = None) -> None:
        """One blob into the store, verified against its name when that is a digest."""
        m = _BLOB_PATH.match(name)
        expected = None
        if m:
            try:
                expected = Digest(f"{m.group(1)}:{m.group(2)}")
            except InvalidDigest:
                raise InvalidInput(f"invalid archive: {name} is not named by a digest") from None
        try:
            digest, size = self.content.ingest(src, expected, size, progress or self.progress,
                                               added=self.added)
        except DigestMismatch:
            raise DigestMismatch(
                f"invalid archive: {name} does not match its digest (corrupt archive)") from None
        self.files[name] = _File(digest, size)
        self.blobs.add(digest)

    def _count(self) -> None:
        if len(self.files) + len(self.links) + len(self.pending) >= MAX_ENTRIES:
            raise InvalidInput(f"invalid archive: more than {MAX_ENTRIES} files and links "
                               "(not a docker save, docker-archive or oci-archive tarball)")

    # -- assembly ---------------------------------------------------------------------------

    def images(self) -> list[ArchiveImage]:
        repositories = self._repositories()
        if "manifest.json" in self.meta:
            return self._docker_images()
        if "index.json" in self.meta:
            return self._oci_images()
        if repositories:
            raise InvalidInput("invalid archive: pre-Docker-1.10 archives (no manifest.json) "
                               "are not supported")
        raise InvalidInput("invalid archive: no manifest.json or index.json "
                           "(not a docker save, docker-archive or oci-archive tarball)")

    def _json(self, name: str):
        try:
            return json.loads(self.meta[name])
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidInput(f"invalid archive: {name} is not valid JSON ({e})") from None

    def _repositories(self) -> dict:
        """``repositories`` (legacy names): checked so a bad name is refused, not half-loaded."""
        if "repositories" not in self.meta:
            return {}
        doc = self._json("repositories")
        if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
            raise InvalidInput("invalid archive: repositories is not a map of names to tags")
        for name, tags in doc.items():
            for tag in tags:
                _parse_tag(f"{name}:{tag}", "repositories")
        return doc

    def _docker_images(self) -> list[ArchiveImage]:
        items = self._json("manifest.json")
        if not isinstance(items, list) or not items:
            raise InvalidInput("invalid archive: manifest.json is not a non-empty list")
        oci = self._oci_manifests() if "index.json" in self.meta else []
        out = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("Config"), str) \
                    or not isinstance(item.get("Layers") or [], list) \
                    or not isinstance(item.get("RepoTags") or [], list):
                raise InvalidInput("invalid archive: malformed entry in manifest.json")
            tags = [_parse_tag(t, "manifest.json") for t in item.get("RepoTags") or []]
            config_file = self._file(item["Config"])
            config = ImageConfig.parse(self.content.read(config_file.digest))
            layers = [self._file(p) for p in item.get("Layers") or []]
            diff_ids = config.diff_ids
            if len(diff_ids) != len(layers):
                raise InvalidInput(
                    f"invalid archive: image {config_file.digest} has {len(layers)} layers "
                    f"but its config lists {len(diff_ids)} diffIDs")
            image = self._matching_oci(oci, config_file, layers)
            if image is None:
                image = self._synthesize(config_file, layers, diff_ids, item["Layers"])
            out.append(ArchiveImage(image, tags))
        return out

    def _file(self, path: str) -> _File:
        name = safe_name(path) if isinstance(path, str) else None
        f = self.files.get(name) if name else None
        if f is None:
            raise NotFound(f"invalid archive: manifest.json names {path!r}, "
                           "which is not in the archive")
        return f

    def _matching_oci(self, oci: list[Manifest], config: _File,
                      layers: list[_File]) -> Image | None:
        """The OCI manifest (Docker 25+) describing the same config and layer blobs, if any."""
        for m in oci:
            if m.config.digest == config.digest and \
                    [d.digest for d in m.layers] == [f.digest for f in layers]:
                return BytesImage(m.raw, m.media_type, ContentBlobs(self.content))
        return None

    def _synthesize(self, config: _File, layers: list[_File], diff_ids: list[Digest],
                    paths: list[str]) -> Image:
        """A manifest for an archive that has none (docker-archive), after checking diffIDs.

        Field order is Go's (mediaType, size, digest), as skopeo writes it; media types tell
        the truth about each layer file's compression (sniffed, not assumed).
        """
        compressions = []
        for f, diff_id, path in zip(layers, diff_ids, paths, strict=True):
            with self.content.open(f.digest) as blob:
                compression = sniff(blob.read(6))
            compressions.append(compression)
            actual = f.digest if compression == "none" else self._uncompressed_digest(
                f.digest, compression)
            if actual != diff_id:
                raise DigestMismatch(f"invalid archive: layer {path} does not match the diffID "
                                     f"{diff_id} its image config names (got {actual})")
        docker = "zstd" not in compressions
        doc = {"schemaVersion": 2,
               "mediaType": mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST,
               "config": {"mediaType": mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG,
                          "size": config.size, "digest": config.digest},
               "layers": [{"mediaType": mt.layer_type(c, docker=docker), "size": f.size,
                           "digest": f.digest} for f, c in zip(layers, compressions, strict=True)]}
        raw = json.dumps(doc, separators=(",", ":")).encode()
        return BytesImage(raw, doc["mediaType"], ContentBlobs(self.content))

    def _uncompressed_digest(self, digest: Digest, compression: str) -> Digest:
        if compression not in ("gzip", "zstd"):
            raise InvalidInput(f"invalid archive: layer {digest} uses unsupported "
                               f"compression {compression}")
        h = hashlib.sha256()
        with self.content.open(digest) as blob, \
                corrupt_input_as(f"invalid archive: layer {digest} does not decompress"):
            stream = decompress_stream(blob, compression)
            while chunk := stream.read(1 << 20):
                h.update(chunk)
        return Digest.from_hasher(h)

    def _oci_manifests(self) -> list[Manifest]:
        out = []
        for entry in self._index_entries():
            found = self._entry_image(entry)
            if found is not None:
                out.append(found.manifest)
        return out

    def _index_entries(self) -> list[Descriptor]:
        layout = self.meta.get("oci-layout")
        if layout is not None:
            try:
                version = json.loads(layout).get("imageLayoutVersion", "")
            except (ValueError, AttributeError):
                raise InvalidInput("invalid archive: oci-layout is not valid JSON") from None
            if not str(version).startswith("1."):
                raise InvalidInput(f"invalid archive: unsupported OCI layout version {version!r}")
        return list(Index.parse(self.meta["index.json"]).manifests)

    def _entry_image(self, desc: Descriptor) -> Image | None:
        """The image an index.json entry leads to, checked to be wholly in the archive."""
        self._require(desc, "index.json")
        found = open_descriptor(desc, ContentBlobs(self.content))
        while isinstance(found, ImageIndex):  # the platform's image; others may be absent
            child = found.index.find(self.platform)
            if child is None:
                return None
            self._require(child, f"index {found.digest}")
            found = found.child(child)
        for blob in found.blobs():
            self._require(blob, f"manifest {found.digest}")
        return found

    def _require(self, desc: Descriptor, where: str) -> None:
        if desc.digest not in self.blobs:
            raise NotFound(f"invalid archive: {where} names blob {desc.digest}, "
                           "which is not in the archive")
        if self.content.size(desc.digest) != desc.size:
            raise DigestMismatch(f"invalid archive: blob {desc.digest} is "
                                 f"{self.content.size(desc.digest)} bytes, {where} says {desc.size}")

    def _oci_images(self) -> list[ArchiveImage]:
        out: list[ArchiveImage] = []
        by_digest: dict[Digest, ArchiveImage] = {}
        for entry in self._index_entries():
            image = self._entry_image(entry)
            if image is None:
                raise NotFound(f"invalid archive: index {entry.digest} has no image for "
                               f"{self.platform}")
            ref = descriptor_reference(entry)
            found = by_digest.get(image.digest)
            if found is None:
                found = by_digest[image.digest] = ArchiveImage(image, [])
                out.append(found)
            if ref is not None and ref not in found.tags:
                found.tags.append(ref)
        if not out:
            raise InvalidInput("invalid archive: index.json lists no images")
        return out


def _plain_tar_fd(stream: BinaryIO) -> int | None:
    """The descriptor of a plain (uncompressed) tar file, whose members can be read in place
    and in any order; None for a pipe or a compressed tar, which are read as a stream."""
    try:
        fd = stream.fileno()
        if stream.seekable() and os.fstat(fd).st_size > 0 and \
                sniff(os.pread(fd, 6, stream.tell())) == "none":
            return fd
    except (OSError, AttributeError, ValueError):
        pass  # not a plain file: stream it
    return None


def _pread_all(fd: int, offset: int, size: int) -> bytes:
    """``size`` bytes of a file from ``offset``; a short file is a truncated archive."""
    data = os.pread(fd, size, offset)
    while len(data) < size:
        more = os.pread(fd, size - len(data), offset + len(data))
        if not more:
            raise InvalidInput("invalid archive: unexpected end of data (truncated?)")
        data += more
    return data


class _Stopped(Exception):
    """Raised in a blob's reader when another blob of the same load has failed."""


def _parse_tag(text: str, where: str) -> Reference:
    if not isinstance(text, str):
        raise InvalidInput(f"invalid archive: non-string name {text!r} in {where}")
    try:
        ref = parse_reference(text)
    except InvalidReference as e:
        raise InvalidInput(f"invalid archive: invalid reference {text!r} in {where}: "
                           f"{e.message.removeprefix('invalid reference format: ')}") from None
    if ref.digest is not None:
        raise InvalidInput(f"invalid archive: {where} names {text!r} by digest, not by tag")
    return ref


def read_archive(stream: BinaryIO, content: ContentStore, *,
                 progress: Callable[[int], None] | None = None,
                 platform: Platform | None = None,
                 added: set[Digest] | None = None) -> list[ArchiveImage]:
    """Read a docker-archive or oci-archive stream; blobs land in ``content``, verified.

    Nothing is named here: the caller tags the returned images only once all is read
    and checked, so a bad archive leaves at most some verified, unreferenced blobs;
    ``added`` collects the digests of those the store did not have, for the caller to
    remove.
    """
    reader = _Reader(content, progress, platform, added)
    reader.scan(stream)
    return reader.images()


# -- writing -----------------------------------------------------------------------------------

OCI_LAYOUT_BYTES = b'{"imageLayoutVersion":"1.0.0"}'


def _blob_path(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex}"


def write_archive(out: BinaryIO, images: Iterable[tuple[Image, list[Reference]]], *,
                  progress: Callable[[int], None] | None = None) -> None:
    """Write one tar that is a docker-archive and an OCI layout, as Docker 25+ writes it.

    Metadata comes first, so a streaming reader knows what follows; every blob is
    re-hashed on its way out, so a corrupt store cannot produce a silently bad archive.
    ``repositories`` maps tags to the image ID (Docker put a v1 layer ID there, which no
    loader since Docker 1.10 reads when ``manifest.json`` is present).
    """
    entries: list[dict] = []
    items: list[dict] = []
    repositories: dict[str, dict[str, str]] = {}
    blobs: dict[Digest, tuple[Descriptor, BlobSource]] = {}
    for image, refs in images:
        raw, media_type = image.manifest_bytes()
        manifest = image.manifest
        config = image.config
        platform = config.platform if config.platform.os else None
        mdesc = Descriptor(manifest.media_type, Digest.of(raw), len(raw), {}, platform)
        tags = [r for r in refs if r.tag]
        for ref in tags:
            entries.append(Descriptor(mdesc.media_type, mdesc.digest, mdesc.size,
                                      {IMAGE_NAME: str(ref), REF_NAME: ref.tag or ""},
                                      platform).to_dict())
            repositories.setdefault(ref.familiar_name, {})[ref.tag or ""] = image.id.hex
        if not tags:
            entries.append(mdesc.to_dict())
        items.append({"Config": _blob_path(manifest.config.digest),
                      "RepoTags": [r.familiar() for r in tags],
                      "Layers": [_blob_path(d.digest) for d in manifest.layers]})
        blobs.setdefault(mdesc.digest, (mdesc, _ManifestBlob(raw)))
        for desc in image.blobs():
            blobs.setdefault(desc.digest, (desc, image))
    if not items:
        raise InvalidInput("nothing to save: no images given")
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}
    tar = TarWriter(out)
    tar.add_bytes("oci-layout", OCI_LAYOUT_BYTES)
    tar.add_bytes("index.json", json.dumps(index, separators=(",", ":")).encode())
    tar.add_bytes("manifest.json", json.dumps(items, separators=(",", ":")).encode() + b"\n")
    if repositories:
        tar.add_bytes("repositories",
                      json.dumps(repositories, separators=(",", ":")).encode() + b"\n")
    tar.add_dir("blobs")
    for alg in sorted({d.algorithm for d in blobs}):
        tar.add_dir(f"blobs/{alg}")
    for digest, (desc, source) in blobs.items():
        h = digest.hasher()

        def update(chunk: bytes, h=h) -> None:
            h.update(chunk)
            if progress:
                progress(len(chunk))

        with source.open_blob(desc) as stream:
            tar.add_stream(_blob_path(digest), desc.size, stream, update)
        if h.hexdigest() != digest.hex:
            raise DigestMismatch(f"blob {digest} is corrupt in the store: refusing to save it")
    tar.close()


def save_archive(path: Path, images: Iterable[tuple[Image, list[Reference]]]) -> None:
    """``write_archive`` to ``path`` by ``open_output``'s rule (whole file, or written through)."""
    with open_output(path) as f:
        write_archive(f, images)


class ArchiveDestination(ImageDestination):
    """A docker-archive or oci-archive file to copy single images into.

    A tar names its images before their blobs, so blobs are not written as they come: each
    is linked to its source (``mount_from``) and streamed from there into the tar when the
    copy is committed, as ``write_archive`` does for ``save``. Written by ``open_output``'s
    rule; nothing is written if the copy fails.
    """

    def __init__(self, path: str | os.PathLike, transport: str, scratch: Path) -> None:
        self.path, self.transport, self.scratch = Path(path), transport, scratch
        self._blobs = _LinkedBlobs()
        self._images: list[tuple[Image, list[Reference]]] = []

    def has_blob(self, desc: Descriptor) -> bool:
        return desc.digest in self._blobs.sources

    def mount_from(self, desc: Descriptor, source: BlobSource) -> bool:
        self._blobs.sources[desc.digest] = source
        return True

    def put_blob(self, desc: Descriptor, stream: BinaryIO, progress: Callable[[int], None]) -> None:
        """A blob pushed rather than linked waits, verified, in scratch until the commit."""
        if self._blobs.spool is None:
            self.scratch.mkdir(parents=True, exist_ok=True)
            self._blobs.spool = ContentStore(tempfile.mkdtemp(prefix="archive-", dir=self.scratch))
        self._blobs.spool.ingest(stream, desc.digest, desc.size, progress)
        self._blobs.sources[desc.digest] = ContentBlobs(self._blobs.spool)

    def put_manifest(self, raw: bytes, media_type: str, ref: Reference | None) -> Digest:
        if is_index_type(media_type):
            raise WharfieError(f"{self.transport} holds single images: copy without --all")
        image = BytesImage(raw, media_type, self._blobs)
        self._images.append((image, [ref] if ref else []))
        return image.digest

    def commit(self) -> None:
        with open_output(self.path) as f:
            write_archive(f, self._images)


class _LinkedBlobs(BlobSource):
    """Blobs read from where they were linked: the copy's source, or a scratch spool."""

    def __init__(self) -> None:
        self.sources: dict[Digest, BlobSource] = {}
        self.spool: ContentStore | None = None

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self.sources[desc.digest].open_blob(desc)


class _ManifestBlob(BlobSource):
    """A manifest's bytes, served as the blob it is in the layout."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return io.BytesIO(self.raw)


# -- the image store ---------------------------------------------------------------------------

@dataclass
class Loaded:
    """One image a load recorded: its ID, its manifest digest, and the tags it now has."""

    id: Digest
    manifest_digest: Digest
    tags: list[Reference]
    replaced: dict[Reference, Digest] = field(default_factory=dict)  # tag -> previous image ID


def load_archive(stream: BinaryIO, store: ImageStore, *,
                 progress: Callable[[int], None] | None = None,
                 platform: Platform | None = None) -> list[Loaded]:
    """``docker load``: read the whole archive, record every image, and only then tag them.

    The shared store lock is held throughout, so a concurrent garbage collection cannot
    remove a verified blob between its ingest and the manifest that needs it. A load
    that fails (bad input, disk full, Ctrl-C) removes the blobs it added that no image
    needs; a blob being written is removed by its writer.
    """
    added: set[Digest] = set()
    try:
        return _load(stream, store, progress, platform, added)
    except BaseException:
        # Under the exclusive lock: a concurrent load that found one of these blobs
        # already present has recorded the manifest that needs it by then.
        store.remove_blobs(sorted(added))
        raise


def _load(stream: BinaryIO, store: ImageStore, progress: Callable[[int], None] | None,
          platform: Platform | None, added: set[Digest]) -> list[Loaded]:
    with store.content.lock(shared=True):
        found = read_archive(stream, store.content, progress=progress, platform=platform,
                             added=added)
        loaded = [Loaded(a.image.id, store.put_image(a.image), a.tags) for a in found]
        for item in loaded:
            for ref in item.tags:
                try:
                    previous = store.resolve(str(ref))
                except NotFound:
                    previous = None
                if previous is not None and previous.id != item.id:
                    item.replaced[ref] = previous.id
                store.tag(ref, item.manifest_digest)
    return loaded


def select_images(store: ImageStore,
                  names: Iterable[str]) -> list[tuple[Image, list[Reference]]]:
    """What ``docker save NAME...`` saves: a tag that tag, a bare repository all its tags,
    an ID or digest the image without a name. Each image once, with all its chosen tags."""
    chosen: dict[str, tuple[Image, list[Reference]]] = {}

    def add(image: StoredImage, ref: Reference | None) -> None:
        entry = chosen.setdefault(image.manifest_digest, (image, []))
        if ref is not None and ref not in entry[1]:
            entry[1].append(ref)

    for name in names:
        ref = None
        if not name.startswith("sha256:"):
            with contextlib.suppress(InvalidReference):
                ref = parse_reference(name, default_tag=False)
        if ref is not None and ref.tag is None and ref.digest is None:
            tagged = [(img, r) for img in store.list() for r in img.repo_tags
                      if r.name == ref.name]
            for img, r in tagged:
                add(img, r)
            if not tagged:  # maybe an image ID prefix that also looks like a name
                add(store.resolve(name), None)
            continue
        add(store.resolve(name), ref if ref is not None and ref.digest is None else None)
    return list(chosen.values())
