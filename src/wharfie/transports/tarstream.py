"""Minimal streaming tar I/O for archives: safe entry names and a writer for pipes.

``tarfile`` cannot write to a pipe without a quadratic re-buffering of every
block in ``w|`` mode, so the writer builds headers with ``TarInfo.tobuf`` and
copies blob data straight through in 1 MiB chunks.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from collections import deque
from collections.abc import Callable, Iterator
from typing import BinaryIO

from wharfie.errors import InvalidInput
from wharfie.fs.inroot import clean_name

BLOCK = 512
RECORD = 20 * BLOCK
CHUNK = 1 << 20
WRITEBACK_EVERY = 16 << 20  # start the disk on what a writer to a file wrote, this often


def iter_members(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Each member in turn, forgotten once the next is read: ``TarFile`` otherwise keeps
    every ``TarInfo`` it has seen (about 450 bytes each: 680 MiB for 1.5 M headers)."""
    while (member := tf.next()) is not None:
        tf.members.clear()
        yield member


def refuse_sparse(member: tarfile.TarInfo, what: str) -> None:
    """Refuse a GNU or PAX sparse entry: a few KiB of map that expand to any size."""
    if member.issparse():
        raise InvalidInput(f"{what}: entry {member.name!r} is a sparse file "
                           f"({member.size} bytes expanded); sparse entries are not supported")


def safe_name(name: str) -> str:
    """An archive member name, normalized; refuse absolute paths and ``..`` escapes."""
    if name.startswith("/"):
        raise InvalidInput(f"invalid archive: entry {name!r} has an absolute path")
    norm = clean_name(name)
    if norm is None:
        raise InvalidInput(f"invalid archive: entry {name!r} escapes the archive")
    return norm


def link_target(member: tarfile.TarInfo, name: str) -> str:
    """Where a symlink or hard link entry points, as a safe archive-relative name."""
    target = member.linkname
    if member.issym():
        if target.startswith("/"):
            raise InvalidInput(
                f"invalid archive: link {member.name!r} points outside the archive ({target!r})")
        target = posixpath.join(posixpath.dirname(name), target)
    norm = posixpath.normpath(target)
    if norm == ".." or norm.startswith("../") or norm.startswith("/"):
        raise InvalidInput(
            f"invalid archive: link {member.name!r} points outside the archive ({member.linkname!r})")
    return norm


def _regular_file(out: BinaryIO) -> tuple[int, int] | None:
    """The descriptor of ``out`` and its position, if it is a regular file (not a pipe)."""
    try:
        fd = out.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        out.flush()
        return fd, os.lseek(fd, 0, os.SEEK_CUR)
    except (OSError, AttributeError, ValueError):  # io.UnsupportedOperation is both
        return None


class TarWriter:
    """Writes a POSIX (pax) tar to any writable stream, entries in the order given."""

    def __init__(self, out: BinaryIO, mtime: int = 0) -> None:
        self._out = out
        self._mtime = mtime
        self._written = 0
        self._file = _regular_file(out)  # (fd, offset of our first byte) of a file; else None
        self._written_back = 0

    def _emit(self, data: bytes | memoryview) -> None:
        self._out.write(data)
        self._written += len(data)
        if self._file is not None and self._written - self._written_back >= WRITEBACK_EVERY:
            self._start_writeback()

    def _start_writeback(self) -> None:
        """Have the kernel start writing what we wrote so far to a file, without waiting,
        so that its owner's final fsync finds little left (DONTNEED starts the writeback of
        dirty pages and leaves them cached until written)."""
        fd, start = self._file
        self._out.flush()
        os.posix_fadvise(fd, start + self._written_back, self._written - self._written_back,
                         os.POSIX_FADV_DONTNEED)
        self._written_back = self._written

    def _header(self, name: str, size: int, kind: bytes, mode: int) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.type, info.mode, info.mtime = size, kind, mode, self._mtime
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        self._emit(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def _pad(self, size: int) -> None:
        if size % BLOCK:
            self._emit(b"\0" * (BLOCK - size % BLOCK))

    def add_dir(self, name: str) -> None:
        self._header(name.rstrip("/") + "/", 0, tarfile.DIRTYPE, 0o755)

    def add_bytes(self, name: str, data: bytes) -> None:
        self._header(name, len(data), tarfile.REGTYPE, 0o644)
        self._emit(data)
        self._pad(len(data))

    def add_stream(self, name: str, size: int, stream: BinaryIO,
                   on_chunk: Callable[[bytes], None] | None = None) -> None:
        """Copy exactly ``size`` bytes of ``stream``; a short or long source is an error.

        ``on_chunk`` (a hash, a progress count) sees every chunk, in order, in a thread of
        its own while the copy goes on: hashlib and file I/O release the GIL, so hashing one
        chunk overlaps reading and writing the next. Its error is raised here.
        """
        self._header(name, size, tarfile.REGTYPE, 0o644)
        with _Beside(on_chunk) as beside:
            left = size
            while left:
                chunk = stream.read(min(CHUNK, left))
                if not chunk:
                    raise InvalidInput(f"{name}: source ended {left} bytes short of {size}")
                beside.give(chunk)
                self._emit(chunk)
                left -= len(chunk)
        if stream.read(1):
            raise InvalidInput(f"{name}: source is longer than its {size} bytes")
        self._pad(size)

    def close(self) -> None:
        """End-of-archive: two zero blocks, then padding to a whole record as tar(1) writes."""
        self._emit(b"\0" * (2 * BLOCK))
        if self._written % RECORD:
            self._emit(b"\0" * (RECORD - self._written % RECORD))
        self._out.flush()


class _Beside:
    """Calls ``fn`` on each chunk given, in order, in one helper thread; at most ``AHEAD``
    chunks wait, so memory stays bounded when ``fn`` is the slower side."""

    AHEAD = 4

    def __init__(self, fn: Callable[[bytes], None] | None) -> None:
        self._fn = fn
        self._pool = None
        self._waiting: deque = deque()

    def give(self, chunk: bytes) -> None:
        if self._fn is None:
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor  # only saves load it

            self._pool = ThreadPoolExecutor(1)
        self._waiting.append(self._pool.submit(self._fn, chunk))
        if len(self._waiting) > self.AHEAD:
            self._waiting.popleft().result()

    def __enter__(self) -> _Beside:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._pool is None:
            return
        try:
            while self._waiting:
                future = self._waiting.popleft()
                if exc_type is None:
                    future.result()
                else:
                    future.cancel()
        finally:
            self._pool.shutdown(wait=True)
