"""The build context: where COPY reads from, and the checksums that key its cache.

A context is a directory (a tar on stdin is unpacked into a private one first).
Checksums cover what ends up in a layer (path, type, permissions, link target,
content) but not mtimes or host ownership, like BuildKit's; file contents are
hashed once and remembered by stat signature in a small SQLite table, so a
rebuild of an unchanged tree reads no file twice.

File contents are hashed with BLAKE3, an OCI-registered digest algorithm: these
digests only key the build cache, never name content, and on this 2-core host it hashes
a 1 GiB file in 0.2 s (read and hash overlapped) where sha256 took 0.8 s, a fifth of a
1 GiB COPY.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import sqlite3
import stat
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import blake3

from wharfie.builder.context.dockerignore import PatternMatcher, load_for
from wharfie.builder.filecopy import CopyError, expand_all
from wharfie.errors import InvalidInput, WharfieError
from wharfie.fs.inroot import resolve as secure_join
from wharfie.layers.apply import extract_tar
from wharfie.layers.compression import auto_decompress, decode_errors

CHUNK = 1 << 20
Walked = tuple[str, list[tuple[str, str, os.stat_result]]]  # a source: (path, entries below)
SMALL_FILE = 4 * CHUNK  # read at once; larger files are read and hashed in two threads


class HashCache:
    """File content digests keyed by (path, size, mtime, ctime, inode)."""

    def __init__(self, db_path: Path | None) -> None:
        self._db: sqlite3.Connection | None = None
        if db_path is not None:
            db_path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(db_path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: commits do not fsync (a crash may lose the last records, never
            # corrupt them); a warm build writes a record per step and would wait on each
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("DROP TABLE IF EXISTS files")  # sha256 digests, before BLAKE3
            self._db.execute("CREATE TABLE IF NOT EXISTS file_digests (path TEXT PRIMARY KEY, "
                             "sig TEXT NOT NULL, digest TEXT NOT NULL)")
        self._memo: dict[tuple[str, str], str] = {}
        self._loaded: dict[tuple[str, str], str] | None = None
        self._pending: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()  # stages hash in parallel threads

    def digest(self, path: Path | str, st: os.stat_result) -> str:
        sig = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
        key = (str(path), sig)
        if key in self._memo:
            return self._memo[key]
        if self._db is not None:
            with self._lock:
                if self._loaded is None:  # one query for the whole table, not one per file:
                    self._loaded = {(p, s): d for p, s, d in  # 20k SELECTs cost ~0.3 s
                                    self._db.execute("SELECT path, sig, digest FROM file_digests")}
            d = self._loaded.get(key)
            if d is not None:
                self._memo[key] = d
                return d
        d = "blake3:" + hash_file(path, st.st_size)
        with self._lock:
            self._memo[key] = d
            self._pending.append((str(path), sig, d))
        return d

    def flush(self) -> None:
        with self._lock:
            if self._db is not None and self._pending:
                # One transaction: in autocommit mode ``with db`` does not BEGIN, and each
                # row would commit on its own (20k rows: 0.5 s instead of 0.04 s)
                self._db.execute("BEGIN")
                try:
                    self._db.executemany("INSERT OR REPLACE INTO file_digests VALUES (?,?,?)",
                                         self._pending)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                self._pending.clear()


def hash_file(path: Path | str, size: int) -> str:
    """BLAKE3 of a file, hex. A large one is read in this thread while another hashes
    the previous chunk (both release the GIL): reading costs about as much as hashing."""
    h = blake3.blake3()
    with open(path, "rb", buffering=0) as f:
        if size < SMALL_FILE:
            h.update(f.read())
            return h.hexdigest()
        free: queue.SimpleQueue = queue.SimpleQueue()
        full: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(3):
            free.put(bytearray(CHUNK))

        def hash_chunks() -> None:
            while (item := full.get()) is not None:
                h.update(memoryview(item[0])[:item[1]])
                free.put(item[0])

        worker = threading.Thread(target=hash_chunks, daemon=True)
        worker.start()
        try:
            while n := f.readinto(buf := free.get()):
                full.put((buf, n))
        finally:
            full.put(None)
            worker.join()
    return h.hexdigest()


class BuildContext:
    """A directory of build inputs filtered by .dockerignore."""

    def __init__(self, root: Path | None, ignore: PatternMatcher | None = None,
                 hash_cache: HashCache | None = None) -> None:
        self.root = root.absolute() if root is not None else None  # runc runs elsewhere
        self.ignore = ignore or PatternMatcher([])
        self.hashes = hash_cache or HashCache(None)
        self._tmp: tempfile.TemporaryDirectory | None = None

    @classmethod
    def from_tar(cls, stream: BinaryIO, workdir: Path, **kw) -> BuildContext:
        """Unpack a context tar (``docker build - < ctx.tar``) into a private directory,
        every path and link resolved inside it. It is input, not an image: owners, setuid
        bits and device nodes are not kept (as ``tarfile``'s "data" filter did before)."""
        tmp = tempfile.TemporaryDirectory(dir=workdir, prefix="context-")
        try:
            extract_tar(auto_decompress(stream), tmp.name, privileged=False)
        except (WharfieError, *decode_errors()) as e:
            tmp.cleanup()
            raise InvalidInput(f"cannot read the build context tar: {e}") from None
        ctx = cls(Path(tmp.name), **kw)
        ctx._tmp = tmp
        return ctx

    @classmethod
    def from_git(cls, url: str, checkouts: Path, **kw) -> BuildContext:
        """A git repository as the context: ``build https://host/repo.git#ref:subdir``.

        Checkouts are kept in ``checkouts`` by commit (``builder prune -a`` removes them), so
        a rebuild of the same commit fetches nothing and its files keep their hash-cache
        entries: a no-change rebuild stays as fast as from a directory."""
        from wharfie.builder.context import gitsource  # the git code: only for git contexts

        ref = gitsource.parse_git_url(url)
        checkout = checkouts / gitsource.resolve(ref)
        if not checkout.is_dir():
            checkouts.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=checkouts, prefix="tmp-") as tmp:
                gitsource.fetch(ref, Path(tmp) / "repo", expect=checkout.name)
                try:
                    os.rename(Path(tmp) / "repo", checkout)
                except OSError as e:
                    if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise  # (those two: another build published it first)
        root = checkout / ref.subdir
        if not root.is_dir():
            raise InvalidInput(f"{ref.label}: no directory {ref.subdir!r} in it")
        return cls(root, **kw)

    def close(self) -> None:
        self.hashes.flush()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def checksum(self, sources: list[str], excludes: Sequence[str] = (), *,
                 with_modes: bool = True, files: dict[str, str] | None = None,
                 walked: list[Walked] | None = None) -> str:
        """One digest over everything ``COPY sources`` would read from the context."""
        if self.root is None:
            raise CopyError("no build context: COPY and ADD need one (the context was '-')")
        return checksum_tree(self.root, sources, self.ignore, excludes, self.hashes,
                             with_modes=with_modes, files=files, walked=walked)


