"""``system check``: verify every blob's digest and every reference; optionally repair.

A problem is something that makes an image unusable (a corrupt or missing blob,
a tag to nothing) or disk wasted (blobs no image needs, abandoned ingests), or
``index.json`` out of step with the tags. Repair removes what is broken; it
never invents content.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from wharfie.errors import WharfieError
from wharfie.images.imagestore import ImageStore, ref_from_name
from wharfie.oci.digest import Digest
from wharfie.oci.manifest import Manifest, parse_manifest_or_index


@dataclass
class Problem:
    subject: str  # a digest, a name, or a file
    message: str
    repair: str = ""  # what --repair did about it


@dataclass
class CheckReport:
    blobs: int = 0
    images: int = 0
    references: int = 0
    problems: list[Problem] = field(default_factory=list)
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems or (self.repaired and all(p.repair for p in self.problems))


# Unreferenced blobs younger than this are left alone: a pull or load in another process may
# have ingested them and not yet recorded the manifest that needs them.
ORPHAN_GRACE = 3600.0


def check_store(store: ImageStore, *, repair: bool = False,
                grace: float = ORPHAN_GRACE) -> CheckReport:
    """Check (and with ``repair`` fix) the store; see the module docstring."""
    rep = CheckReport(repaired=repair)
    db = store.db
    integrity = db.execute("PRAGMA quick_check").fetchone()[0]
    if integrity != "ok":
        rep.problems.append(Problem(str(store.root / "images.db"), f"database: {integrity}"))

    corrupt: set[str] = set()
    for digest, _ in store.content.walk():
        rep.blobs += 1
        if not store.content.verify(digest):
            corrupt.add(digest)
            rep.problems.append(Problem(digest, "blob content does not match its digest"))

    manifests = dict(db.execute("SELECT digest, media_type FROM manifests"))
    needs: dict[str, list[str]] = {}
    for m, blob in db.execute("SELECT manifest, blob FROM manifest_blobs"):
        needs.setdefault(m, []).append(blob)
    broken: dict[str, str] = {}
    for digest, media_type in manifests.items():
        rep.images += 1
        reason = _manifest_problem(store, digest, media_type, needs.get(digest, []), corrupt)
        if reason:
            broken[digest] = reason
    # An index whose child is broken is broken too.
    changed = True
    while changed:
        changed = False
        for digest in manifests:
            if digest not in broken and any(b in broken for b in needs.get(digest, [])):
                broken[digest] = "needs a broken manifest"
                changed = True
    for digest, reason in broken.items():
        names = ", ".join(r.familiar() for r in store.refs(digest))
        rep.problems.append(Problem(digest, f"image{f' ({names})' if names else ''}: {reason}"))

    dangling_refs = []
    for name, manifest in db.execute("SELECT name, manifest FROM refs"):
        rep.references += 1
        if manifest not in manifests:
            dangling_refs.append(name)
            rep.problems.append(Problem(name, f"reference points at missing manifest {manifest}"))

    index_ok = _index_in_sync(store)
    if not index_ok:
        rep.problems.append(Problem(str(store.root / "index.json"), "out of date with the tags"))

    orphans = [(d, n) for d, n in store.unreferenced_blobs(grace) if d not in corrupt]
    for d, n in orphans:
        rep.problems.append(Problem(d, f"blob of {n} bytes needed by no image"))

    # Any age: a live writer holds its file's flock, so what we can lock is abandoned.
    ingests = [Problem(str(path), f"abandoned ingest file of {n} bytes (its writer has gone)")
               for path, n in store.content.abandoned_ingests()]
    rep.problems += ingests

    if repair:
        forgotten = {b for d in broken for b in (d, *needs.get(d, []))}
        _repair(store, rep, corrupt, broken, dangling_refs, index_ok, orphans, forgotten)
        store.content.cleanup_ingests()
        for p in ingests:
            if not Path(p.subject).exists():
                p.repair = "removed it"
    return rep


def _manifest_problem(store: ImageStore, digest: str, media_type: str, needs: list[str],
                      corrupt: set[str]) -> str:
    if not store.content.exists(digest):
        return "manifest blob is missing"
    if digest in corrupt:
        return "manifest blob is corrupt"
    try:
        doc = parse_manifest_or_index(store.content.read(digest), media_type)
    except WharfieError as e:
        return f"manifest does not parse: {e}"
    wanted = [str(d.digest) for d in (doc.config, *doc.layers)] if isinstance(doc, Manifest) \
        else []
    for blob in dict.fromkeys([*wanted, *needs]):
        if not store.content.exists(blob):
            return f"blob {blob} is missing"
        if blob in corrupt:
            return f"blob {blob} is corrupt"
    return ""


def _index_in_sync(store: ImageStore) -> bool:
    try:
        doc = json.loads((store.root / "index.json").read_bytes())
    except (OSError, ValueError):
        return False
    return doc.get("manifests") == store.index_entries()


def _repair(store: ImageStore, rep: CheckReport, corrupt: set[str], broken: dict[str, str],
            dangling_refs: list[str], index_ok: bool, orphans: list, forgotten: set[str]
            ) -> None:
    by_subject = {p.subject: p for p in rep.problems}
    for digest in broken:
        removed = store.remove_manifest_row(Digest(digest))
        names = ", ".join(r.familiar() for r in removed)
        by_subject[digest].repair = "forgot the image" + (f" and removed {names}" if names else "")
    for name in dangling_refs:
        store.untag(ref_from_name(name))
        by_subject[name].repair = "removed the reference"
    store.sync_index()  # before any blob goes: index.json must not list what is removed
    # Blobs: the corrupt ones, the orphans, and what forgetting broken images left unneeded.
    removal = store.remove_blobs([Digest(d) for d in corrupt] + [d for d, _ in orphans])
    gone = {d for d, _ in removal.deleted_blobs}
    for d in [*corrupt, *(d for d, _ in orphans)]:
        if d in gone:
            by_subject[d].repair = "removed the blob"
    extra = store.remove_blobs([Digest(d) for d in sorted(forgotten - gone)
                                if store.content.exists(d)])
    rep.problems += [Problem(d, "blob no longer needed after repair", "removed the blob")
                     for d, _ in extra.deleted_blobs]
    store.sync_index()
    if not index_ok:
        by_subject[str(store.root / "index.json")].repair = "rewrote it"
