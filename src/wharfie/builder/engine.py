"""``Builder``: builds Dockerfiles into one wharfie root, one ``Job`` per build.

Stages run in dependency order, independent ones side by side. Each step that
changes the filesystem (RUN, COPY, ADD, WORKDIR) runs in a fresh snapshot of
its parent's layers and is committed as one layer; a step whose cache key is
already known reuses the layer it made before. Everything else only edits the
image config (``imageconfig.StageImage``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from wharfie.builder.cache import BuildCache
from wharfie.builder.context import HashCache
from wharfie.builder.job import CACHE_PIN, Job
from wharfie.builder.mounts import sweep_abandoned
from wharfie.builder.request import BuildRequest, StageState
from wharfie.builder.result import BuildEvent, BuildResult
from wharfie.fs.private import make_private_dirs
from wharfie.images.imagestore import ImageStore
from wharfie.oci.digest import Digest
from wharfie.oci.image import BlobSource
from wharfie.oci.manifest import Descriptor
from wharfie.oci.mutate import commit_image
from wharfie.oci.reference import Reference, parse_reference
from wharfie.oci.timestamps import rfc3339
from wharfie.snapshots import Snapshotter, for_root

if TYPE_CHECKING:
    from wharfie.transports.registry.client import RegistryOptions

__all__ = ["CACHE_PIN", "Builder"]


class _Blobs(BlobSource):
    def __init__(self, store: ImageStore) -> None:
        self.store = store

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self.store.content.open(desc.digest)


class Builder:
    """Builds images from Dockerfiles into one wharfie root."""

    def __init__(self, root: Path, store: ImageStore,
                 emit: Callable[[BuildEvent], None] | None = None,
                 snapshotter: Snapshotter | None = None, *,
                 registries: RegistryOptions | None = None) -> None:
        self.root = Path(root)
        self.store = store
        self.emit = emit or (lambda e: None)
        self.registries = registries  # for base image pulls and registry caches
        self.snap = snapshotter or for_root(self.root)  # sweeps killed builds' snapshots
        sweep_abandoned(make_private_dirs(self.root / "build" / "tmp"))  # and their secrets
        self.cache = BuildCache(self.root / "build", store.content)
        self.hashes = HashCache(self.root / "build" / "hashes.db")
        self.blobs = _Blobs(store)
        self.lock = threading.RLock()  # pulls (and their announcements) happen under it
        self.steps = 0  # steps announced so far, numbered from 1

    def announce(self, text: str) -> int:
        """Number a new step and say so."""
        with self.lock:
            self.steps += 1
            n = self.steps
        self.emit(BuildEvent("step", n, text))
        return n

    def build(self, req: BuildRequest) -> BuildResult:
        job = Job(self, req)
        final = job.run()
        tags = [parse_reference(tag) for tag in req.tags]
        # tagged as it is recorded (one transaction), unless the squashed image gets them
        digest, image_id = self._commit_image(final, req, [] if req.squash else tags)
        if req.cache_to is not None:
            from wharfie.builder.cache.transfer import export_to  # only for --cache-to

            scratch = self.root / "build" / "tmp"
            scratch.mkdir(parents=True, exist_ok=True)
            export_to(self.cache, job.used_keys, req.cache_to, scratch, self.registries)
        if req.squash:
            digest, image_id = self._squash(digest, final.base_layers, req)
            for tag in tags:
                self.store.tag(tag, digest)
        return BuildResult(digest, image_id, job.warnings, cache_keys=list(job.used_keys),
                           base_images={name: str(img.digest)
                                        for name, img in job.external.items()})

    def _commit_image(self, st: StageState, req: BuildRequest,
                      tags: list[Reference]) -> tuple[Digest, Digest]:
        doc = st.image.doc
        if req.labels:
            labels = dict(doc["config"].get("Labels") or {})
            labels.update(req.labels)
            doc["config"]["Labels"] = labels
        doc["created"] = st.image.created or rfc3339(time.time())
        return commit_image(self.store, doc, [d for d, _ in st.layers], tags=tags)

    def _squash(self, digest: Digest, keep: int, req: BuildRequest) -> tuple[Digest, Digest]:
        from wharfie.builder.squash import squash

        new = squash(self.store, self.store.get(digest), keep_base=keep, epoch=req.epoch)
        return new.manifest_digest, new.id
