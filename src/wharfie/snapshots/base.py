"""The snapshotter interface and what both drivers share: chain IDs, the on-disk layout,
crash-safe publication of extracted layers.

Layout under ``<root>/snapshots/<driver>/``::

    layers/<chain hex>/fs        a committed snapshot (driver-specific content)
    layers/<chain hex>/parent    parent chain ID ("" for a base layer)
    layers/<chain hex>/diff_id   the layer's diffID
    layers/<chain hex>/boot      see ``durability``: layer data is never fsynced
    active/<key>/                writable snapshots made by ``prepare``
    tmp/                         work in progress; renamed into ``layers/`` when complete

A layer directory appears under ``layers/`` only by ``rename`` of a finished temp
dir, so a crash leaves at worst garbage in ``tmp/`` (swept on the next start),
never a half-extracted layer that looks complete. Layer data is not fsynced: a
layer written in an earlier boot and not confirmed by a sync since is dropped at
start (``durability``), and extracted again from its blob when next needed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from wharfie.content.blobstore import ContentStore
from wharfie.errors import Conflict, DigestMismatch, InvalidInput, NotFound, WharfieError
from wharfie.fs.private import abandoned, hold, private_dir
from wharfie.layers.diff import Change
from wharfie.layers.writer import LayerResult, Sink, write_layer, write_layer_to_store
from wharfie.oci.digest import Digest
from wharfie.snapshots import durability

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class SnapshotError(WharfieError):
    """A snapshot operation failed (mount refused, layer missing, key in use)."""


def chain_id(parent: Digest | str | None, diff_id: Digest | str) -> Digest:
    """OCI ChainID: the diffID for a base layer, else sha256 of "parent diffID"."""
    if parent is None:
        return Digest(diff_id)
    return Digest("sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest())


def chain_ids(diff_ids: list[Digest]) -> list[Digest]:
    out: list[Digest] = []
    for d in diff_ids:
        out.append(chain_id(out[-1] if out else None, d))
    return out


@dataclass(frozen=True)
class Usage:
    """Counts and bytes of a snapshotter's layers and active snapshots."""

    layers: int
    active: int
    bytes: int


@dataclass(frozen=True)
class Commit:
    """A committed snapshot: the layer written and the chain it now is."""

    layer: LayerResult
    chain_id: Digest


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise InvalidInput(f"invalid snapshot key {key!r}: use letters, digits, '_', '.', '-'")
    return key


def disk_usage(path: Path) -> int:
    """Bytes allocated under ``path``, each inode once, not crossing into mounts."""
    try:
        dev = os.lstat(path).st_dev
    except FileNotFoundError:
        return 0
    seen: set[int] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        keep = []
        for name in dirnames:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_dev == dev:
                keep.append(name)
                total += st.st_blocks * 512
        dirnames[:] = keep
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


