"""Garbage collection: mark what tags (and, unless asked otherwise, every manifest) reach,
sweep unreferenced blobs. Safe on an eventually consistent store (Swift, whose listings
may leave things out) and while servers run: every push a server answered 201 stays
complete (its manifest, an index's children, every blob they name), because

- liveness comes from objects read by key, never from a listing alone: the repositories
  from ``repositories.json``, each one's tags and manifests from its ``_index`` (listings
  may only add to them), each manifest by its digest;
- a blob is deleted only when two marks at least the grace period apart both found it
  unreferenced: each run records the unreferenced blobs, with when they were first found,
  in ``gc/candidates`` before it deletes anything, so a stale view in one run, or a crash
  between mark and sweep, deletes nothing;
- upload sessions live outside ``blobs/`` and are never touched;
- anything written or touched within the grace period counts as live: a blob, or any
  repository's link to it (servers touch the link, then the blob, when a client finds a
  blob, re-uploads it, mounts it or pushes a manifest naming it);
- an untagged manifest is deleted only under its namespace's lock (which manifest pushes
  hold too) after a last look: still untagged, and neither pushed again nor named by a new
  index (an index push touches its children) since the mark; one that stays keeps its blobs;
- a blob is first moved aside, then deleted only if no repository linked or touched it
  meanwhile, else put back: a push that touched the link before it looked at the blob
  either sees it gone (and uploads it again) or gets it back;
- an index keeps its children, and a live manifest keeps its referrers.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.server.repositories import TOUCH_AFTER, RegistryStore, blob_key, parked_key

DEFAULT_GRACE = 3600.0
CANDIDATES = "gc/candidates"  # blobs found unreferenced: {"ages": {digest: seconds}}


@dataclass
class GcReport:
    dry_run: bool
    manifests: list[tuple[str, Digest]] = field(default_factory=list)  # (repo, digest)
    blobs: list[tuple[Digest, int]] = field(default_factory=list)
    kept_blobs: int = 0

    @property
    def freed(self) -> int:
        return sum(size for _, size in self.blobs)


def manifest_children(raw: bytes) -> tuple[list[Digest], list[Digest]]:
    """(manifests, blobs) a manifest or index references; nothing if it does not parse."""
    try:
        doc = json.loads(raw)
        if doc.get("mediaType") in mt.INDEXES or "manifests" in doc:
            return [Digest(m["digest"]) for m in doc.get("manifests") or []], []
        blobs = [Digest(doc["config"]["digest"])] if doc.get("config") else []
        blobs += [Digest(x["digest"]) for x in doc.get("layers") or [] if not x.get("urls")]
        return [], blobs
    except (ValueError, KeyError, TypeError, AttributeError):
        return [], []


def _subject(raw: bytes) -> Digest | None:
    try:
        return Digest(json.loads(raw)["subject"]["digest"])
    except (ValueError, KeyError, TypeError):
        return None


def live_manifests(store: RegistryStore, repo: str, roots: Iterable[Digest],
                   revisions: set[Digest]) -> set[Digest]:
    """``roots`` plus every manifest of ``repo`` they reach: an index's children (recursively)
    and referrers of anything live."""
    live: set[Digest] = set()
    subjects: dict[Digest, list[Digest]] = {}
    for d in revisions:
        raw = store.manifest_bytes(d)
        s = _subject(raw) if raw else None
        if s is not None:
            subjects.setdefault(s, []).append(d)
    todo = [d for d in roots if d in revisions]
    while todo:
        d = todo.pop()
        if d in live:
            continue
        live.add(d)
        raw = store.manifest_bytes(d)
        if raw:
            todo += [c for c in manifest_children(raw)[0] if c in revisions]
        todo += subjects.get(d, [])
    return live


@dataclass
class Marks:
    """What the mark phase found: the blobs manifests reference, those linked within the
    grace period (kept, but unreferenced all the same), and the report so far."""

    report: GcReport
    live: set[Digest]
    recent: set[Digest]
    grace: float
    now: float


def mark(store: RegistryStore, *, dry_run: bool = False, delete_untagged: bool = False,
         grace: float = DEFAULT_GRACE, now: float | None = None) -> Marks:
    """Find every live blob; delete (unless ``dry_run``) manifests no tag reaches when asked."""
    grace = max(grace, 2 * TOUCH_AFTER)
    now = now or time.time()
    report = GcReport(dry_run)
    live: set[Digest] = set()
    recent: set[Digest] = set()
    for repo in store.every_repository():
        index = store.repo_index(repo)
        named = {Digest(d) for d in index.manifests} | {d for d, _ in store.revisions(repo)}
        revisions = {d: t for d in named if (t := store.revision_time(repo, d)) is not None}
        roots = {Digest(d) for d in index.tags.values()}
        if delete_untagged:
            roots |= {d for d, mtime in revisions.items() if now - mtime < grace}
        else:
            roots |= set(revisions)
        reachable = live_manifests(store, repo, roots, set(revisions))
        for d in sorted(set(revisions) - reachable):
            if dry_run or store.delete_untagged(repo, d, written_before=now - grace):
                report.manifests.append((repo, d))
            else:
                reachable.add(d)  # tagged or pushed again meanwhile: it and its blobs stay
        for d in reachable:
            live.add(d)
            raw = store.manifest_bytes(d)
            if raw:
                live.update(manifest_children(raw)[1])
        recent.update(d for d, mtime in store.layers(repo) if now - mtime < grace)
    return Marks(report, live, recent, grace, now)


def first_found(store: RegistryStore) -> dict[Digest, float]:
    """When each blob in CANDIDATES was first found unreferenced. Times are kept as ages
    against the record's own modification time: the store's clock, as for every object."""
    st, raw = store.driver.stat(CANDIDATES), store.driver.read(CANDIDATES)
    if st is None or raw is None:
        return {}
    return {Digest(d): st.mtime - age for d, age in json.loads(raw)["ages"].items()}


def record_candidates(store: RegistryStore, found: dict[Digest, float]) -> None:
    """Ages as of now, the moment of writing: the record's modification time."""
    now = time.time()
    ages = {str(d): max(0.0, now - t) for d, t in sorted(found.items())}
    store.driver.write(CANDIDATES, json.dumps({"ages": ages}).encode())


