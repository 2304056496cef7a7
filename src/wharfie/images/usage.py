"""``docker system df`` for the image store: what images take, share and could give back.

There are no containers to keep an image "active"; an image is active here when
a name points at it, so RECLAIMABLE is what ``image prune`` (dangling images)
plus ``system check --repair`` (blobs no image needs) would free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wharfie.images.imagestore import ImageStore, StoredImage


@dataclass
class ImageUsage:
    image: StoredImage
    size: int  # every blob it needs, manifests included
    shared: int  # of which bytes another image needs too
    unique: int


@dataclass
class DiskUsage:
    images: list[ImageUsage] = field(default_factory=list)
    total: int = 0  # distinct bytes on disk (shared blobs once, unreferenced blobs included)
    reclaimable: int = 0
    unreferenced: int = 0  # bytes of blobs no image needs
    cache_blobs: int = 0  # blobs pinned by the build cache
    cache_active: int = 0  # of which an image needs too
    cache_size: int = 0
    cache_reclaimable: int = 0  # bytes pinned only by the cache (``builder prune`` frees them)

    @property
    def active(self) -> int:
        return sum(1 for u in self.images if not u.image.dangling)


def _closure(children: dict[str, list[tuple[str, int]]], root: str, size: int) -> dict[str, int]:
    """Every blob a manifest needs, itself included, through index children."""
    out, todo = {root: size}, [root]
    while todo:
        for blob, n in children.get(todo.pop(), ()):
            if blob not in out:
                out[blob] = n
                todo.append(blob)
    return out


def disk_usage(store: ImageStore) -> DiskUsage:
    images = store.list()
    children: dict[str, list[tuple[str, int]]] = {}
    for manifest, blob, size in store.db.execute("SELECT manifest, blob, size FROM manifest_blobs"):
        children.setdefault(manifest, []).append((blob, size))
    sizes = dict(store.db.execute("SELECT digest, size FROM manifests"))
    needs = {img.target: _closure(children, img.target, sizes.get(img.target, 0))
             for img in images}
    users: dict[str, int] = {}
    for blobs in needs.values():
        for b in blobs:
            users[b] = users.get(b, 0) + 1
    out = DiskUsage()
    kept: set[str] = set()
    for img in images:
        blobs = needs[img.target]
        unique = sum(n for b, n in blobs.items() if users[b] == 1)
        total = sum(blobs.values())
        out.images.append(ImageUsage(img, total, total - unique, unique))
        if not img.dangling:
            kept.update(blobs)
    all_blobs: dict[str, int] = {}
    for blobs in needs.values():
        all_blobs.update(blobs)
    out.unreferenced = sum(n for _, n in store.unreferenced_blobs())
    out.total = sum(all_blobs.values()) + out.unreferenced
    out.reclaimable = sum(n for b, n in all_blobs.items() if b not in kept) + out.unreferenced
    for (blob,) in store.db.execute("SELECT DISTINCT blob FROM pins"):
        if not store.content.exists(blob):
            continue
        n = store.content.size(blob)
        out.cache_blobs += 1
        out.cache_size += n
        if blob in all_blobs:
            out.cache_active += 1
        else:
            out.cache_reclaimable += n
            out.total += n
    return out
