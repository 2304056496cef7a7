"""``prune_cache``: reclaim the build cache, as ``docker builder prune``."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from wharfie.builder.cache import BuildCache, CacheRecord
from wharfie.builder.job import CACHE_PIN
from wharfie.images.imagestore import ImageStore


@dataclass
class PruneReport:
    """The cache records removed, and the bytes that freed."""

    deleted: list[CacheRecord] = field(default_factory=list)
    reclaimed: int = 0


def prune_cache(images: ImageStore, *, everything: bool = False, until: float | None = None,
                keep_storage: int | None = None) -> PruneReport:
    """Remove dangling build cache (``everything``: all of it, with cache mounts and git
    checkouts), or only records older than ``until`` (a time), keeping ``keep_storage`` bytes.

    >>> prune_cache(ImageStore(root), everything=True).reclaimed
    """
    cache = BuildCache(images.root / "build", images.content)
    in_images = {d.digest for img in images.list(all=True) for d in img.manifest.layers}
    doomed = cache.prune(everything=everything, older_than=until, keep_bytes=keep_storage,
                         in_images=in_images)
    still = cache.layers()
    blobs = [r.layer.digest for r in doomed if r.layer and r.layer.digest not in still]
    images.unpin(blobs, CACHE_PIN)
    reclaimed = images.remove_blobs(blobs).reclaimed
    if everything:  # cache mounts, and the checkouts of git build contexts
        for kept in (images.root / "build" / "cache-mounts", images.root / "build" / "git"):
            if kept.exists():
                reclaimed += sum(p.stat().st_size for p in kept.rglob("*") if p.is_file())
                shutil.rmtree(kept)
    return PruneReport(doomed, reclaimed)
