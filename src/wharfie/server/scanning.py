"""Scan on push: each image manifest a client pushes is scanned in the background (one
worker thread per server process, so the push answers at once) with ``wharfie scan``'s
library scanner, its blobs read from the registry's own storage. The SARIF report is kept
in the same repository as an OCI referrer of the image (``artifactType``
``application/sarif+json``), with the counts per severity and the database's date as
annotations, so the referrers API and the web UI show it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
import time
from pathlib import Path

from wharfie.errors import WharfieError
from wharfie.oci import mediatypes as mt
from wharfie.oci.digest import Digest
from wharfie.oci.image import BytesImage, Image
from wharfie.oci.manifest import Descriptor, Index, Manifest
from wharfie.server.repositories import RegistryStore
from wharfie.signing.required import StoreBlobs

log = logging.getLogger("wharfie.server.scan")
SARIF_TYPE = "application/sarif+json"
ANNOTATION = "org.wharfie.scan."  # + critical, high, medium, low, unknown, db-date
DB_DATE = ANNOTATION + "db-date"
QUEUE_SIZE = 1024


def require_database(db_root: Path) -> None:
    """Refuse to scan on push without a vulnerability database: every report would be
    empty, which reads as 'no vulnerabilities'."""
    from wharfie.security.vulns.db import db_path

    if not db_path(db_root).is_file():
        raise WharfieError(f"--scan-on-push: no vulnerability database in {db_root}: run "
                           f"`wharfie --root {db_root} db import PATH` (or `db pull REF`) first")


def is_image(doc: Manifest | Index, raw: bytes) -> bool:
    """An image manifest: not an index, not an artifact (a subject, an artifactType, or
    layers that are not filesystem tars, as cosign's ``.sig`` manifests)."""
    if not isinstance(doc, Manifest) or doc.subject is not None:
        return False
    return (not json.loads(raw).get("artifactType") and doc.config.media_type in mt.CONFIGS
            and all(d.media_type in mt.LAYERS for d in doc.layers))


def report_descriptor(store: RegistryStore, repo: str, digest: str) -> dict | None:
    """The newest scan report among the referrers of ``digest`` in ``repo`` (its
    descriptor, with the counts in its annotations), or None when not scanned."""
    found = [r for r in store.referrers(repo, digest) if r.get("artifactType") == SARIF_TYPE]
    found.sort(key=lambda r: (r.get("annotations") or {}).get(
        "org.opencontainers.image.created", ""))
    return found[-1] if found else None


def counts(descriptor: dict) -> dict[str, int]:
    """Findings per severity (CRITICAL first), from a report's annotations."""
    from wharfie.security.vulns import SEVERITIES

    notes = descriptor.get("annotations") or {}
    return {s: int(notes.get(ANNOTATION + s.lower(), 0)) for s in SEVERITIES}


def _database_date(db_root: Path) -> str:
    from wharfie.security.vulns.db import status

    newest = max((s["imported"] for s in status(db_root)), default=0.0)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(newest))


def scan_stored(store: RegistryStore, repo: str, digest: Digest, db_root: Path) -> Digest:
    """Scan the stored image ``digest`` of ``repo`` and keep the report as its referrer."""
    from wharfie.oci.artifact import referrer_artifact
    from wharfie.security.report import scan_image
    from wharfie.security.reportformats import to_sarif
    from wharfie.security.vulns import SEVERITIES

    stored = store.get_manifest(repo, str(digest))
    if stored is None:
        raise WharfieError(f"{repo}@{digest}: deleted before it was scanned")
    image = BytesImage(stored.raw, stored.media_type, StoreBlobs(store))
    report = scan_image(image, db_root, name=f"{repo}@{digest}")
    found = [*report.vulnerabilities, *report.secrets, *report.misconfigs]
    notes = {ANNOTATION + s.lower(): str(sum(f.severity == s for f in found))
             for s in SEVERITIES}
    notes[DB_DATE] = _database_date(db_root)
    notes["org.opencontainers.image.created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                              time.gmtime())
    sarif = json.dumps(to_sarif(report), indent=1).encode()
    subject = Descriptor(stored.media_type, digest, len(stored.raw))
    return put_artifact(store, repo, referrer_artifact(sarif, SARIF_TYPE, subject,
                                                       title="scan.sarif.json",
                                                       annotations=notes))


def put_artifact(store: RegistryStore, repo: str, artifact: Image) -> Digest:
    """Write an artifact's blobs and manifest as a push would: an upload session per blob,
    then the manifest, checked and stored under the namespace lock."""
    for desc in artifact.blobs():
        _put_blob(store, repo, artifact.read_blob(desc), desc.digest)
    raw, media_type = artifact.manifest_bytes()
    with store.namespace_lock(repo):
        doc = store.check_manifest(repo, raw, media_type)
        return store.put_manifest(repo, raw, media_type, doc, None)


def _put_blob(store: RegistryStore, repo: str, data: bytes, digest: Digest) -> None:
    upload_id = store.start_upload(repo, "scan-on-push")
    path = store.driver.spool_dir() / f"scan-{os.getpid()}-{os.urandom(8).hex()}"
    path.write_bytes(data)
    try:
        store.add_part(upload_id, 0, path, hashlib.sha256(data), len(data))
        store.finish_upload(repo, upload_id, digest)
    except BaseException:
        path.unlink(missing_ok=True)
        store.cancel_upload(upload_id)
        raise


class ScanQueue:
    """A small queue and one worker thread: ``pushed`` never blocks nor raises, a failed
    scan is one log line, and an image already scanned (or waiting) is not scanned again."""

    def __init__(self, store: RegistryStore, db_root: Path) -> None:
        self.store, self.db_root = store, db_root
        self._queue: queue.Queue[tuple[str, Digest] | None] = queue.Queue(QUEUE_SIZE)
        self._waiting: set[tuple[str, Digest]] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="scan-on-push", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(30)

    def pushed(self, repo: str, digest: Digest, doc: Manifest | Index, raw: bytes) -> None:
        """The hook the server calls after a manifest PUT succeeded."""
        if not is_image(doc, raw):
            return
        job = (repo, digest)
        with self._lock:
            if job in self._waiting:
                return
            self._waiting.add(job)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            with self._lock:
                self._waiting.discard(job)
            log.error("scan-on-push: queue full, %s@%s not scanned", repo, digest)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            repo, digest = job
            try:
                if report_descriptor(self.store, repo, digest) is None:
                    report = scan_stored(self.store, repo, digest, self.db_root)
                    log.info("scan-on-push: %s@%s scanned: report %s", repo, digest, report)
            except Exception as e:  # noqa: BLE001 - a scan must never stop the worker
                log.error("scan-on-push: %s@%s not scanned: %s: %s", repo, digest,
                          type(e).__name__, e)
            finally:
                with self._lock:
                    self._waiting.discard(job)