def named_context(spec: str, hash_cache: HashCache | None = None
                  ) -> tuple[str, str | BuildContext]:
    """``--build-context NAME=VALUE``: NAME (lowercase) and an image reference (from
    ``docker-image://REF``) or a local directory, with its own .dockerignore."""
    name, eq, value = spec.partition("=")
    if not eq or not name or not value:
        raise InvalidInput(f"invalid --build-context {spec!r}: want NAME=PATH or "
                           "NAME=docker-image://REF")
    if value.startswith("docker-image://"):
        return name.lower(), value.removeprefix("docker-image://")
    if "://" in value or value.startswith("git@"):
        raise InvalidInput(f"--build-context {name}: only local directories and "
                           f"docker-image:// are supported, not {value!r}")
    root = Path(value)
    if not root.is_dir():
        raise InvalidInput(f"--build-context {name}: {value} is not a directory")
    return name.lower(), BuildContext(root, load_for(root), hash_cache=hash_cache)


def checksum_tree(src_root: Path, sources: list[str], ignore: PatternMatcher | None,
                  excludes: Sequence[str], hashes: HashCache, *, with_modes: bool = True,
                  files: dict[str, str] | None = None, walked: list[Walked] | None = None
                  ) -> str:
    """Digest of the entries ``sources`` select under ``src_root`` (a context or a stage).

    Ownership and mtimes never count (COPY sets the owner; BuildKit ignores mtimes); the
    permission bits count unless ``--chmod`` replaces them (``with_modes=False``), so a
    different umask on another machine cannot cost the cache. ``files``, if given, gets
    a short digest per entry, so that a cache miss can name the files that changed;
    ``walked``, each source path found with the entries walked under it (itself first), so
    that a COPY can write its layer from the same walk (``filecopy.plan_copy``).
    """
    excl = PatternMatcher(list(excludes)) if excludes else None
    h = hashlib.sha256()
    for src, found in expand_all(src_root, sources, ignore):
        h.update(f"src\0{src}\0".encode())
        for rel in found:
            entries: list[tuple[str, str, os.stat_result]] = []
            if walked is not None:
                walked.append((rel, entries))
            for entry_rel, path, st in _walk(src_root, rel, ignore, excl):
                if walked is not None:
                    entries.append((entry_rel, str(path), st))
                kind = stat.S_IFMT(st.st_mode)
                perms = stat.S_IMODE(st.st_mode) if with_modes else 0
                line = f"{entry_rel}\0{kind:o}\0{perms:o}\0"
                if stat.S_ISLNK(st.st_mode):
                    line += os.readlink(path)
                elif stat.S_ISREG(st.st_mode):
                    line += hashes.digest(path, st)
                data = line.encode(errors="surrogateescape") + b"\n"
                h.update(data)
                if files is not None:
                    files[entry_rel] = hashlib.sha256(data).hexdigest()[:16]
    hashes.flush()
    return "sha256:" + h.hexdigest()


