"""The image store: names and tags -> manifest digests (SQLite), blobs in the content store.

Crash safety comes from ordering. Blobs are verified and visible before the
manifest row that needs them is written; a manifest row exists before any
reference points at it; on removal the rows go (one transaction, under the
content store's exclusive lock) before the blob files do. A crash leaves at
worst unreferenced blobs, which ``check --repair`` sweeps up, never a tag
pointing at a missing manifest. The layout's ``index.json`` is rewritten inside
the same write transaction, so it follows the tags without racing other writers.

Everything the image listing shows is computed once, at put time, so
``wharfie images`` is one SQL query however many images there are; only a layer's
content size (SIZE) is measured later, on first use, and recorded then.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from wharfie.content.blobstore import ContentStore
from wharfie.errors import (
    Conflict,
    DigestMismatch,
    InvalidInput,
    InvalidReference,
    NotFound,
    WharfieError,
)
from wharfie.fs.atomic import fsync_dir
from wharfie.fs.private import private_dir
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.image import Image, ImageIndex
from wharfie.oci.manifest import Descriptor, ImageConfig, Index, Manifest, parse_manifest_or_index
from wharfie.oci.platform import host_platform
from wharfie.oci.reference import Reference, parse_reference
from wharfie.transports.base import ImageDestination, Progress, copy_image

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"

_SCHEMA_VERSION = 3
_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifests (
    digest TEXT PRIMARY KEY,        -- manifest or index digest
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,          -- bytes of the manifest itself
    image TEXT NOT NULL,            -- the image manifest shown: itself, or an index's child
    image_media_type TEXT NOT NULL,
    config TEXT NOT NULL,           -- the image ID (config digest) of `image`
    created TEXT,                   -- config "created", as written
    created_ts REAL,                -- the same in seconds since the epoch
    image_size INTEGER NOT NULL,    -- config + layer blob bytes as stored (CompressedSize)
    labels TEXT NOT NULL,           -- config Labels, JSON
    diff_ids TEXT NOT NULL,         -- rootfs diff_ids, JSON
    recorded REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS manifest_blobs (
    manifest TEXT NOT NULL,         -- needs `blob`: its config, a layer, or an index's child
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (manifest, blob)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifest_blobs_by_blob ON manifest_blobs(blob);
CREATE TABLE IF NOT EXISTS refs (
    name TEXT PRIMARY KEY,          -- normalized: docker.io/library/x:tag or ...x@sha256:...
    repo TEXT NOT NULL,
    tag TEXT,                       -- NULL for a digest reference
    manifest TEXT NOT NULL,
    updated REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS refs_by_manifest ON refs(manifest);
CREATE TABLE IF NOT EXISTS layer_sizes (
    diff_id TEXT PRIMARY KEY,       -- a layer's uncompressed digest
    size INTEGER NOT NULL           -- bytes of its contents once applied: the SIZE column
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pins (
    blob TEXT NOT NULL,             -- kept although no image needs it (e.g. the build cache)
    owner TEXT NOT NULL,
    PRIMARY KEY (blob, owner)
) WITHOUT ROWID;
"""

_SELECT = """
SELECT m.digest, m.media_type, m.image, m.image_media_type, m.config, m.created, m.created_ts,
       m.image_size, m.labels, m.diff_ids,
       (SELECT group_concat(r.name, char(10)) FROM refs r WHERE r.manifest = m.digest),
       (SELECT max(r.updated) FROM refs r WHERE r.manifest = m.digest),
       (SELECT CASE WHEN count(s.size) = count(*) THEN CAST(total(s.size) AS INTEGER) END
        FROM json_each(m.diff_ids) j LEFT JOIN layer_sizes s ON s.diff_id = j.value)
FROM manifests m
"""
# What `images` lists: anything referenced, and untagged manifests that are not an index's child.
_TOP_LEVEL = """
EXISTS (SELECT 1 FROM refs r WHERE r.manifest = m.digest)
OR NOT EXISTS (SELECT 1 FROM manifest_blobs b WHERE b.blob = m.digest)
"""
_HEX_PREFIX = re.compile(r"^(?:sha256:)?([0-9a-f]{1,64})$")