class Snapshotter(ABC):
    """Root filesystems from layer chains: shared read-only layers, private writable tops."""

    driver: str = ""

    def __init__(self, root: Path | str) -> None:
        self.home = Path(root) / "snapshots" / self.driver
        self.layers_dir = self.home / "layers"
        self.active_dir = self.home / "active"
        self.tmp_dir = self.home / "tmp"
        private_dir(root)  # mounted root filesystems and setuid binaries: root's alone
        for d in (self.layers_dir, self.active_dir, self.tmp_dir):
            private_dir(d)
        self._held: dict[str, int] = {}  # active snapshots' keys -> fds we flock
        self._sweep_tmp()
        self._sweep_abandoned()
        self.confirming = durability.check(self.home, self.layers_dir, self._discard)

    # -- committed snapshots ------------------------------------------------------------

    def layer_dir(self, chain: Digest | str) -> Path:
        return self.layers_dir / Digest(chain).hex

    def has(self, chain: Digest | str) -> bool:
        return (self.layer_dir(chain) / "diff_id").is_file()

    def parent_of(self, chain: Digest | str) -> Digest | None:
        try:
            text = (self.layer_dir(chain) / "parent").read_text().strip()
        except FileNotFoundError:
            raise NotFound(f"snapshot {chain} not found") from None
        return Digest(text) if text else None

    def chain(self, chain: Digest | str) -> list[Digest]:
        """``chain`` and its ancestors, top first."""
        out: list[Digest] = []
        cur: Digest | None = Digest(chain)
        while cur is not None:
            out.append(cur)
            cur = self.parent_of(cur)
        return out

    def chains(self) -> list[Digest]:
        return sorted(Digest("sha256:" + p.name) for p in self.layers_dir.iterdir()
                      if (p / "diff_id").is_file())

    def add_layer(self, parent: Digest | None, diff_id: Digest | str,
                  open_tar: Callable[[], BinaryIO]) -> Digest:
        """Extract a layer on top of ``parent`` unless already there; returns its chain ID.

        ``open_tar`` gives the uncompressed tar; its hash must equal ``diff_id``.
        """
        chain = chain_id(parent, diff_id)
        if self.has(chain):
            return chain
        if parent is not None and not self.has(parent):
            raise NotFound(f"parent snapshot {parent} not found")
        with self._workdir("layer-") as work:
            with open_tar() as stream:
                got = self._extract(parent, work, stream)
            if got != diff_id:
                raise DigestMismatch(f"layer content has diffID {got}, expected {diff_id}")
            self._publish(work, chain, parent, Digest(diff_id))
        return chain

    def _publish(self, work: Path, chain: Digest, parent: Digest | None, diff_id: Digest) -> None:
        """Write the metadata, then rename ``work`` into place: all or nothing."""
        (work / "parent").write_text(parent or "")
        (work / "diff_id").write_text(diff_id)
        durability.mark_unsynced(work, self.home)
        try:
            os.rename(work, self.layer_dir(chain))
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            # another process published the same chain first: keep theirs
        self._published(chain)

    def _discard(self, layer_dir: Path) -> None:
        """Remove a layer a crash may have damaged; a concurrent start may do it first."""
        doomed = self.tmp_dir / f"rm-{layer_dir.name}-{os.getpid()}"
        try:
            os.rename(layer_dir, doomed)
        except FileNotFoundError:
            return
        self._rmtree(doomed)

    def _published(self, chain: Digest) -> None:
        """Hook run after a chain appears (the overlay driver links a short name)."""
        return None

    def remove_chain(self, chain: Digest | str) -> None:
        """Delete a committed snapshot that nothing builds on."""
        chain = Digest(chain)
        for other in self.chains():
            if self.parent_of(other) == chain:
                raise Conflict(f"snapshot {chain.short} is the parent of {other.short}")
        for key in self.active_keys():
            if self._active_parent(key) == chain:
                raise Conflict(f"snapshot {chain.short} is in use by {key}")
        self._before_remove_chain(chain)
        doomed = self.tmp_dir / f"rm-{chain.hex}"
        os.rename(self.layer_dir(chain), doomed)
        self._rmtree(doomed)

    def _before_remove_chain(self, chain: Digest) -> None:
        """Hook: release what the driver holds on a chain (mounted views, links)."""
        return None

    # -- active snapshots -----------------------------------------------------------------

    def active_keys(self) -> list[str]:
        return sorted(p.name for p in self.active_dir.iterdir())

    def _active(self, key: str, *, exists: bool = True) -> Path:
        path = self.active_dir / check_key(key)
        if exists and not path.is_dir():
            raise NotFound(f"no active snapshot {key!r}")
        if not exists and path.exists():
            raise Conflict(f"snapshot key {key!r} is already in use")
        return path

    def _active_parent(self, key: str) -> Digest | None:
        text = (self.active_dir / key / "parent").read_text().strip()
        return Digest(text) if text else None

    def prepare(self, key: str, parent: Digest | str | None, *, volatile: bool = False) -> Path:
        """A new writable root filesystem on top of ``parent`` (None: empty); returns its path.

        ``volatile``: its writes need not survive a crash (a build step, which is committed
        as a layer or thrown away), so unmounting it does not wait for them to reach disk;
        nor does it outlive this process: once the process is gone (killed mid-RUN), the
        next start removes it.
        """
        if parent is not None and not self.has(parent):
            raise NotFound(f"parent snapshot {parent} not found")
        path = self._active(key, exists=False)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:  # another process took the key just now
            raise Conflict(f"snapshot key {key!r} is already in use") from None
        (path / "parent").write_text(parent or "")
        if volatile:
            self._held[key] = hold(path)
            (path / "volatile").touch()  # after the flock: a sweep never sees it unheld
        try:
            return self._prepare(path, Digest(parent) if parent else None)
        except BaseException:
            self.remove(key)
            raise

    def changes(self, key: str) -> list[Change]:
        """What changed in an active snapshot against its parent (used by ``commit``)."""
        return self._changes(self._active(key), self._active_parent(key))

    def commit(self, key: str, dest: ContentStore | Sink, *, compression: str = "gzip",
               level: int | None = None, epoch: int | None = None) -> Commit:
        """Write the snapshot's changes as a layer into ``dest``, keep it as a committed
        snapshot (so building on it needs no extraction) and drop the active one."""
        path = self._active(key)
        parent = self._active_parent(key)
        self._quiesce(path)
        changes = self._changes(path, parent)
        if isinstance(dest, ContentStore):
            result = write_layer_to_store(changes, dest, compression=compression, level=level,
                                          epoch=epoch)
        else:
            result = write_layer(changes, dest, compression=compression, level=level, epoch=epoch)
        chain = chain_id(parent, result.diff_id)
        if not self.has(chain):
            with self._workdir("commit-") as work:
                self._take_tree(path, work)
                self._publish(work, chain, parent, result.diff_id)
        self.remove(key)
        return Commit(result, chain)

    def remove(self, key: str) -> None:
        """Unmount and delete an active snapshot."""
        path = self.active_dir / check_key(key)
        try:
            if not path.exists():
                return
            self._release_active(path)
            doomed = self.tmp_dir / f"rm-{key}-{os.getpid()}"
            os.rename(path, doomed)
            self._rmtree(doomed)
        finally:
            held = self._held.pop(key, None)
            if held is not None:
                os.close(held)

    def _sweep_abandoned(self) -> None:
        """Remove volatile snapshots whose process died (a build killed mid-RUN): nobody
        holds them any more. Mounts still busy are detached lazily."""
        volatile = [p for p in self.active_dir.iterdir() if (p / "volatile").exists()]
        for path in abandoned(volatile):
            self._release_active(path, lazy=True)
            self.remove(path.name)

    def usage(self) -> Usage:
        return Usage(layers=len(self.chains()), active=len(self.active_keys()),
                     bytes=disk_usage(self.home))

    # -- housekeeping -----------------------------------------------------------------------

    def _sweep_tmp(self) -> None:
        """Remove what crashed runs left in ``tmp/``: dirs whose owner's flock is gone.

        Dirs younger than a minute are left alone: their owner may not have locked them yet.
        """
        now = time.time()
        for p in self.tmp_dir.iterdir():
            try:
                if now - p.lstat().st_mtime < 60:
                    continue
                fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live extraction or commit
            else:
                self._rmtree(p)
            finally:
                os.close(fd)

    @contextlib.contextmanager
    def _workdir(self, prefix: str) -> Iterator[Path]:
        """A temp dir in ``tmp/``, flocked while we use it, removed unless renamed away."""
        work = Path(tempfile.mkdtemp(prefix=prefix, dir=self.tmp_dir))
        fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield work
        finally:
            try:
                if work.exists():
                    self._rmtree(work)
            finally:
                os.close(fd)

    def _rmtree(self, path: Path) -> None:
        """``rmtree`` that lets a concurrent sweep remove entries first, and nothing else."""
        def tolerate_vanished(func, p, exc: BaseException) -> None:
            if not isinstance(exc, FileNotFoundError):
                raise exc

        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=tolerate_vanished)
        else:
            shutil.rmtree(path, onerror=lambda f, p, info: tolerate_vanished(f, p, info[1]))

    # -- what a driver provides ---------------------------------------------------------------

    @abstractmethod
    def _extract(self, parent: Digest | None, work: Path, stream: BinaryIO) -> Digest:
        """Put the layer from ``stream`` into ``work/fs`` on top of ``parent``; its diffID."""

    @abstractmethod
    def _prepare(self, path: Path, parent: Digest | None) -> Path:
        """Make the writable tree for an active snapshot dir; returns the rootfs path."""

    @abstractmethod
    def path(self, key: str) -> Path:
        """The rootfs path of an active snapshot (remounted if a reboot unmounted it)."""

    @abstractmethod
    def _quiesce(self, path: Path) -> None:
        """Stop writes to an active snapshot before its diff is taken."""

    @abstractmethod
    def _changes(self, path: Path, parent: Digest | None) -> list[Change]:
        """The changes of an active snapshot against its parent."""

    @abstractmethod
    def _take_tree(self, path: Path, work: Path) -> None:
        """Move the active snapshot's tree into ``work/fs`` as the committed layer."""

    @abstractmethod
    def _release_active(self, path: Path, *, lazy: bool = False) -> None:
        """Unmount whatever an active snapshot has mounted (``lazy``: detach if busy)."""

    @abstractmethod
    def view(self, chain: Digest | str) -> Path:
        """A read-only path showing the root filesystem of ``chain``."""

    @abstractmethod
    def release(self, chain: Digest | str) -> None:
        """Undo ``view``."""
