"""The filesystem driver: one file per key under a root directory (the default)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from stat import S_ISDIR
from typing import BinaryIO

from wharfie.content.blobstore import CHUNK
from wharfie.fs.atomic import fsync_dir
from wharfie.server.storage import Driver, Stat


class _Slice:
    """A file reader limited to ``length`` bytes (for Range reads)."""

    def __init__(self, f: BinaryIO, length: int | None) -> None:
        self._f, self._left = f, length

    def read(self, n: int = -1) -> bytes:
        if self._left is not None:
            n = self._left if n < 0 else min(n, self._left)
        data = self._f.read(n)
        if self._left is not None:
            self._left -= len(data)
        return data

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_all(fd: int) -> bytes:
    """The whole file, sized by fstat: a small one takes a single read. Each read asks for
    one byte more than is left, so a short one shows the end; Linux returns at most about
    2 GiB per read, so a bigger file takes several."""
    size = os.fstat(fd).st_size
    parts, got = [], 0
    while True:
        want = size - got + 1 if got < size else CHUNK  # beyond size: the file grew
        data = os.read(fd, want)
        if not data:
            break
        parts.append(data)
        got += len(data)
        if len(data) < want and got >= size:
            break
    return b"".join(parts)


class FilesystemDriver(Driver):
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._prefix = f"{self.root}/"
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(exist_ok=True)

    def _path(self, key: str) -> str:
        """Keys are names the store makes itself, so any ``..`` is refused outright rather
        than normalized (``fs.inroot.clean_name``): one means a bug or an attack. A plain
        string, not a Path: every manifest GET resolves two keys, and pathlib's parsing
        was a tenth of its time."""
        if not key or key[0] == "/" or ".." in key.split("/"):
            raise ValueError(f"bad storage key {key!r}")
        return self._prefix + key

    def _publish(self, tmp: Path | str, key: str, synced: bool = False) -> None:
        """Rename into place: the data reaches the disk first, then the directory entry."""
        if not synced:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        dst = self._path(key)
        parent = os.path.dirname(dst)
        os.makedirs(parent, exist_ok=True)
        os.replace(tmp, dst)
        fsync_dir(parent)

    def _tmpfile(self) -> Path:
        return self._tmp / f"{os.getpid()}-{secrets.token_hex(8)}"

    def read(self, key: str) -> bytes | None:
        try:
            fd = os.open(self._path(key), os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            return _read_all(fd)
        except IsADirectoryError:
            return None
        finally:
            os.close(fd)

    def write(self, key: str, data: bytes) -> None:
        tmp = self._tmpfile()
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        self._publish(tmp, key, synced=True)

    def write_from(self, key: str, stream: BinaryIO) -> int:
        tmp = self._tmpfile()
        size = 0
        try:
            with open(tmp, "wb") as f:
                while chunk := stream.read(CHUNK):
                    f.write(chunk)
                    size += len(chunk)
                f.flush()
                os.fsync(f.fileno())
            self._publish(tmp, key, synced=True)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return size

    def stat(self, key: str) -> Stat | None:
        try:
            st = os.stat(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return None if S_ISDIR(st.st_mode) else Stat(st.st_size, st.st_mtime)

    def touch(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(self._path(key))

    def open(self, key: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        f = open(self._path(key), "rb")  # noqa: SIM115 - the caller closes it
        if offset:
            f.seek(offset)
        return _Slice(f, length) if length is not None else f  # type: ignore[return-value]

    def delete(self, key: str) -> bool:
        try:
            os.unlink(self._path(key))
            return True
        except (FileNotFoundError, IsADirectoryError):
            return False

    def list(self, prefix: str) -> list[str]:
        try:
            return sorted(os.listdir(self._path(prefix)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def walk(self, prefix: str) -> Iterator[tuple[str, Stat]]:
        base = self._path(prefix)
        for dirpath, _dirs, files in os.walk(base):
            rel = os.path.relpath(dirpath, self.root)
            for name in files:
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except FileNotFoundError:
                    continue
                yield f"{rel}/{name}", Stat(st.st_size, st.st_mtime)

    def move(self, src: str, dst: str) -> None:
        self._publish(self._path(src), dst)

    def put_file(self, key: str, path: Path) -> None:
        self._publish(path, key)

    def spool_dir(self) -> Path:
        return self._tmp

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """flock(2) on a file per name: held by one process (or thread) at a time, and
        released by the kernel if the holder dies."""
        path = self.root / ".locks" / name.replace("/", "+")
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def delete_tree(self, prefix: str) -> None:
        shutil.rmtree(self._path(prefix), ignore_errors=True)

    def local_path(self, key: str) -> Path | None:
        return Path(self._path(key))