def _walk(src_root: Path, rel: str, ignore: PatternMatcher | None,
          excl: PatternMatcher | None) -> Iterator[tuple[str, Path | str, os.stat_result]]:
    top = secure_join(src_root, rel)
    st = os.lstat(top)
    yield rel, top, st
    if stat.S_ISDIR(st.st_mode):
        # .dockerignore judges where an entry really is (``rel`` may pass through a link)
        real = os.path.relpath(top, src_root)
        yield from _walk_dir(str(top), os.path.normpath(rel), real,
                             ignore if ignore is not None and ignore.patterns else None,
                             excl if excl is not None and excl.patterns else None)


def _walk_dir(path: str, rel: str, real: str, ignore: PatternMatcher | None,
              excl: PatternMatcher | None) -> Iterator[tuple[str, str, os.stat_result]]:
    """A directory's entries in name order, each followed by its own; links not followed.

    Plain strings and ``scandir``: Path objects and ``os.walk`` cost ~40% of a warm walk."""
    with os.scandir(path) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        sub = entry.name if rel == "." else f"{rel}/{entry.name}"
        real_sub = sub if real == rel else entry.name if real == "." else f"{real}/{entry.name}"
        if excl and excl.excludes(sub):
            continue
        if ignore and ignore.hides(real_sub, entry.is_dir(follow_symlinks=False)):
            continue
        st = entry.stat(follow_symlinks=False)
        yield sub, entry.path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(entry.path, sub, real_sub, ignore, excl)


def looks_like_tar(data: bytes) -> bool:
    """Whether the start of a stdin context is a tar (plain or compressed), not a Dockerfile."""
    from wharfie.layers.compression import sniff

    return bool(data[:512].rstrip(b"\0")) and (sniff(data[:6]) != "none"
                                               or data[257:262] == b"ustar")