def parse_time(text: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 time as images carry it, or None."""
    if not text or not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("z", "Z")).timestamp()
    except ValueError:
        return None


def _stored_digest(value: str) -> Digest:
    """A digest read back from the database, validated when it was written."""
    return str.__new__(Digest, value)


def _check_tag(ref: Reference) -> None:
    if ref.digest:
        raise InvalidReference("refusing to create a tag with a digest reference")


def ref_from_name(name: str) -> Reference:
    """Rebuild a Reference from its stored, already normalized string (no re-validation)."""
    if "@" in name:
        repo, _, digest = name.partition("@")
        domain, _, path = repo.partition("/")
        return Reference(domain, path, None, _stored_digest(digest))
    repo, _, tag = name.rpartition(":")
    domain, _, path = repo.partition("/")
    return Reference(domain, path, tag, None)


class StoredImage(Image):
    """An image in the store: an ``Image`` read from the content store, plus its metadata."""

    def __init__(self, content: ContentStore, manifest_digest: Digest, media_type: str, *,
                 target: Digest, id: Digest, repo_tags: list[Reference],
                 repo_digests: list[Reference], created: str | None, created_ts: float | None,
                 size: int | None, labels: dict[str, str] | str, diff_ids: list[str] | str,
                 last_tag_time: float | None = None, compressed_size: int = 0,
                 measure: Callable[[StoredImage], list[int]] | None = None) -> None:
        self.content = content
        self.manifest_digest = manifest_digest
        self.media_type = media_type
        self.target = target  # what the references point at: this manifest or an index
        self._id = id
        self.repo_tags = repo_tags
        self.repo_digests = repo_digests
        self.created = created
        self.created_ts = created_ts
        self._size = size  # None: not measured yet, ``measure`` gives the layers' sizes
        self._measure = measure
        self.compressed_size = compressed_size  # config and layer blobs as stored
        self._labels = labels  # parsed, or the stored JSON parsed on first use
        self._diff_ids = diff_ids
        self.last_tag_time = last_tag_time

    @property
    def size(self) -> int:
        """The layers' contents, uncompressed (Docker's Size). Measured on first use, not
        at store time: a pull or load need not decompress every layer a second time."""
        if self._size is None:
            self._size = sum(self._measure(self)) if self._measure else 0
        return self._size

    @property
    def labels(self) -> dict[str, str]:
        if isinstance(self._labels, str):
            self._labels = json.loads(self._labels)
        return self._labels

    @property
    def diff_ids(self) -> list[str]:
        if isinstance(self._diff_ids, str):
            self._diff_ids = json.loads(self._diff_ids)
        return self._diff_ids

    @property
    def id(self) -> Digest:  # type: ignore[override]
        return self._id

    @property
    def digest(self) -> Digest:
        return self.manifest_digest

    @property
    def dangling(self) -> bool:
        """No tag (Docker's ``repo:<none>``): a repo digest alone does not keep an image
        from ``image prune``."""
        return not self.repo_tags

    def manifest_bytes(self) -> tuple[bytes, str]:
        return self.content.read(self.manifest_digest), self.media_type

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self.content.open(desc.digest)

    def __repr__(self) -> str:
        return f"StoredImage({self.id.short}, {[r.familiar() for r in self.repo_tags]})"


class StoredIndex(ImageIndex):
    """An index in the store; its children are the manifests of it the store holds."""

    def __init__(self, store: ImageStore, digest: Digest, media_type: str) -> None:
        self._store, self._digest, self._media_type = store, digest, media_type

    def index_bytes(self) -> tuple[bytes, str]:
        return self._store.content.read(self._digest), self._media_type

    def child(self, desc: Descriptor) -> Image | ImageIndex:
        return self._store.open_target(desc.digest)

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self._store.content.open(desc.digest)


@dataclass
class Removal:
    """What one removal did, in the order Docker reports it."""

    untagged: list[Reference] = field(default_factory=list)
    deleted_images: list[Digest] = field(default_factory=list)  # image IDs
    deleted_manifests: list[Digest] = field(default_factory=list)
    deleted_blobs: list[tuple[Digest, int]] = field(default_factory=list)

    @property
    def reclaimed(self) -> int:
        return sum(n for _, n in self.deleted_blobs)

    @property
    def deleted_layers(self) -> list[Digest]:
        """Deleted blobs that were layers (not a manifest, index or config)."""
        skip = set(self.deleted_images) | set(self.deleted_manifests)
        return [d for d, _ in self.deleted_blobs if d not in skip]

    def extend(self, other: Removal) -> None:
        self.untagged += other.untagged
        self.deleted_images += other.deleted_images
        self.deleted_manifests += other.deleted_manifests
        self.deleted_blobs += other.deleted_blobs


@dataclass(frozen=True)
class _Record:
    """A manifests row and its blobs, computed before the write transaction."""

    digest: Digest
    media_type: str
    size: int
    image: Digest
    image_media_type: str
    config: Digest
    created: str | None
    image_size: int
    labels: dict
    diff_ids: list[str]
    blobs: list[tuple[Digest, int]]


class ImageStore:
    """Images by name: metadata in ``<root>/images.db``, blobs in the ContentStore at ``root``."""

    def __init__(self, root: Path | str, content: ContentStore | None = None) -> None:
        self.root = Path(root)
        self.content = content or ContentStore(self.root)
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.RLock()

    # -- database ---------------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            private_dir(self.root)  # tightens a root an older wharfie made 0755
            self.content.ensure()
            path = self.root / "images.db"
            try:
                self._db = self._open(path)
            except sqlite3.DatabaseError as e:
                raise WharfieError(f"cannot open the image database {path}: {e} "
                                   "(is it a wharfie store?)") from None
        return self._db

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed removal must survive power loss before its blobs are unlinked.
        db.execute("PRAGMA synchronous=FULL")
        if db.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
            db.execute("BEGIN IMMEDIATE")
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            db.execute("COMMIT")
        return db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextlib.contextmanager
    def _write(self, *, names: bool = True, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction; ``index.json`` is rewritten before it commits, unless the
        transaction changes no manifest or name (``names=False``: pins). ``durable=False``:
        the commit is not waited on to reach the disk; the next durable one takes it there
        (the write-ahead log is written in order)."""
        with self._db_lock:
            db = self.db
            if not durable:
                db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                if names:
                    self._sync_index(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            finally:
                if not durable:
                    db.execute("PRAGMA synchronous=FULL")

    # -- writing ----------------------------------------------------------------------------

    def put_image(self, image: Image, *, progress: Progress | None = None,
                  jobs: int = 1) -> Digest:
        """Copy the blobs of ``image`` the store lacks (verified), then record its manifest.

        ``progress(event, descriptor, nbytes)`` as in ``transports.base.copy_image``, which
        this is, into the store. Does not tag.
        """
        kw = {"progress": progress} if progress else {}
        return copy_image(image, self.destination(), jobs=jobs, **kw)

    def put_manifest(self, raw: bytes, media_type: str, ref: Reference | None = None, *,
                     repo_digest: Reference | None = None,
                     tags: Sequence[Reference] = ()) -> Digest:
        """Record a manifest or index whose blobs are already stored; tag it ``ref`` if given,
        and record ``repo_digest`` (see ``record_repo_digest``) and point ``tags`` at it
        (as ``tag`` does) in the same transaction."""
        record = self._describe(raw, media_type)
        if ref is not None and ref.digest and ref.digest != record.digest:
            raise DigestMismatch(
                f"manifest digest {record.digest} does not match reference {ref.familiar()}")
        for t in tags:
            _check_tag(t)
        self.content.put(raw, record.digest)
        with self.content.lock(shared=True), self._write() as db:
            # Re-check under the lock: a removal in another process may have collected some.
            for blob in [record.digest, *(b for b, _ in record.blobs)]:
                if not self.content.exists(blob):
                    raise NotFound(f"manifest {record.digest} needs blob {blob}, "
                                   "which is not in the store")
            db.execute(
                "INSERT OR IGNORE INTO manifests VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (record.digest, record.media_type, record.size, record.image,
                 record.image_media_type, record.config, record.created,
                 parse_time(record.created), record.image_size,
                 json.dumps(record.labels, sort_keys=True), json.dumps(record.diff_ids),
                 time.time()))
            db.executemany("INSERT OR IGNORE INTO manifest_blobs VALUES (?,?,?)",
                           [(record.digest, b, n) for b, n in record.blobs])
            if ref is not None:
                self._add_ref(db, ref if ref.tag else ref.with_digest(record.digest),
                              record.digest)
            if repo_digest is not None:
                self._add_ref(db, Reference(repo_digest.domain, repo_digest.path, None,
                                            repo_digest.digest), record.digest)
            for t in tags:
                self._add_ref(db, t, record.digest)
        return record.digest

    def _measure_layers(self, layers: list[tuple[str, Digest]]) -> list[tuple[str, int]]:
        """(diff_id, content size) of the layers not measured yet: read once, on the first
        use of an image's size (not at put time: a pull would decompress every layer again),
        then recorded, so listing is SQL."""
        known = {d for (d,) in self.db.execute("SELECT diff_id FROM layer_sizes")} \
            if layers else set()
        out: dict[str, int] = {}
        for diff_id, blob in layers:
            if diff_id not in known and diff_id not in out:
                out[diff_id] = self._layer_content_size(blob)
        return list(out.items())

    def _layer_content_size(self, blob: Digest) -> int:
        """A layer's applied size; a blob that is not a tar (an artifact's) counts as stored.
        (layers/ is imported here: listing images needs no tar or decompressor.)"""
        from wharfie.layers.contentsize import content_size

        try:
            with self.content.open(blob) as f:
                return content_size(f)
        except InvalidInput:
            return self.content.size(blob)

    def layer_sizes(self, img: StoredImage) -> list[int]:
        """The content size of each of the image's layers, bottom first (``history``),
        measured and recorded now for layers not measured yet."""
        pairs = list(zip(img.diff_ids, (d.digest for d in img.manifest.layers), strict=True))
        measured = self._measure_layers(pairs)
        with self._db_lock:
            if measured:
                self.db.executemany("INSERT OR IGNORE INTO layer_sizes VALUES (?,?)", measured)
            known = dict(self.db.execute(
                "SELECT diff_id, size FROM layer_sizes WHERE diff_id IN "
                "(SELECT value FROM json_each(?))", (json.dumps(img.diff_ids),)))
        return [known[d] for d in img.diff_ids]

    def _describe(self, raw: bytes, media_type: str) -> _Record:
        doc = parse_manifest_or_index(raw, media_type)
        if isinstance(doc, Manifest):
            return self._describe_manifest(doc)
        return self._describe_index(doc)

    def _describe_manifest(self, m: Manifest) -> _Record:
        blobs = [m.config, *m.layers]
        for d in blobs:
            self._check_blob(m.digest, d)
        if m.config.media_type not in mt.CONFIGS:
            raise InvalidInput(f"manifest {m.digest}: config media type {m.config.media_type!r} "
                               "is not an image config")
        cfg = ImageConfig.parse(self.content.read(m.config.digest))
        diff_ids = [str(d) for d in cfg.diff_ids]
        if len(diff_ids) != len(m.layers):
            raise InvalidInput(f"manifest {m.digest}: {len(m.layers)} layers but "
                               f"{len(diff_ids)} diff_ids in its config")
        sizes = list(dict.fromkeys((d.digest, d.size) for d in blobs))
        return _Record(m.digest, m.media_type, len(m.raw), m.digest, m.media_type,
                       m.config.digest, cfg.created, sum(n for _, n in sizes), cfg.labels,
                       diff_ids, sizes)

    def _describe_index(self, ix: Index) -> _Record:
        present = [d for d in ix.manifests if self._row(d.digest) is not None]
        if not present:
            raise NotFound(f"index {ix.digest}: none of its manifests is in the store")
        images = [d for d in present if d.media_type in mt.MANIFESTS]
        shown = ix.find(host_platform())
        if shown is None or shown not in present:
            known = [d for d in images if not d.platform or d.platform.os != "unknown"]
            shown = (known or images or present)[0]
        row = self._row(shown.digest)
        assert row is not None
        return _Record(ix.digest, ix.media_type, len(ix.raw), row["image"],
                       row["image_media_type"], row["config"], row["created"],
                       row["image_size"], json.loads(row["labels"]), json.loads(row["diff_ids"]),
                       list(dict.fromkeys((d.digest, d.size) for d in present)))

    def _check_blob(self, manifest: Digest, d: Descriptor) -> None:
        try:
            size = self.content.size(d.digest)
        except NotFound:
            raise NotFound(f"manifest {manifest} needs blob {d.digest}, "
                           "which is not in the store") from None
        if size != d.size:
            raise DigestMismatch(f"blob {d.digest} is {size} bytes, "
                                 f"manifest {manifest} says {d.size}")

    def _row(self, digest: str) -> sqlite3.Row | None:
        cur = self.db.execute(
            "SELECT image, image_media_type, config, created, image_size, labels, diff_ids, "
            "media_type FROM manifests WHERE digest = ?", (digest,))
        cur.row_factory = sqlite3.Row
        return cur.fetchone()

    def tag(self, ref: Reference, manifest_digest: Digest) -> None:
        """Point ``ref`` at a recorded manifest, creating or moving the tag (``docker tag``)."""
        _check_tag(ref)
        with self._write() as db:
            if not db.execute("SELECT 1 FROM manifests WHERE digest = ?",
                              (manifest_digest,)).fetchone():
                raise NotFound(f"No such image: {manifest_digest}")
            self._add_ref(db, ref, manifest_digest)

    def record_repo_digest(self, ref: Reference, manifest_digest: Digest) -> None:
        """Remember that ``ref``'s registry holds the recorded manifest as ``ref.digest``
        (a pull or a push made it so): Docker's RepoDigests, which ``name@digest`` then
        resolves to. A pushed digest may differ from the local one (layers compressed)."""
        ref = Reference(ref.domain, ref.path, None, ref.digest)
        with self._write() as db:
            self._add_ref(db, ref, manifest_digest)

    @staticmethod
    def _add_ref(db: sqlite3.Connection, ref: Reference, manifest: Digest) -> None:
        if ref.tag:
            ref = Reference(ref.domain, ref.path, ref.tag, None)
        db.execute("INSERT OR REPLACE INTO refs VALUES (?,?,?,?,?)",
                   (str(ref), ref.name, ref.tag, manifest, time.time()))

    def refs(self, digest: str) -> list[Reference]:
        """Every name (tags and digest references) pointing at a recorded manifest."""
        with self._db_lock:
            return [ref_from_name(r[0]) for r in self.db.execute(
                "SELECT name FROM refs WHERE manifest = ? ORDER BY name", (digest,))]

    def untag(self, ref: Reference) -> Digest:
        """Remove one reference (tag or digest); returns what it pointed at. Blobs stay."""
        with self._write() as db:
            row = db.execute("DELETE FROM refs WHERE name = ? RETURNING manifest",
                             (str(ref),)).fetchone()
            if row is None:
                raise NotFound(f"No such image: {ref.familiar()}")
        return Digest(row[0])

    def delete(self, digest: Digest, *, untag: bool = False) -> Removal:
        """Delete a recorded manifest (and children no one else needs), then unneeded blobs.

        With references left it refuses unless ``untag``, which removes them first.
        """
        out = Removal()
        with self.content.lock():
            with self._write() as db:
                names = [r[0] for r in db.execute(
                    "SELECT name FROM refs WHERE manifest = ? ORDER BY name", (digest,))]
                if names and not untag:
                    raise Conflict(f"image {digest} is still referenced by {len(names)} name(s)")
                row = db.execute("SELECT config FROM manifests WHERE digest = ?",
                                 (digest,)).fetchone()
                if row is None:
                    raise NotFound(f"No such image: {digest}")
                parent = db.execute("SELECT manifest FROM manifest_blobs WHERE blob = ? LIMIT 1",
                                    (digest,)).fetchone()
                if parent is not None:
                    raise Conflict(f"conflict: unable to delete {Digest(row[0]).short} (cannot be "
                                   f"forced) - image is part of index {Digest(parent[0]).short}")
                db.execute("DELETE FROM refs WHERE manifest = ?", (digest,))
                out.untagged = [ref_from_name(n) for n in names]
                candidates = self._delete_rows(db, digest, out)
                doomed = [(b, n) for b, n in candidates.items() if not self._needed(db, b)]
            self._unlink(doomed, out)
        return out

    def _delete_rows(self, db: sqlite3.Connection, digest: str, out: Removal) -> dict:
        """Delete ``digest``'s rows and, recursively, children left unreferenced."""
        candidates: dict[Digest, int] = {}
        todo = [digest]
        while todo:
            d = todo.pop()
            row = db.execute("DELETE FROM manifests WHERE digest = ? RETURNING config, size, "
                             "digest = image", (d,)).fetchone()
            if row is None:
                continue
            if row[2] and Digest(row[0]) not in out.deleted_images:
                out.deleted_images.append(Digest(row[0]))
            candidates[Digest(d)] = row[1]
            out.deleted_manifests.append(Digest(d))
            for blob, size in db.execute(
                    "DELETE FROM manifest_blobs WHERE manifest = ? RETURNING blob, size",
                    (d,)).fetchall():
                candidates[Digest(blob)] = size
                is_manifest = db.execute("SELECT 1 FROM manifests WHERE digest = ?",
                                         (blob,)).fetchone()
                if is_manifest and not self._needed(db, blob, rows_only=True):
                    todo.append(blob)
        return candidates

    @staticmethod
    def _needed(db: sqlite3.Connection, blob: str, *, rows_only: bool = False) -> bool:
        """True if a remaining manifest needs ``blob`` (or it is itself a referenced manifest)."""
        if db.execute("SELECT 1 FROM manifest_blobs WHERE blob = ? LIMIT 1", (blob,)).fetchone():
            return True
        if db.execute("SELECT 1 FROM pins WHERE blob = ? LIMIT 1", (blob,)).fetchone():
            return True
        if db.execute("SELECT 1 FROM refs WHERE manifest = ? LIMIT 1", (blob,)).fetchone():
            return True
        if rows_only:
            return False
        return db.execute("SELECT 1 FROM manifests WHERE digest = ?", (blob,)).fetchone() \
            is not None

    def _unlink(self, blobs: list[tuple[Digest, int]], out: Removal) -> None:
        dirs = set()
        for b, n in blobs:
            if self.content.delete(b):
                out.deleted_blobs.append((b, n))
                dirs.add(self.content.path(b).parent)
        for d in dirs:
            fsync_dir(d)

    def pin(self, blobs: list[Digest], owner: str) -> None:
        """Keep ``blobs`` through image removal until ``owner`` unpins them (build cache).

        Not waited on to reach the disk (a build pins each layer it makes): losing a pin
        to a crash costs the build cache that layer at worst, as a cache record is only
        used while its blob is there."""
        with self._write(names=False, durable=False) as db:
            db.executemany("INSERT OR IGNORE INTO pins VALUES (?, ?)", [(b, owner) for b in blobs])

    def unpin(self, blobs: list[Digest], owner: str) -> None:
        with self._write(names=False) as db:
            db.executemany("DELETE FROM pins WHERE blob = ? AND owner = ?",
                           [(b, owner) for b in blobs])

    def unreferenced_blobs(self, min_age: float = 0.0) -> list[tuple[Digest, int]]:
        """Blobs on disk that no recorded manifest needs (left by a crash or a foreign tool).

        With ``min_age``, only those unchanged for that many seconds: a younger one may
        belong to a writer between its blob ingest and its manifest record.
        """
        known = {r[0] for r in self.db.execute(
            "SELECT blob FROM manifest_blobs UNION SELECT digest FROM manifests "
            "UNION SELECT blob FROM pins")}
        now = time.time()
        out = []
        for d, n in self.content.walk():
            if d in known:
                continue
            if min_age:
                try:
                    if now - self.content.path(d).stat().st_mtime < min_age:
                        continue
                except FileNotFoundError:
                    continue
            out.append((d, n))
        return out

    def remove_blobs(self, blobs: list[Digest]) -> Removal:
        """Delete blobs that are still unreferenced, under the exclusive lock (GC)."""
        out = Removal()
        with self.content.lock():
            sizes = []
            for b in blobs:
                if self._needed(self.db, b):
                    continue
                with contextlib.suppress(NotFound):
                    sizes.append((b, self.content.size(b)))
            self._unlink(sizes, out)
        return out

    def remove_manifest_row(self, digest: Digest) -> list[Reference]:
        """Forget a broken manifest (blob missing or corrupt) and the refs to it: for repair."""
        with self._write() as db:
            names = [r[0] for r in db.execute("DELETE FROM refs WHERE manifest = ? "
                                              "RETURNING name", (digest,))]
            db.execute("DELETE FROM manifests WHERE digest = ?", (digest,))
            db.execute("DELETE FROM manifest_blobs WHERE manifest = ?", (digest,))
        return [ref_from_name(n) for n in names]

    def sync_index(self) -> None:
        """Rewrite ``index.json`` from the database (repair after a crash between the two)."""
        with self._write():
            pass

    def index_entries(self, db: sqlite3.Connection | None = None) -> list[dict]:
        """What ``index.json`` should list: one entry per reference, then untagged images."""
        db = db or self.db
        entries = []
        for name, tag, digest, media_type, size in db.execute(
                "SELECT r.name, r.tag, m.digest, m.media_type, m.size FROM refs r "
                "JOIN manifests m ON m.digest = r.manifest ORDER BY r.name"):
            ann = {ANNOTATION_IMAGE_NAME: name}
            if tag:
                ann[ANNOTATION_REF_NAME] = tag
            entries.append({"mediaType": media_type, "digest": digest, "size": size,
                            "annotations": ann})
        for digest, media_type, size in db.execute(
                "SELECT m.digest, m.media_type, m.size FROM manifests m WHERE NOT EXISTS "
                "(SELECT 1 FROM refs r WHERE r.manifest = m.digest) AND NOT EXISTS "
                "(SELECT 1 FROM manifest_blobs b WHERE b.blob = m.digest) ORDER BY m.digest"):
            entries.append({"mediaType": media_type, "digest": digest, "size": size})
        return entries

    def _sync_index(self, db: sqlite3.Connection) -> None:
        self.content.write_index(self.index_entries(db))

    # -- reading ----------------------------------------------------------------------------

    def _images(self, where: str = "", params: tuple = ()) -> list[StoredImage]:
        sql = _SELECT + (f" WHERE {where}" if where else "") + \
            " ORDER BY m.created_ts DESC, m.digest"
        with self._db_lock:
            rows = self.db.execute(sql, params).fetchall()
        return [self._from_row(r) for r in rows]

    def _from_row(self, r: tuple) -> StoredImage:
        (digest, _media_type, image, image_media_type, config, created, created_ts,
         compressed_size, labels, diff_ids, names, tagged_at, size) = r
        tags: list[Reference] = []
        digests: list[Reference] = []
        for name in sorted(names.split("\n")) if names else ():
            ref = ref_from_name(name)
            (tags if ref.tag else digests).append(ref)
        target = _stored_digest(digest)
        return StoredImage(self.content, _stored_digest(image), image_media_type, target=target,
                           id=_stored_digest(config), repo_tags=tags, repo_digests=digests,
                           created=created, created_ts=created_ts, size=size,
                           labels=labels, diff_ids=diff_ids, last_tag_time=tagged_at,
                           compressed_size=compressed_size, measure=self.layer_sizes)

    def list(self, *, all: bool = False) -> list[StoredImage]:
        """Images newest first; with ``all`` also the manifests that are an index's children."""
        return self._images("" if all else _TOP_LEVEL)

    def get(self, digest: str) -> StoredImage:
        """The image recorded under a manifest or index digest."""
        found = self._images("m.digest = ?", (digest,))
        if not found:
            raise NotFound(f"No such image: {digest}")
        return found[0]

    def has_manifest(self, digest: str) -> bool:
        with self._db_lock:
            return self.db.execute("SELECT 1 FROM manifests WHERE digest = ?",
                                   (digest,)).fetchone() is not None

    def lookup(self, name_or_id: str) -> Digest:
        """The manifest (or index) digest a name, digest or image ID (prefix) designates."""
        text = name_or_id.strip()
        m = _HEX_PREFIX.match(text)
        if m and len(m.group(1)) == 64:
            return self._by_digest(f"sha256:{m.group(1)}", text)
        ref: Reference | None = None
        try:
            ref = parse_reference(text)
        except InvalidReference:
            if not m:
                raise
        if ref is not None:
            found = self._by_ref(ref)
            if found is not None:
                return found
        if m:
            return self._by_prefix(m.group(1), text)
        assert ref is not None
        raise NotFound(f"No such image: {ref.familiar()}")

    def _by_ref(self, ref: Reference) -> Digest | None:
        """A tag's manifest; for ``name@digest`` (tag or not, as Docker) the manifest
        recorded under that repo digest, else the digest itself if ``name`` holds it."""
        with self._db_lock:
            name = Reference(ref.domain, ref.path, None, ref.digest) if ref.digest else ref
            row = self.db.execute("SELECT manifest FROM refs WHERE name = ?",
                                  (str(name),)).fetchone()
            if row:
                return Digest(row[0])
            return Digest(ref.digest) if ref.digest and self._repo_has(ref) else None

    def _repo_has(self, ref: Reference) -> bool:
        """``repo@digest``: the digest is recorded and some reference of ``repo`` points at it."""
        return self.db.execute("SELECT 1 FROM refs WHERE repo = ? AND manifest = ? LIMIT 1",
                               (ref.name, ref.digest)).fetchone() is not None

    def _by_digest(self, digest: str, text: str) -> Digest:
        with self._db_lock:
            row = self.db.execute(
                "SELECT digest FROM manifests WHERE digest = ? UNION ALL "
                "SELECT digest FROM manifests WHERE config = ? AND digest = image", (digest, digest)
            ).fetchall()
        if not row:
            raise NotFound(f"No such image: {text}")
        return self._prefer_referenced([Digest(r[0]) for r in row])

    def _by_prefix(self, hexprefix: str, text: str) -> Digest:
        pattern = f"sha256:{hexprefix}%"
        with self._db_lock:
            rows = self.db.execute("SELECT DISTINCT config FROM manifests WHERE config LIKE ?",
                                   (pattern,)).fetchall()
            if len(rows) > 1:
                raise Conflict(f"multiple images found with provided prefix: {text}")
            if not rows:
                raise NotFound(f"No such image: {text}")
            digests = [Digest(r[0]) for r in self.db.execute(
                "SELECT digest FROM manifests WHERE config = ?", (rows[0][0],))]
        return self._prefer_referenced(digests)

    def _prefer_referenced(self, digests: list[Digest]) -> Digest:
        """Of manifests sharing an image ID, the one a name points at (an index over its child)."""
        digests = list(dict.fromkeys(digests))
        if len(digests) == 1:
            return digests[0]
        marks = ",".join("?" * len(digests))
        row = self.db.execute(f"SELECT manifest FROM refs WHERE manifest IN ({marks}) "
                              "ORDER BY updated DESC LIMIT 1", digests).fetchone()
        return Digest(row[0]) if row else digests[0]

    def resolve(self, name_or_id: str) -> StoredImage:
        """The image ``name_or_id`` designates; raises NotFound("No such image: X")."""
        return self.get(self.lookup(name_or_id))

    def open_target(self, name_or_digest: str) -> StoredImage | StoredIndex:
        """What a name points at as an Image or, for an index, an ImageIndex (for save/push)."""
        digest = self.lookup(name_or_digest)
        row = self._row(digest)
        if row is None:
            raise NotFound(f"No such image: {name_or_digest}")
        if row["media_type"] in mt.INDEXES:
            return StoredIndex(self, digest, row["media_type"])
        return self.get(digest)

    def destination(self, *, repo_digest: Reference | None = None) -> StoreDestination:
        """A transports ImageDestination writing into this store (recording ``repo_digest``
        with the manifest, for a pull)."""
        return StoreDestination(self, repo_digest)


class StoreDestination(ImageDestination):
    """The store as the destination of a copy: blobs go through verified ingest, and
    ``put_manifest`` records (and tags, given a ref)."""

    def __init__(self, store: ImageStore, repo_digest: Reference | None = None) -> None:
        self.store, self.repo_digest = store, repo_digest

    def has_blob(self, desc: Descriptor) -> bool:
        try:
            return self.store.content.size(desc.digest) == desc.size
        except NotFound:
            return False

    def put_blob(self, desc: Descriptor, stream: BinaryIO, progress: Callable[[int], None]) -> None:
        self.store.content.ingest(stream, desc.digest, desc.size, progress)

    def put_manifest(self, raw: bytes, media_type: str, ref: Reference | None) -> Digest:
        return self.store.put_manifest(raw, media_type, ref, repo_digest=self.repo_digest)
