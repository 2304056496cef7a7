"""Root filesystems assembled from layer chains, cached by chain ID and shared.

For the runtime and build code::

    snap = snapshots.for_root(root)             # overlayfs if it works here, else copy
    chain = snapshots.unpack_image(snap, image)  # extracts only the missing layers
    rootfs = snap.prepare("ctr-1", chain)        # writable; run things in it
    done = snap.commit("ctr-1", content_store)   # -> Commit(layer=LayerResult, chain_id)
    snap.remove("ctr-1")                         # or drop without committing
    ro = snap.view(chain); ...; snap.release(chain)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from wharfie.errors import InvalidInput
from wharfie.fs.atomic import atomic_write
from wharfie.fs.private import make_private_dirs
from wharfie.layers.compression import open_layer
from wharfie.oci.digest import Digest
from wharfie.oci.image import Image
from wharfie.snapshots.base import (
    Commit,
    SnapshotError,
    Snapshotter,
    Usage,
    chain_id,
    chain_ids,
)
from wharfie.snapshots.native import CopySnapshotter
from wharfie.snapshots.overlay import OverlaySnapshotter, overlay_works

__all__ = ["Commit", "CopySnapshotter", "OverlaySnapshotter", "SnapshotError", "Snapshotter",
           "Usage", "chain_id", "chain_ids", "for_root", "unpack_image"]

DRIVERS: dict[str, type[Snapshotter]] = {"overlay": OverlaySnapshotter, "copy": CopySnapshotter}


def choose_driver(root: Path) -> str:
    """``$WHARFIE_SNAPSHOTTER`` if set; else the driver this root was set up with; else
    overlay when a probe mount works here, copy otherwise. The probe runs once per root:
    its answer is kept in ``<root>/snapshots/driver``, so a root never silently changes
    driver (and loses its extracted layers) because a later probe failed."""
    wanted = os.environ.get("WHARFIE_SNAPSHOTTER")
    if wanted:
        if wanted not in DRIVERS:
            raise InvalidInput(f"unknown snapshotter {wanted!r} (use overlay or copy)")
        return wanted
    record = Path(root) / "snapshots" / "driver"
    try:
        chosen = record.read_text().strip()
    except FileNotFoundError:
        chosen = ""
    if chosen in DRIVERS:
        return chosen
    make_private_dirs(record.parent)
    chosen = "overlay" if overlay_works(record.parent / "overlay") else "copy"
    atomic_write(record, chosen.encode())
    return chosen


def for_root(root: Path | str, driver: str | None = None) -> Snapshotter:
    """The snapshotter for a wharfie root."""
    name = driver or choose_driver(Path(root))
    if name not in DRIVERS:
        raise InvalidInput(f"unknown snapshotter {name!r} (use overlay or copy)")
    return DRIVERS[name](root)


def unpack_image(snap: Snapshotter, image: Image,
                 progress: Callable[[int, int, Digest], None] | None = None) -> Digest | None:
    """Make sure every layer of ``image`` is extracted; returns the top chain ID (None if
    the image has no layers). ``progress(i, n, diff_id)`` is called before each extraction."""
    parent: Digest | None = None
    layers = image.layers()
    for i, layer in enumerate(layers):
        if layer.diff_id is None:
            raise InvalidInput(f"layer {layer.digest} of image {image.digest} has no diffID")
        chain = chain_id(parent, layer.diff_id)
        if not snap.has(chain):
            if progress:
                progress(i, len(layers), layer.diff_id)
            chain = snap.add_layer(parent, layer.diff_id, partial(open_layer, layer))
        parent = chain
    return parent
