"""The build cache: step keys and what each keyed step produced.

A key is a hash of the parent key and everything the step's result depends
on (command, environment and ARGs it sees, user, working directory, mounts,
content checksums of what it copies): never of a secret's value. A record
holds the layer the step produced (or none) and when it was made, so a fully
cached rebuild gives a bit-identical image. Layers live in the content store;
a record whose blob has since been removed counts as a miss.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wharfie.oci.digest import Digest
from wharfie.oci.manifest import Descriptor

if TYPE_CHECKING:  # a no-change rebuild's fast path reads records without the blob store
    from wharfie.content.blobstore import ContentStore


def step_key(parent: str, kind: str, **inputs: object) -> str:
    """A cache key: sha256 of the parent key, the step kind and its inputs (canonical JSON)."""
    payload = json.dumps({"parent": parent, "kind": kind, "inputs": inputs}, sort_keys=True,
                         separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class CacheRecord:
    """What a cached step made: its time and layer (None: no layer)."""

    created: str
    layer: Descriptor | None
    diff_id: Digest | None


class BuildCache:
    """Step results by key, in SQLite beside the content store."""

    def __init__(self, root: Path, content: ContentStore) -> None:
        self.content = content
        self._lock = threading.Lock()  # stages run in parallel threads
        root.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(root / "build-cache.db", timeout=30, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: commits do not fsync (a crash may lose the last records, never
        # corrupt them); a warm build writes a record per step and would wait on each
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS steps (key TEXT PRIMARY KEY, created TEXT NOT NULL, "
            "layer TEXT, diff_id TEXT, used REAL NOT NULL) WITHOUT ROWID")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS explain (ident TEXT PRIMARY KEY, inputs TEXT NOT NULL) "
            "WITHOUT ROWID")

    def get(self, key: str) -> CacheRecord | None:
        with self._lock:
            row = self._db.execute("SELECT created, layer, diff_id FROM steps WHERE key = ?",
                                   (key,)).fetchone()
        if row is None:
            return None
        layer = Descriptor.from_dict(json.loads(row[1])) if row[1] else None
        if layer is not None and not self.content.exists(layer.digest):
            return None
        with self._lock:
            self._db.execute("UPDATE steps SET used = ? WHERE key = ?", (time.time(), key))
        return CacheRecord(row[0], layer, Digest(row[2]) if row[2] else None)

    def put(self, key: str, record: CacheRecord) -> None:
        layer = json.dumps(record.layer.to_dict()) if record.layer else None
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?)",
                             (key, record.created, layer, record.diff_id, time.time()))

    def remember(self, ident: str, inputs: dict) -> dict | None:
        """Record the inputs a step ran with; return those of its previous run, if any."""
        text = json.dumps(inputs, sort_keys=True, default=str)
        with self._lock:
            row = self._db.execute("SELECT inputs FROM explain WHERE ident = ?",
                                   (ident,)).fetchone()
            self._db.execute("INSERT OR REPLACE INTO explain VALUES (?, ?)", (ident, text))
        return json.loads(row[0]) if row else None

    def records(self, keys: list[str] | None = None) -> dict[str, CacheRecord]:
        """Records by key: the given keys (those present), or all of them."""
        with self._lock:
            rows = self._db.execute("SELECT key, created, layer, diff_id FROM steps").fetchall()
        wanted = set(keys) if keys is not None else None
        return {k: CacheRecord(c, Descriptor.from_dict(json.loads(la)) if la else None,
                               Digest(d) if d else None)
                for k, c, la, d in rows if wanted is None or k in wanted}

    def usage(self) -> tuple[int, int]:
        """(records, bytes of layer blobs they hold)."""
        recs = self.records()
        sizes = {r.layer.digest: r.layer.size for r in recs.values() if r.layer}
        return len(recs), sum(sizes.values())

    def layers(self) -> set[Digest]:
        """Every layer blob the cache refers to (what cache pruning may reclaim)."""
        return {Descriptor.from_dict(json.loads(r[0])).digest
                for r in self._db.execute("SELECT layer FROM steps WHERE layer IS NOT NULL")}

    def prune(self, *, everything: bool, older_than: float | None, keep_bytes: int | None,
              in_images: set[Digest]) -> list[CacheRecord]:
        """Forget records: all (``everything``), else those whose layer no image uses;
        either way only those unused since ``older_than``, least recently used first,
        stopping once the rest fits in ``keep_bytes``. Returns the forgotten records."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, created, layer, diff_id, used FROM steps ORDER BY used").fetchall()
        entries = [(k, CacheRecord(c, Descriptor.from_dict(json.loads(la)) if la else None,
                                   Digest(d) if d else None), used)
                   for k, c, la, d, used in rows]
        total = sum(r.layer.size for _, r, _ in entries if r.layer)
        doomed: list[tuple[str, CacheRecord]] = []
        for key, rec, used in entries:
            if keep_bytes is not None and total <= keep_bytes:
                break
            if older_than is not None and used >= older_than:
                continue
            if not everything and rec.layer is not None and rec.layer.digest in in_images:
                continue
            doomed.append((key, rec))
            total -= rec.layer.size if rec.layer else 0
        with self._lock:
            self._db.executemany("DELETE FROM steps WHERE key = ?", [(k,) for k, _ in doomed])
        return [r for _, r in doomed]

    def close(self) -> None:
        self._db.close()


def explain_miss(old: dict | None, new: dict) -> str:
    """Why a step missed the cache, in words: the inputs that differ from its last run."""
    if old is None:
        return "no earlier build of this step"
    reasons = []
    for field in sorted(set(old) | set(new)):
        if field in ("files", "parent", "sources") or old.get(field) == new.get(field):
            continue
        reasons.append(f"{field} changed ({_short(old.get(field))} -> {_short(new.get(field))})")
    before, after = old.get("files") or {}, new.get("files") or {}
    if before != after:
        changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5
                                          else "")
        reasons.append(f"files changed: {shown}")
    if not reasons and old.get("sources") != new.get("sources"):
        reasons.append("the source files changed")
    if not reasons and old.get("parent") != new.get("parent"):
        reasons.append("an earlier step or the base image changed")
    return "; ".join(reasons) or "the step's record was evicted from the cache"


def _short(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
