"""Walk an image's layers as streams of file entries, without unpacking anything to disk.

Image analysis (issue 21) and SBOM cataloging (issue 19) both need the same thing: each
layer's tar, read once, in order, with the Dockerfile step that made it. ``walk`` gives
that; ``read`` on an entry returns a file's bytes while the stream is on it, for the files
the caller ``want``s, so a cataloger reads a few package databases and skips the rest.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from wharfie.errors import InvalidInput
from wharfie.imagefs.tarread import Member, TarReader
from wharfie.layers.diff import OPAQUE, WHITEOUT_PREFIX
from wharfie.oci.digest import Digest
from wharfie.oci.image import Image, Layer

_BUFFER = 1 << 20

_KINDS = {
    b"0": "file", b"\0": "file", b"7": "file", b"5": "dir", b"2": "symlink",
    b"1": "hardlink", b"3": "char", b"4": "block", b"6": "fifo",
}


@dataclass(frozen=True, slots=True)
class Entry:
    """One tar entry of a layer.

    ``path`` is relative (no leading ``/``). For a ``whiteout`` it is the path removed
    (``a/.wh.b`` -> ``a/b``), for an ``opaque`` marker the directory emptied. ``link`` is
    a symlink's target or, for a hardlink, the path it links to. ``read`` is set only for
    regular files the walk's ``want`` accepts, and works only until the next entry.
    """

    path: str
    kind: str
    size: int
    mode: int = 0
    uid: int = 0
    gid: int = 0
    link: str | None = None
    read: Callable[[], bytes] | None = None


@dataclass(frozen=True, slots=True)
class HistoryStep:
    """The history entry (Dockerfile step) that made a layer."""

    index: int  # position in the config's history
    created_by: str
    created: str | None = None
    comment: str | None = None


@dataclass
class LayerView:
    """One layer of a walk: what it is, the step that made it, and its entries."""

    index: int
    digest: Digest
    diff_id: Digest | None
    media_type: str
    size: int  # the blob as stored (compressed)
    history: HistoryStep | None
    layer: Layer = field(repr=False)
    want: Callable[[str], bool] | None = field(default=None, repr=False)
    uncompressed_size: int | None = None  # the tar's length, known once entries() ends

    @property
    def created_by(self) -> str:
        return self.history.created_by if self.history else ""

    def entries(self) -> Iterator[Entry]:
        """The layer's entries in tar order, streamed from the blob once."""
        with self.layer.open() as blob, _uncompressed(blob) as tar:  # closed first: its thread stops
            counted = _Counting(tar)
            yield from _entries(counted, self.want)  # type: ignore[arg-type]
            counted.read()  # the end-of-archive padding: the length is the whole tar's
            self.uncompressed_size = counted.count


def history_steps(history: list[dict], layers: int) -> list[HistoryStep | None]:
    """The history entry of each layer: entries marked ``empty_layer`` make none (as
    docker and dive count them); layers beyond the history have none."""
    steps = [HistoryStep(i, h.get("created_by", ""), h.get("created"), h.get("comment"))
             for i, h in enumerate(history) if not h.get("empty_layer")]
    return [steps[i] if i < len(steps) else None for i in range(layers)]


def walk(image: Image, *, want: Callable[[str], bool] | None = None) -> Iterator[LayerView]:
    """The layers of ``image`` in order, base first; iterate each one's ``entries()``
    before asking for the next layer if the source streams (a registry)."""
    layers = image.layers()
    steps = history_steps(image.config.history, len(layers))
    for i, (layer, step) in enumerate(zip(layers, steps, strict=True)):
        yield LayerView(i, layer.digest, layer.diff_id, layer.media_type, layer.size, step,
                        layer, want)


class _Counting:
    """A read-through stream that counts the bytes that went by."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream, self.count = stream, 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self.count += len(data)
        return data


def _uncompressed(blob: BinaryIO) -> BinaryIO:
    """The layer tar, whatever the blob's compression (judged by its magic bytes, so
    media types that lie about it are read too)."""
    from wharfie.layers.compression import auto_decompress

    return auto_decompress(io.BufferedReader(blob, _BUFFER), read_ahead=True)  # type: ignore[arg-type]


def clean_path(name: str) -> str:
    """A tar member name as a relative path; ``..`` escaping the root is refused."""
    path = posixpath.normpath("/" + name).lstrip("/")
    if path.startswith("../") or path == "..":
        raise InvalidInput(f"layer entry {name!r} escapes the root")
    return "" if path == "." else path


class _Cursor:
    """Which tar member the stream is on, so a stale ``read()`` is refused."""

    serial = 0


def _entries(stream: BinaryIO, want: Callable[[str], bool] | None) -> Iterator[Entry]:
    tar, cursor = TarReader(stream), _Cursor()
    try:
        for member in tar.members():
            cursor.serial += 1
            entry = _entry(tar, member, want, cursor)
            if entry is not None:
                yield entry
    finally:
        cursor.serial = -1  # the stream closes: no entry can be read any more


def _entry(tar: TarReader, m: Member, want: Callable[[str], bool] | None,
           cursor: _Cursor) -> Entry | None:
    path = clean_path(m.name)
    if not path:
        return None
    parent, base = posixpath.split(path)
    if base == OPAQUE:
        return Entry(parent, "opaque", 0, m.mode, m.uid, m.gid)
    if base.startswith(WHITEOUT_PREFIX):
        return Entry(posixpath.join(parent, base[len(WHITEOUT_PREFIX):]), "whiteout", 0,
                     m.mode, m.uid, m.gid)
    kind = _KINDS.get(m.type, "other")
    link = None
    if kind == "symlink":
        link = m.linkname
    elif kind == "hardlink":
        link = clean_path(m.linkname)
    read = None
    if kind == "file" and want is not None and want(path):
        read = _reader(tar, m, cursor)
    return Entry(path, kind, m.size, m.mode, m.uid, m.gid, link, read)


def _reader(tar: TarReader, m: Member, cursor: _Cursor) -> Callable[[], bytes]:
    serial = cursor.serial

    def read() -> bytes:
        if cursor.serial != serial:
            raise InvalidInput(f"{m.name}: read() called after the walk moved on")
        return tar.read()

    return read
