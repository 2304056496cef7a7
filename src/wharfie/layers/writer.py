"""Write a layer: changes -> tar -> compressor -> sink, hashing both sides in one pass.

The tar's sha256 is the diffID, the compressed bytes' sha256 the blob digest; both
come out of the same single read of each file, so a multi-GB file is read once
and never held in memory. Entries are written in the order given (``diff``
sorts them), with normalized metadata: integer mtimes (clamped to
SOURCE_DATE_EPOCH), no user or group names, whiteouts as mode-0 empty files at
the epoch, hardlinks to the first path of an inode in the layer.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from wharfie.content.blobstore import ContentStore
from wharfie.errors import InvalidInput, WharfieError
from wharfie.layers import tarformat as tf
from wharfie.layers.compression import Compressor
from wharfie.layers.diff import Change, read_xattrs
from wharfie.oci.digest import Digest
from wharfie.oci.mediatypes import layer_type

CHUNK = 1 << 20
_FLUSH_AT = 1 << 20


class LayerWriteError(WharfieError):
    """A file could not be read into the layer (vanished, changed size while read)."""


@dataclass(frozen=True)
class LayerResult:
    """What a written layer is: both digests, both sizes, its media type."""

    diff_id: Digest
    digest: Digest
    size: int
    uncompressed_size: int
    compression: str
    entries: int

    @property
    def media_type(self) -> str:
        return layer_type(self.compression)


@dataclass(frozen=True, slots=True)
class Planned:
    """A layer entry whose metadata the caller decided (a COPY written straight from its
    sources): only a regular file's bytes and a symlink's target are read, from ``source``.
    ``link_to`` makes it a hard link to that earlier entry of the layer."""

    path: str
    mode: int  # st_mode: file type and permission bits
    mtime_ns: int
    source: str | None = None
    size: int = 0
    uid: int = 0
    gid: int = 0
    xattrs: dict[str, bytes] | None = None
    link_to: str | None = None


class Sink(Protocol):
    def write(self, data: bytes | memoryview, /) -> object: ...


class _HashingSink:
    """Counts and hashes what the compressor emits before passing it on."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self.hash.update(data)
        self._sink.write(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def source_date_epoch() -> int | None:
    """SOURCE_DATE_EPOCH from the environment, if set (reproducible-builds.org)."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"SOURCE_DATE_EPOCH must be an integer, not {value!r}") from None


class TarStream:
    """Builds the tar, feeding the hash of the diffID and the compressor as it goes."""

    def __init__(self, out: Compressor, epoch: int | None) -> None:
        self._out = out
        self._epoch = epoch
        self._buf = bytearray()
        self.hash = hashlib.sha256()
        self.size = 0
        self.entries = 0
        self._links: dict[tuple[int, int], bytes] = {}

    def _emit(self, data: bytes | memoryview) -> None:
        self.hash.update(data)
        self.size += len(data)
        self._out.write(data)

    def _put(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) >= _FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._emit(self._buf)
            self._buf = bytearray()

    def _mtime(self, mtime_ns: int) -> int:
        mtime = mtime_ns // 10**9
        return min(mtime, self._epoch) if self._epoch is not None else mtime

    def add(self, change: Change | Planned) -> None:
        """Append one entry (a whiteout when ``change.source`` is None)."""
        if isinstance(change, Planned):
            self._add_planned(change)
            return
        name = os.fsencode(change.path)
        if change.source is None:
            self.entries += 1
            self._put(tf.header(name, tf.REG))
            return
        src = change.source
        try:
            st = os.lstat(src)
        except FileNotFoundError:
            raise LayerWriteError(f"{change.path}: vanished while writing the layer") from None
        mode = st.st_mode
        if stat.S_ISSOCK(mode):
            return  # tar cannot carry a socket, and Docker leaves them out too
        self.entries += 1
        common = dict(mode=stat.S_IMODE(mode), uid=st.st_uid, gid=st.st_gid,
                      mtime=self._mtime(st.st_mtime_ns))
        if not stat.S_ISDIR(mode) and st.st_nlink > 1:
            first = self._links.get((st.st_dev, st.st_ino))
            if first is not None:
                self._put(tf.header(name, tf.LINK, linkname=first, **common))
                return
            self._links[(st.st_dev, st.st_ino)] = name
        self._add_node(name, change.path, src, mode, st.st_size, st.st_rdev, read_xattrs(src),
                       common)

    def _add_planned(self, p: Planned) -> None:
        name = os.fsencode(p.path)
        self.entries += 1
        common = dict(mode=stat.S_IMODE(p.mode), uid=p.uid, gid=p.gid,
                      mtime=self._mtime(p.mtime_ns))
        if p.link_to is not None:
            self._put(tf.header(name, tf.LINK, linkname=os.fsencode(p.link_to), **common))
            return
        if not (stat.S_ISREG(p.mode) or stat.S_ISLNK(p.mode) or stat.S_ISDIR(p.mode)):
            raise ValueError(f"{p.path}: a planned entry is a file, a directory or a symlink")
        self._add_node(name, p.path, p.source or "", p.mode, p.size, 0, p.xattrs or {}, common)

    def _add_node(self, name: bytes, rel: str, src: str, mode: int, size: int, rdev: int,
                  xattrs: dict[str, bytes], common: dict) -> None:
        """The header of a file, directory, link or node, then a file's bytes."""
        if stat.S_ISREG(mode):
            self._put(tf.header(name, tf.REG, size=size, xattrs=xattrs, **common))
            self._copy_file(src, rel, size)
        elif stat.S_ISDIR(mode):
            self._put(tf.header(name + b"/", tf.DIR, xattrs=xattrs, **common))
        elif stat.S_ISLNK(mode):
            target = os.fsencode(os.readlink(src))
            self._put(tf.header(name, tf.SYMLINK, linkname=target, xattrs=xattrs, **common))
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            kind = tf.CHAR if stat.S_ISCHR(mode) else tf.BLOCKDEV
            self._put(tf.header(name, kind, devmajor=os.major(rdev),
                                devminor=os.minor(rdev), xattrs=xattrs, **common))
        elif stat.S_ISFIFO(mode):
            self._put(tf.header(name, tf.FIFO, xattrs=xattrs, **common))

    def _copy_file(self, src: str, rel: str, size: int) -> None:
        left = size
        with open(src, "rb", buffering=0) as f:
            if size < CHUNK // 4:  # small file: into the header buffer, one write later
                data = f.read(size + 1)
                if len(data) != size:
                    raise LayerWriteError(f"{rel}: changed size while writing the layer")
                self._put(data + tf.padding(size))
                return
            self._flush()
            while left:
                # a fresh bytes per chunk, not a reused buffer: the gzip writer keeps what it
                # is given until a worker takes it, and would have to copy a buffer
                data = f.read(min(left, CHUNK))
                if not data:
                    raise LayerWriteError(f"{rel}: shrank while writing the layer")
                self._emit(data)
                left -= len(data)
            if f.read(1):
                raise LayerWriteError(f"{rel}: grew while writing the layer")
        self._put(tf.padding(size))

    def close(self) -> None:
        self._put(tf.END_OF_ARCHIVE)
        self._flush()


def _write(changes: Iterable[Change | Planned], sink: Sink, compression: str, level: int | None,
           epoch: int | None) -> TarStream:
    """Tar, compress and send ``changes`` to ``sink``; the finished tar stream (diffID)."""
    if epoch is None:
        epoch = source_date_epoch()
    compressor = Compressor(sink, compression, level)  # type: ignore[arg-type]
    tar = TarStream(compressor, epoch)
    for change in changes:
        tar.add(change)
    tar.close()
    compressor.finish()
    return tar


def write_layer(changes: Iterable[Change | Planned], sink: Sink, *, compression: str = "gzip",
                level: int | None = None, epoch: int | None = None) -> LayerResult:
    """Write ``changes`` as a layer into ``sink``; returns both digests and sizes.

    ``epoch`` clamps mtimes (default: SOURCE_DATE_EPOCH from the environment).
    """
    out = _HashingSink(sink)
    tar = _write(changes, out, compression, level, epoch)
    return LayerResult(diff_id=Digest.from_hasher(tar.hash), digest=Digest.from_hasher(out.hash),
                       size=out.size, uncompressed_size=tar.size, compression=compression,
                       entries=tar.entries)


def write_layer_to_store(changes: Iterable[Change | Planned], store: ContentStore, *,
                         compression: str = "gzip", level: int | None = None,
                         epoch: int | None = None) -> LayerResult:
    """``write_layer`` straight into the content store as a verified blob.

    The blob writer hashes what it stores, so the compressed stream is hashed once.
    """
    with store.writer() as w:
        tar = _write(changes, w, compression, level, epoch)
        digest = w.commit()
    return LayerResult(diff_id=Digest.from_hasher(tar.hash), digest=digest, size=w.size,
                       uncompressed_size=tar.size, compression=compression, entries=tar.entries)
