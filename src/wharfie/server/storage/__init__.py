"""Storage drivers: a flat key space of byte objects, on a filesystem or in an S3 bucket.

The registry keeps everything (blobs, links, tags, upload parts) as keys, so
one driver interface serves both, and several server processes can share one
storage: every write is an atomic put of a whole object.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class Stat:
    size: int
    mtime: float


class Driver(ABC):
    """Objects by key (``a/b/c``). Keys never start or end with ``/``."""

    #: True when calls wait on the network: the server then runs them in threads.
    blocking: bool = False

    @abstractmethod
    def read(self, key: str) -> bytes | None:
        """The whole object, or None if absent."""

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Atomically create or replace an object."""

    @abstractmethod
    def write_from(self, key: str, stream: BinaryIO) -> int:
        """Atomically create an object from a stream read to its end; returns its size."""

    @abstractmethod
    def stat(self, key: str) -> Stat | None:
        """Size and modification time, or None if absent."""

    @abstractmethod
    def touch(self, key: str) -> None:
        """Refresh an existing object's modification time (garbage collection's grace)."""

    @abstractmethod
    def open(self, key: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        """A reader from ``offset``; raises FileNotFoundError if absent."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove one object; False if it was not there."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Names of the direct children (objects and 'directories') under ``prefix/``, sorted."""

    @abstractmethod
    def walk(self, prefix: str) -> Iterator[tuple[str, Stat]]:
        """Every object under ``prefix/``, recursively, with its key and stat."""

    @abstractmethod
    def move(self, src: str, dst: str) -> None:
        """Rename an object (a copy then delete where renames do not exist)."""

    @abstractmethod
    def put_file(self, key: str, path: Path) -> None:
        """Publish a local file under ``key``, taking ownership of it (it is moved or removed)."""

    @abstractmethod
    def spool_dir(self) -> Path:
        """A local directory for temp files that ``put_file`` publishes cheaply."""

    @abstractmethod
    def lock(self, name: str) -> AbstractContextManager[None]:
        """Hold an exclusive lock shared by every process on this storage, so a check and
        the write it permits (an immutable tag, a quota, GC's last look) are one step.
        ``name`` is made of repository-name characters."""

    def delete_tree(self, prefix: str) -> None:
        for key, _ in list(self.walk(prefix)):
            self.delete(key)

    def local_path(self, key: str) -> Path | None:
        """A file the server can send with sendfile, if the driver has one."""
        return None

    def redirect_url(self, key: str) -> str | None:
        """A URL clients may fetch the object from directly (307), if the driver offers one."""
        return None
