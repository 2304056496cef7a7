"""Squash: merge an image's layers (all, or all above the first ``keep_base``) into one.

The merged layer is the difference between the root filesystem of the kept base
and the image's full root filesystem, so deleted files become whiteouts against
the base and nothing deleted survives. History keeps every entry, the squashed
ones marked ``empty_layer``, plus one entry for the merged layer, as
``docker build --squash`` records it.
"""

from __future__ import annotations

import time

from wharfie import snapshots
from wharfie.errors import InvalidInput
from wharfie.images.imagestore import ImageStore, StoredImage
from wharfie.layers.diff import diff_trees
from wharfie.layers.writer import write_layer_to_store
from wharfie.oci import mediatypes as mt
from wharfie.oci.image import Image
from wharfie.oci.manifest import Descriptor
from wharfie.oci.mutate import commit_image, with_layers
from wharfie.oci.timestamps import rfc3339


def _history(history: list[dict], keep_base: int, comment: str, created: str) -> list[dict]:
    """Entries for the first ``keep_base`` layers as they were, the rest empty, one merge."""
    out, seen = [], 0
    for h in history:
        h = dict(h)
        if not h.get("empty_layer"):
            seen += 1
            if seen > keep_base:
                h["empty_layer"] = True
        out.append(h)
    out.append({"created": created, "created_by": "", "comment": comment})
    return out


def squash(store: ImageStore, image: Image, *, keep_base: int = 0, epoch: int | None = None,
           compression: str = "gzip") -> StoredImage:
    """A new image in ``store``: ``image``'s first ``keep_base`` layers, then one merged layer.

    ``epoch`` (SOURCE_DATE_EPOCH) makes the result reproducible. With fewer than two
    layers to merge the image is returned as it is.
    """
    docker = image.manifest.media_type == mt.DOCKER_MANIFEST
    if docker and compression == "zstd":
        raise InvalidInput("a Docker schema 2 image cannot have zstd layers: use gzip")
    layers = image.layers()
    if keep_base < 0 or keep_base > len(layers):
        raise InvalidInput(f"cannot keep {keep_base} base layers of an image with {len(layers)}")
    if len(layers) - keep_base < 2:
        return store.get(str(image.digest))
    snap = snapshots.for_root(store.root)
    with store.content.lock(shared=True):
        top = snapshots.unpack_image(snap, image)
        assert top is not None
        base = snapshots.chain_ids([la.diff_id for la in layers[:keep_base]])  # type: ignore[misc]
        base_chain = base[-1] if base else None
        upper = snap.view(top)
        try:
            lower = snap.view(base_chain) if base_chain else None
            try:
                merged = write_layer_to_store(diff_trees(lower, upper), store.content,
                                              compression=compression, epoch=epoch)
            finally:
                if base_chain:
                    snap.release(base_chain)
        finally:
            snap.release(top)

        old = image.config
        from_id = str(base_chain) if base_chain else "scratch"
        created = rfc3339(int(time.time()) if epoch is None else epoch)  # whole seconds
        doc = with_layers(old.doc, [*old.diff_ids[:keep_base], merged.diff_id],
                          _history(old.history, keep_base,
                                   f"merge {from_id} to {merged.diff_id}", created))
        layer_desc = Descriptor(mt.layer_type(compression, docker=docker), merged.digest,
                                merged.size)
        digest, _ = commit_image(store, doc, [*image.manifest.layers[:keep_base], layer_desc],
                                 config_media_type=image.manifest.config.media_type,
                                 media_type=image.manifest.media_type)
    return store.get(str(digest))