def sweep(store: RegistryStore, marks: Marks) -> GcReport:
    """Delete blobs this mark and one at least the grace period earlier both found
    unreferenced, and not written within the grace period. This mark's candidates are
    recorded first. Each blob is re-checked just before deletion: an upload finishing
    meanwhile, or a push that finds it after the mark, refreshes it or its link."""
    report, grace, now = marks.report, marks.grace, marks.now
    earlier = first_found(store)
    found: dict[Digest, float] = {}
    due = []
    for key, st in list(store.driver.walk("blobs")):
        alg, hexpart = key.split("/")[1:3]
        d = Digest(f"{alg}:{hexpart}")
        if d in marks.live:
            report.kept_blobs += 1
            continue
        found[d] = earlier.get(d, now)
        if d in marks.recent or now - st.mtime < grace or now - found[d] < grace:
            report.kept_blobs += 1
            continue
        due.append((d, st.size))
    if not report.dry_run:
        record_candidates(store, found)
    for d, size in due:
        fresh = store.driver.stat(blob_key(d))
        if fresh is None or time.time() - fresh.mtime < grace:
            continue
        if report.dry_run or _remove_blob(store, d, grace):
            report.blobs.append((d, size))
    if not report.dry_run and report.blobs:
        gone = {d for d, _ in report.blobs}
        for repo in store.every_repository():
            for d, mtime in list(store.layers(repo)):
                if d in gone and now - mtime >= grace:
                    store.unlink_blob(repo, d)
    return report


def _remove_blob(store: RegistryStore, d: Digest, grace: float) -> bool:
    """Move the blob aside, and delete it only if no repository linked or touched it in the
    meantime (else put it back). False when it stays."""
    key, parked = blob_key(d), parked_key(d)
    try:
        store.driver.move(key, parked)
    except FileNotFoundError:
        return False
    if store.blob_linked_within(d, grace):
        with contextlib.suppress(FileNotFoundError):  # another GC's restore_parked was first
            store.driver.move(parked, key)
        return False
    if not store.driver.delete(parked):
        return False  # put back by another GC's restore_parked: it stays
    store.forget_cached(d)
    return True


def restore_parked(store: RegistryStore) -> int:
    """Put back the blobs a GC killed mid-sweep left aside; this run judges them afresh.
    Returns how many came back."""
    restored = 0
    for key, _ in list(store.driver.walk("gc-parked")):
        alg, hexpart = key.split("/")[1:3]
        home = blob_key(Digest(f"{alg}:{hexpart}"))
        if store.driver.stat(home) is None:
            with contextlib.suppress(FileNotFoundError):
                store.driver.move(key, home)
                restored += 1
        else:
            store.driver.delete(key)
    return restored


def collect(store: RegistryStore, *, dry_run: bool = False, delete_untagged: bool = False,
            grace: float = DEFAULT_GRACE, now: float | None = None) -> GcReport:
    """Collect garbage once; returns what was (or, with ``dry_run``, would be) deleted."""
    if not dry_run:
        restore_parked(store)
    return sweep(store, mark(store, dry_run=dry_run, delete_untagged=delete_untagged,
                             grace=grace, now=now))
