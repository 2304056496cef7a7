"""``docker system df`` for the image store: what images take, share and could give back.

Sizes are the layers' contents, uncompressed (``ImageStore.layer_sizes``), as Docker
counts them; a layer two images share (the same chain of diffIDs) counts once. An image
is active when a container uses it, and RECLAIMABLE is Docker's figure: every layer's
bytes but those only the active images use. The build cache row counts stored blobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from wharfie.images.imagestore import ImageStore, StoredImage


@dataclass
class ImageUsage:
    image: StoredImage
    size: int  # its layers' contents
    shared: int  # of which layers another image has too
    unique: int
    containers: int = 0  # containers created from it


@dataclass
class DiskUsage:
    images: list[ImageUsage] = field(default_factory=list)
    layers_size: int = 0  # every distinct layer's contents (Docker's LayersSize)
    cache_blobs: int = 0  # blobs pinned by the build cache
    cache_active: int = 0  # of which an image needs too
    cache_size: int = 0
    cache_reclaimable: int = 0  # bytes pinned only by the cache (``builder prune`` frees them)

    @property
    def active(self) -> int:
        """Images a container uses."""
        return sum(1 for u in self.images if u.containers)

    @property
    def reclaimable(self) -> int:
        """Docker's formula: all layers but the unique ones of the images in use."""
        return self.layers_size - sum(u.unique for u in self.images if u.containers)


def _chains(diff_ids: list[str], sizes: list[int]) -> dict[tuple[str, ...], int]:
    """Each layer keyed by its chain (the diffIDs up to it), as Docker's layer store shares."""
    return {tuple(diff_ids[:i + 1]): n for i, n in enumerate(sizes)}


def disk_usage(store: ImageStore, containers: Mapping[str, int] | None = None) -> DiskUsage:
    """``containers``: image ID -> how many containers use it (the runtime knows)."""
    containers = containers or {}
    images = store.list()
    chains = {img.target: _chains(img.diff_ids, store.layer_sizes(img)) for img in images}
    users: dict[tuple[str, ...], int] = {}
    for layers in chains.values():
        for c in layers:
            users[c] = users.get(c, 0) + 1
    out = DiskUsage()
    for img in images:
        layers = chains[img.target]
        size = sum(layers.values())
        shared = sum(n for c, n in layers.items() if users[c] > 1)
        out.images.append(ImageUsage(img, size, shared, size - shared,
                                     containers.get(str(img.id), 0)))
    out.layers_size = sum({c: n for layers in chains.values() for c, n in layers.items()}
                          .values())
    needed = {blob for (blob,) in store.db.execute("SELECT blob FROM manifest_blobs")}
    for (blob,) in store.db.execute("SELECT DISTINCT blob FROM pins"):
        if not store.content.exists(blob):
            continue
        n = store.content.size(blob)
        out.cache_blobs += 1
        out.cache_size += n
        if blob in needed:
            out.cache_active += 1
        else:
            out.cache_reclaimable += n
    return out
